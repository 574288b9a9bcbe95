"""``docker-root:[DIR]NAME`` — an image read straight from Docker's data root (overlay2),
no daemon asked: ``repositories.json`` for the name, ``imagedb`` for the config, the
``layerdb`` chain-id directories for the layers, each layer's exact tar rebuilt from its
``tar-split.json.gz`` and its ``overlay2/<cache-id>/diff`` directory.

Docker keeps no manifest of a pulled image, only its config and unpacked layers; the source
describes the image with a schema 2 manifest of uncompressed layers, whose digests are the
diff_ids — what ``docker save`` would write. Every rebuilt tar is checked against its diff_id
as it is read, and every file in it against the CRC-64 recorded when it was unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import BinaryIO

from .. import mediatypes as mt
from ..digest import chain_ids
from ..errors import BlobNotFoundError, InvalidReferenceError, SourceError
from ..host import tarsplit
from ..manifest import Manifest, parse_manifest
from ..reference import familiar_name, parse_reference
from .base import Source

DEFAULT_ROOT = "/var/lib/docker"
DRIVER = "overlay2"


def parse_spec(text: str) -> tuple[str, str]:
    """``[DIR]NAME`` → (data root, image name or id).

    >>> parse_spec("[/tmp/root]alpine:3.19"), parse_spec("alpine")
    (('/tmp/root', 'alpine:3.19'), ('/var/lib/docker', 'alpine'))
    """
    if text.startswith("["):
        root, sep, name = text[1:].partition("]")
        if not sep:
            raise SourceError(
                f"docker-root:{text}: a [DIR] needs its closing bracket, as in docker-root:[/var/lib/docker]alpine"
            )
        return root or DEFAULT_ROOT, name
    return DEFAULT_ROOT, text


def _tar_size(path: str) -> int:
    """The size of the tar a layer's tar-split describes. Docker records it nowhere else, and
    reading every record of a big layer takes a noticeable time (tens of milliseconds at
    20,000 files), so it is kept in the cache under the file's identity (inode, size,
    modification time)."""
    from ..cache import atomic_writer, cache_root

    info = os.stat(path)
    key = f"{info.st_dev}-{info.st_ino}-{info.st_size}-{info.st_mtime_ns}"
    cached = cache_root() / "docker-root" / (hashlib.sha256(path.encode()).hexdigest() + ".size")
    try:
        recorded_key, _, recorded = cached.read_text().partition(" ")
        if recorded_key == key and recorded.endswith("\n"):  # no newline: cut short by a crash
            return int(recorded)
    except (OSError, ValueError):
        pass
    size = tarsplit.file_tar_size(path)
    try:
        # not fsynced: a crash can only leave a file without its last newline, read as missing
        with atomic_writer(cached, durable=False) as out:
            out.write(f"{key} {size}\n".encode())
    except OSError:  # a read-only cache costs time, not correctness
        pass
    return size


class DockerRootSource(Source):
    """An image in a Docker data root read directly (see the module's description)."""

    kind = "docker-root"

    def __init__(self, spec: str):
        root, name = parse_spec(spec)
        super().__init__(f"docker-root:[{root}]{name}")
        if not name:
            raise SourceError(f"{self.location}: name the image, as in docker-root:[{root}]alpine:latest")
        self.root = root
        self.image_dir = os.path.join(root, "image", DRIVER)
        self.image_id, self.name = self._find(name)
        self._config = self._read_config()
        self._layers = self._read_layers()  # diff_id -> (chain dir, diff dir)
        self._manifest_raw = self._rebuild_manifest()

    # -- reading the store -------------------------------------------------------------------
    def _read(self, path: str, what: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            hint = (
                ""
                if os.path.isdir(self.image_dir)
                # Docker 29's default: images in containerd (namespace "moby"), no imagedb here
                else " (a Docker daemon with the containerd image store keeps its images in "
                "containerd: open docker-daemon:NAME, or containerd:moby/NAME)"
            )
            raise SourceError(
                f"{self.location}: {path} is missing ({what}); is this a Docker {DRIVER} data root?{hint}"
            ) from None
        except PermissionError:
            raise SourceError(
                f"{self.location}: permission denied reading {path}: Docker's data root is root's; "
                "run as root, or use docker-daemon: to ask the daemon"
            ) from None

    def _find(self, name: str) -> tuple[str, str]:
        """The image id NAME stands for: a name from repositories.json, or an image id."""
        raw = self._read(os.path.join(self.image_dir, "repositories.json"), "the image names")
        try:
            repositories = json.loads(raw)["Repositories"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{self.location}: repositories.json is not Docker's") from None
        known = {key: image_id for names in repositories.values() for key, image_id in names.items()}
        if name.startswith("sha256:") or all(c in "0123456789abcdef" for c in name) and len(name) >= 12:
            wanted = name if name.startswith("sha256:") else "sha256:" + name
            ids = sorted({i for i in known.values() if i.startswith(wanted)})
            content = os.path.join(self.image_dir, "imagedb", "content", "sha256")
            if not ids and os.path.isdir(content):
                ids = sorted("sha256:" + f for f in os.listdir(content) if ("sha256:" + f).startswith(wanted))
            if len(ids) == 1:
                return ids[0], ""
        candidates = [name]
        try:
            reference = parse_reference(name)
            familiar = familiar_name(reference)
            suffix = f"@{reference.digest}" if reference.digest else f":{reference.tag or 'latest'}"
            candidates.append(familiar + suffix)
        except InvalidReferenceError:  # not a reference: only the literal name is tried
            pass
        for candidate in candidates:
            if candidate in known:
                return known[candidate], candidate
        listed = ", ".join(sorted(known)[:8]) or "none"
        raise SourceError(f"{self.location}: no image {name!r} in {self.root} (names there: {listed})")

    def _read_config(self) -> bytes:
        hex_id = self.image_id.partition(":")[2]
        config = self._read(
            os.path.join(self.image_dir, "imagedb", "content", "sha256", hex_id), "the image config"
        )
        if "sha256:" + hashlib.sha256(config).hexdigest() != self.image_id:
            raise SourceError(
                f"{self.location}: the config of {self.image_id} does not hash to its id: the store is damaged"
            )
        return config

    def _read_layers(self) -> dict[str, tuple[str, str]]:
        try:
            diff_ids = json.loads(self._config)["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{self.location}: its config has no rootfs.diff_ids") from None
        layers = {}
        for diff_id, chain in zip(diff_ids, chain_ids(diff_ids), strict=True):
            chain_dir = os.path.join(self.image_dir, "layerdb", "sha256", chain.partition(":")[2])
            recorded = self._read(os.path.join(chain_dir, "diff"), f"layer {chain}").decode()
            if recorded != diff_id:
                raise SourceError(f"{self.location}: {chain_dir}/diff says {recorded}, the config {diff_id}")
            cache_id = self._read(os.path.join(chain_dir, "cache-id"), f"layer {chain}").decode()
            layers[diff_id] = (chain_dir, os.path.join(self.root, DRIVER, cache_id, "diff"))
        return layers

    def _rebuild_manifest(self) -> bytes:
        layers = []
        for diff_id, (chain_dir, _) in self._layers.items():
            self._records(chain_dir)  # there, or a clear error
            size = _tar_size(os.path.join(chain_dir, "tar-split.json.gz"))
            layers.append({"mediaType": mt.DOCKER_LAYER_TAR, "size": size, "digest": diff_id})
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_SCHEMA2,
            "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(self._config), "digest": self.image_id},
            "layers": layers,
        }
        return json.dumps(manifest, indent=3).encode()

    def _records(self, chain_dir: str):
        path = os.path.join(chain_dir, "tar-split.json.gz")
        if not os.path.exists(path):
            raise SourceError(f"{self.location}: {path} is missing: Docker cannot rebuild this layer either")
        return tarsplit.read(path)

    # -- the Source interface ------------------------------------------------------------------
    def root_manifest(self) -> Manifest:
        return parse_manifest(self._manifest_raw, what=f"{self.location} (rebuilt manifest)")

    def open_blob(self, digest: str) -> BinaryIO:
        if digest == self.image_id:
            return io.BytesIO(self._config)
        if digest not in self._layers:
            raise BlobNotFoundError(f"{self.location}: no blob {digest} in this image")
        chain_dir, diff_dir = self._layers[digest]
        return tarsplit.AssembledStream(self._records(chain_dir), diff_dir)

    def has_blob(self, digest: str) -> bool:
        return digest == self.image_id or digest in self._layers
