"""``docker-daemon:NAME[:TAG|@DIGEST]`` — an image in a running Docker daemon, found through
the Engine API of the daemon the docker CLI would ask: ``DOCKER_HOST`` (``unix://``,
``tcp://`` with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``, or ``ssh://``), else the
docker context in use, else ``unix:///var/run/docker.sock`` (see :mod:`.docker_endpoint`).

Where the daemon's data root (overlay2) is readable here, the image is read straight from it
(:mod:`.docker_root`): nothing is exported and metadata views read no layer. Otherwise the
daemon exports it once (``GET /images/{name}/get``, what ``docker save`` does, asked in
HTTP/1.0 so that the bytes come undivided: :mod:`.engine_stream`), streamed to the cache
under the image id — never held in memory, kept only once the archive's end has arrived;
its big layers are listed into the file-table cache as they stream past — and read as the
archive it is (a Docker 25+ daemon with the containerd image store exports an OCI layout,
which is read as one).
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import httpx

from ..cache import atomic_writer, cache_root
from ..errors import ArchiveError, SourceError
from .base import Source
from .engine_api import EngineAPI


def _root_holds(root: str, image_id: str) -> bool:
    """Whether the data root the daemon names is readable here and holds the image: a daemon
    reached over tcp:// or ssh:// (or in a VM) names a folder of another machine, which may
    exist here too, as another engine's."""
    config = os.path.join(
        root, "image", "overlay2", "imagedb", "content", "sha256", image_id.partition(":")[2]
    )
    return os.access(os.path.join(root, "image", "overlay2"), os.R_OK | os.X_OK) and os.access(
        config, os.R_OK
    )


def daemon_image(name: str, host: str | None = None, *, read_root: bool = True) -> Source | pathlib.Path:
    """Where ``docker-daemon:NAME`` is read from: a :class:`Source` on the daemon's data root
    when it is readable here (and ``read_root``), else the path of the daemon's export, made
    once into the cache under the image id (the opener reads it as the archive it is)."""
    what = f"docker-daemon:{name}"
    if not name:
        raise SourceError("docker-daemon: name an image, as in docker-daemon:alpine:3.19")
    with EngineAPI(host) as api:
        quoted = urllib.parse.quote(name, safe="")
        image = api.get(f"/images/{quoted}/json", what)
        info = api.get("/info", what)
        image_id = image["Id"]
        driver = (image.get("GraphDriver") or {}).get("Name")
        root = info.get("DockerRootDir")
        if read_root and driver == "overlay2" and root and _root_holds(root, image_id):
            from .docker_root import DockerRootSource

            source = DockerRootSource(f"[{root}]{image_id}")
            source.notes.append(f"read from the daemon's data root {root} (nothing exported)")
            source.location = f"{what} ({root})"
            return source
        path = cache_root() / "docker-daemon" / f"{image_id.partition(':')[2]}.tar"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                _export(api, quoted, what, path)
            except (httpx.HTTPError, ArchiveError) as exc:  # the copy is gone: atomic_writer removed it
                reason = "the archive stops early" if isinstance(exc, ArchiveError) else type(exc).__name__
                raise SourceError(
                    f"{what}: {api.where} stopped answering during the export ({reason}); "
                    "nothing was kept: try again"
                ) from None
    return path


def _export(api: EngineAPI, quoted: str, what: str, path: pathlib.Path) -> None:
    """The daemon's export of an image (``docker save``) into ``path``, its big layers listed
    as they stream past (not read back from the copy)."""
    from ..directio import uncached
    from ..filetree.passing import copy_and_list

    # not fsynced: a re-creatable copy whose every layer is verified when read
    with atomic_writer(path, durable=False) as out, api.export(f"/images/{quoted}/get", what) as answer:
        if answer.status_code != 200:
            raise SourceError(
                f"{what}: the daemon would not export it ({answer.status_code}: {answer.text()})"
            )
        # the copy goes around the page cache (it is kept, not read back now); the answer
        # ends when the connection closes, so the archive's own end is checked
        with uncached(out) as copy:
            copy_and_list(answer.iter_bytes(), copy, whole=True)
