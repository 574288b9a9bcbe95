"""``containerd:[NAMESPACE/]NAME`` — an image in containerd's content store, read directly
(``ROOT/io.containerd.content.v1.content/blobs/sha256/<hex>``, every blob checked against its
digest as it is read).

Names are found, in order: in containerd's metadata database
(``io.containerd.metadata.v1.bolt/meta.db``, read with :mod:`imgexplore.host.bolt`, no daemon
asked); in ``imgexplore-metadata.json`` (a store ``imgexplore host --engine containerd``
wrote); from ``ctr images ls`` asked over containerd's socket (``CONTAINERD_ADDRESS``, default
``/run/containerd/containerd.sock``); or NAME is the manifest or index digest itself. The
source's notes say which.

``ROOT`` is ``IMGEXPLORE_CONTAINERD_ROOT`` or ``--containerd-root``, default ``/var/lib/containerd``.
A leading ``NAMESPACE/`` is taken as a namespace only when containerd knows one by that name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import BinaryIO

from ..digest import validate_digest
from ..errors import BlobNotFoundError, InvalidDigestError, SourceError
from ..manifest import Manifest
from .base import Source

DEFAULT_ROOT = "/var/lib/containerd"
DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
CONTENT = "io.containerd.content.v1.content"
METADATA = "imgexplore-metadata.json"
BOLT = os.path.join("io.containerd.metadata.v1.bolt", "meta.db")


def _varint(data: bytes) -> int:
    """Go's ``binary.Varint``: a zigzag-encoded signed LEB128 number."""
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return (value >> 1) ^ -(value & 1)


def bolt_images(root: str) -> dict[str, dict[str, dict]] | None:
    """containerd's image names from its metadata database under ``root``:
    ``{namespace: {name: {"digest", "media_type", "size"}}}``, or None where there is no
    database. A damaged one raises :class:`SourceError` naming the file."""
    from ..host.bolt import Bolt

    path = os.path.join(root, BOLT)
    if not os.path.exists(path):
        return None
    version = Bolt(path).bucket(b"v1")
    found: dict[str, dict[str, dict]] = {}
    for namespace, bucket in version.buckets() if version is not None else ():
        images = found.setdefault(namespace.decode("utf-8", "backslashreplace"), {})
        listed = bucket.bucket(b"images")
        for name, image in listed.buckets() if listed is not None else ():
            target = image.bucket(b"target")
            digest = target.get(b"digest") if target is not None else None
            if digest is None:
                continue  # not an image containerd could use either
            media_type, size = target.get(b"mediatype"), target.get(b"size")
            images[name.decode("utf-8", "backslashreplace")] = {
                "digest": digest.decode("ascii", "replace"),
                "media_type": media_type.decode("ascii", "replace") if media_type else None,
                "size": _varint(size) if size else None,
            }
    return found


def ctr_output(address: str, *args: str) -> str | None:
    """What ``ctr --address ADDRESS ARGS…`` prints, or None without ctr, socket or success."""
    if shutil.which("ctr") is None or not os.path.exists(address):
        return None
    done = subprocess.run(["ctr", "--address", address, *args], capture_output=True, text=True, timeout=30)
    return done.stdout if done.returncode == 0 else None


class ContainerdSource(Source):
    """An image in containerd's content store (see the module's description)."""

    kind = "containerd"

    def __init__(self, spec: str, root: str | None = None, address: str | None = None):
        self.root = root or os.environ.get("IMGEXPLORE_CONTAINERD_ROOT") or DEFAULT_ROOT
        self.address = address or os.environ.get("CONTAINERD_ADDRESS") or DEFAULT_ADDRESS
        super().__init__(f"containerd:{spec}")
        self.blobs = os.path.join(self.root, CONTENT, "blobs")
        try:
            os.listdir(self.blobs)
        except PermissionError:
            raise SourceError(
                f"{self.location}: permission denied reading {self.blobs}: containerd's root is root's; run as root"
            ) from None
        except OSError:
            raise SourceError(
                f"{self.location}: {self.blobs} is not there: give containerd's root "
                "with --containerd-root or IMGEXPLORE_CONTAINERD_ROOT"
            ) from None
        self._recorded, self._recorded_in = self._recorded_names()
        self.namespace, name = self._split_namespace(spec)
        self.target, self.media_type, self.size = self._resolve(name)

    def _recorded_names(self) -> tuple[dict[str, dict[str, dict]], str]:
        """Names the store itself records, and where: containerd's database, else ours."""
        from_bolt = bolt_images(self.root)
        if from_bolt is not None:
            return from_bolt, f"containerd's metadata database ({BOLT})"
        namespaces = self._metadata().get("namespaces", {})
        return {ns: dict(entry.get("images", {})) for ns, entry in namespaces.items()}, METADATA

    def _namespaces(self) -> set[str]:
        if self._recorded:
            return set(self._recorded)
        listed = ctr_output(self.address, "namespaces", "ls", "-q")
        return set((listed or "").split())

    def _metadata(self) -> dict:
        path = os.path.join(self.root, METADATA)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def _split_namespace(self, spec: str) -> tuple[str, str]:
        first, sep, rest = spec.partition("/")
        if sep and first in self._namespaces():
            return first, rest
        return "default", spec

    def _resolve(self, name: str) -> tuple[str, str | None, int | None]:
        """(target digest, media type, size) of NAME."""
        images = self._recorded.get(self.namespace, {})
        if name in images:
            self.notes.append(f"name found in {self._recorded_in}")
            return images[name]["digest"], images[name].get("media_type"), images[name].get("size")
        listed = None
        if not self._recorded:  # a store that records no names: ask containerd, if it runs here
            listed = ctr_output(self.address, "--namespace", self.namespace, "images", "ls")
            for line in (listed or "").splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 3 and fields[0] == name:
                    self.notes.append(f"name found with ctr images ls on {self.address}")
                    return fields[2], fields[1], None
        try:
            digest = validate_digest(name)
        except InvalidDigestError:
            how = (
                self._recorded_in
                if self._recorded
                else "ctr images ls"
                if listed is not None
                else f"no metadata database and no containerd socket at {self.address}"
            )
            raise SourceError(
                f"{self.location}: no image {name!r} in namespace {self.namespace} ({how}); "
                "name it by its manifest digest, containerd:sha256:…"
            ) from None
        return digest, None, None

    # -- the Source interface ------------------------------------------------------------------
    def _path(self, digest: str) -> str:
        algorithm, _, encoded = validate_digest(digest).partition(":")
        return os.path.join(self.blobs, algorithm, encoded)

    def root_manifest(self) -> Manifest:
        return self.fetch_manifest(self.target, self.media_type, self.size)

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self._path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"{self.location}: blob {digest} is not in the content store (containerd fetches only "
                "what it needs: other platforms' manifests and layers stay in the registry)"
            ) from None
        except PermissionError:
            raise SourceError(
                f"{self.location}: permission denied reading {self.blobs}: run as root"
            ) from None

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self._path(digest))
