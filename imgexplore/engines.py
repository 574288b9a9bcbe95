"""What container engines this machine has, and what imgexplore can read of them: the first
thing to run before naming a ``docker-daemon:``, ``docker-root:``, ``containerd:`` or
``containers-storage:`` source."""

from __future__ import annotations

import json
import os
import stat

from .errors import ImgExploreError
from .sources import containerd as containerd_source
from .sources import containers_storage
from .sources import docker_root as docker_root_module


def _missing(root: str, row: dict) -> dict | None:
    """The row for a root that is not there or cannot be reached (a folder above it is closed
    to this user: then it may well exist), else None."""
    try:
        if stat.S_ISDIR(os.stat(root).st_mode):
            return None
    except PermissionError:
        return {
            **row,
            "status": "not readable",
            "details": "a folder above it is closed to this user",
            "images": None,
        }
    except OSError:
        pass
    return {**row, "status": "absent", "details": "", "images": None}


def _docker_daemon(host: str | None) -> dict:
    from .sources.docker_endpoint import DEFAULT_HOST
    from .sources.engine_api import EngineAPI

    row = {
        "engine": "docker daemon",
        "where": host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST,
        "source": "docker-daemon:NAME",
    }
    try:
        with EngineAPI(host, timeout=5) as api:
            row["where"] = api.where  # DOCKER_HOST, else the docker context in use
            info = api.get("/info", "docker-daemon")
    except ImgExploreError as exc:
        return {**row, "status": "not reachable", "details": str(exc).split(": ", 1)[-1], "images": None}
    details = f"{info.get('ServerVersion')}, storage driver {info.get('Driver')}, data root {info.get('DockerRootDir')}"
    return {**row, "status": "running", "details": details, "images": info.get("Images")}


def _docker_root(root: str) -> dict:
    row = {"engine": "docker data root", "where": root, "source": f"docker-root:[{root}]NAME"}
    path = os.path.join(root, "image", "overlay2", "repositories.json")
    if (missing := _missing(root, row)) is not None:
        return missing
    try:
        with open(path) as f:
            repositories = json.load(f).get("Repositories", {})
    except FileNotFoundError:
        return {**row, "status": "no overlay2 store", "details": f"{path} is missing", "images": None}
    except PermissionError:
        return {**row, "status": "not readable", "details": "run as root", "images": None}
    ids = {image_id for names in repositories.values() for image_id in names.values()}
    return {**row, "status": "readable", "details": f"{len(repositories)} repositories", "images": len(ids)}


def _containerd(root: str, address: str) -> dict:
    row = {"engine": "containerd", "where": root, "source": "containerd:[NAMESPACE/]NAME"}
    blobs = os.path.join(root, containerd_source.CONTENT, "blobs", "sha256")
    if (missing := _missing(root, row)) is not None:
        return missing
    try:
        count = len(os.listdir(blobs))
    except FileNotFoundError:
        return {**row, "status": "no content store", "details": f"{blobs} is missing", "images": None}
    except PermissionError:
        return {**row, "status": "not readable", "details": "run as root", "images": None}
    try:
        recorded = containerd_source.bolt_images(root)
    except ImgExploreError as exc:  # a damaged database: the content store can still be read
        recorded, damaged = None, str(exc)
    else:
        damaged = ""
    if recorded is not None:
        names = sum(len(images) for images in recorded.values())
        how = f"names from its metadata database ({len(recorded)} namespaces)"
    else:
        listed = containerd_source.ctr_output(address, "images", "ls", "-q")
        names = len(listed.split()) if listed is not None else None
        how = (damaged + "; " if damaged else "") + (
            f"names from ctr on {address}" if listed is not None else "no names: name images by digest"
        )
    return {**row, "status": "readable", "details": f"{count} blobs; {how}", "images": names}


def _containers_storage(root: str) -> dict:
    row = {"engine": "containers-storage", "where": root, "source": f"containers-storage:[{root}]NAME"}
    path = os.path.join(root, "overlay-images", "images.json")
    if (missing := _missing(root, row)) is not None:
        return missing
    try:
        with open(path) as f:
            images = json.load(f)
    except FileNotFoundError:
        return {**row, "status": "no overlay store", "details": f"{path} is missing", "images": None}
    except PermissionError:
        return {**row, "status": "not readable", "details": "run as the store's owner", "images": None}
    return {**row, "status": "readable", "details": "podman, buildah, CRI-O", "images": len(images)}


def find_engines(
    *,
    docker_host: str | None = None,
    docker_root: str | None = None,
    containerd_root: str | None = None,
    containerd_address: str | None = None,
    storage_root: str | None = None,
) -> list[dict]:
    """One row per place imgexplore looked: engine, where, status, details, image count and
    the source syntax that reads it. Defaults are the engines' own (``DOCKER_HOST`` or the
    docker context in use, the data root the daemon names or ``/var/lib/docker``,
    ``/var/lib/containerd``, ``/var/lib/containers/storage`` and the user's rootless store)."""
    storage_roots = [storage_root] if storage_root else [containers_storage.DEFAULT_ROOT]
    if not storage_root:
        rootless = os.path.expanduser("~/.local/share/containers/storage")
        if rootless != containers_storage.DEFAULT_ROOT:
            storage_roots.append(rootless)
    daemon = _docker_daemon(docker_host)
    if docker_root is None and daemon["status"] == "running":  # the root the daemon says it uses
        docker_root = daemon["details"].rpartition("data root ")[2] or None
    rows = [
        daemon,
        _docker_root(docker_root or docker_root_module.DEFAULT_ROOT),
        _containerd(
            containerd_root or os.environ.get("IMGEXPLORE_CONTAINERD_ROOT") or containerd_source.DEFAULT_ROOT,
            containerd_address or os.environ.get("CONTAINERD_ADDRESS") or containerd_source.DEFAULT_ADDRESS,
        ),
        *(_containers_storage(root) for root in storage_roots),
    ]
    return rows
