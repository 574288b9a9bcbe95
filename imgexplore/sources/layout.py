"""OCI image layout: a folder (or a tar of one) with ``oci-layout``, ``index.json`` and
``blobs/<algorithm>/<hex>``, read (:class:`OCILayoutSource`; Docker 25+ ``docker save``
archives are OCI layouts too) and written (:func:`write_blob`, :func:`link_blob`,
:func:`add_to_index`, as ``imgexplore pull`` does)."""

from __future__ import annotations

import json
import os
import shutil
from typing import BinaryIO

from .. import mediatypes as mt
from ..cache import atomic_writer
from ..digest import validate_digest
from ..errors import BlobNotFoundError, ManifestError, SourceError
from ..jsonutil import MAX_MANIFEST_BYTES, loads_strict
from ..manifest import IndexManifest, Manifest, parse_manifest, referrer_descriptors
from .base import Referrers, Source
from .files import FolderFiles, TarFiles, open_files

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def blob_path(digest: str) -> str:
    """Where a layout keeps a blob: ``blobs/<algorithm>/<hex>`` (relative to the layout).

    >>> blob_path("sha256:" + "ab" * 32)[:20]
    'blobs/sha256/abababa'
    """
    algorithm, _, encoded = validate_digest(digest).partition(":")
    return f"blobs/{algorithm}/{encoded}"


def write_blob(layout: str, digest: str, data: bytes) -> None:
    """Put ``data`` (already verified against ``digest``) into the layout, atomically."""
    path = os.path.join(layout, blob_path(digest))
    if not os.path.exists(path):
        with atomic_writer(path) as f:
            f.write(data)


def link_blob(layout: str, digest: str, cached: str | os.PathLike) -> None:
    """Put the verified file ``cached`` into the layout: a hard link where the filesystem
    allows (no copy at all), else a copy; renamed into place only when complete."""
    target = os.path.join(layout, blob_path(digest))
    if os.path.exists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temp = f"{target}.{os.getpid()}.tmp"
    try:
        os.link(cached, temp)
    except OSError:
        shutil.copyfile(cached, temp)
    os.replace(temp, target)


def add_to_index(layout: str, descriptor: dict) -> None:
    """Name a manifest in the layout's ``index.json`` (replacing the entry of the same ref
    name), writing ``oci-layout`` too: the layout is then complete for that image."""
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path, encoding="utf-8") as f:
            index = json.load(f)
    name = descriptor["annotations"][REF_NAME]
    index["manifests"] = [
        m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != name
    ] + [descriptor]
    with atomic_writer(os.path.join(layout, "oci-layout")) as f:
        f.write(b'{"imageLayoutVersion": "1.0.0"}\n')
    with atomic_writer(index_path) as f:
        f.write(json.dumps(index, indent=2).encode() + b"\n")


def is_oci_layout(files: FolderFiles | TarFiles) -> bool:
    """True if the folder or tar has the ``oci-layout`` marker and an ``index.json``."""
    return files.exists("oci-layout") and files.exists("index.json")


class OCILayoutSource(Source):
    """An OCI image layout folder or tar. ``tag`` picks entries of ``index.json`` by their
    ``org.opencontainers.image.ref.name`` (or containerd image name) annotation."""

    kind = "oci-layout"

    def __init__(self, path: str, tag: str | None = None, files: FolderFiles | TarFiles | None = None):
        super().__init__(path)
        self.tag = tag
        self._files = files or open_files(path)
        if not is_oci_layout(self._files):
            missing = "oci-layout" if not self._files.exists("oci-layout") else "index.json"
            raise SourceError(f"{path}: not an OCI image layout (no {missing} file)")
        marker = loads_strict(self._files.read("oci-layout", 4096), f"{path}/oci-layout")
        version = marker.get("imageLayoutVersion") if isinstance(marker, dict) else None
        if not isinstance(version, str) or not version.startswith("1."):
            raise SourceError(f"{path}/oci-layout: unsupported imageLayoutVersion {version!r}")

    def root_manifest(self) -> Manifest:
        raw = self._files.read("index.json", MAX_MANIFEST_BYTES)
        index = parse_manifest(raw, what=f"{self.location}/index.json")
        if not isinstance(index, IndexManifest):
            raise ManifestError(f"{self.location}/index.json is not an image index")
        if self.tag is None:
            return index
        chosen = tuple(d for d in index.manifests if _names(d.annotations) & {self.tag})
        if not chosen:
            known = sorted({n for d in index.manifests for n in _names(d.annotations)})
            raise SourceError(
                f"{self.location}: no image tagged {self.tag!r}; tags here: {', '.join(known) or 'none'}"
            )
        return IndexManifest(
            index.media_type, chosen, index.raw, index.digest, index.annotations, index.artifact_type
        )

    def open_blob(self, digest: str) -> BinaryIO:
        path = blob_path(digest)
        if not self._files.exists(path):
            raise BlobNotFoundError(
                f"{self.location}: blob {digest} is missing (expected at {path}); the layout is incomplete"
            )
        return self._files.open(path)

    def has_blob(self, digest: str) -> bool:
        return self._files.exists(blob_path(digest))

    def referrers(self, digest: str, artifact_type: str | None = None) -> Referrers:
        """Manifests listed in ``index.json`` whose ``subject`` is ``digest`` (how OCI 1.1
        tools store a referrer in a layout), and those of a tag-schema index (ref name
        ``sha256-<hex>``)."""
        document = loads_strict(
            self._files.read("index.json", MAX_MANIFEST_BYTES), f"{self.location}/index.json"
        )
        listed = document.get("manifests", []) if isinstance(document, dict) else []
        tag = digest.replace(":", "-", 1)
        found = []
        for entry in listed:
            if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
                continue
            if tag in _names(entry.get("annotations") or {}):
                schema = loads_strict(
                    self.read_blob(entry["digest"], max_bytes=MAX_MANIFEST_BYTES, what="referrers index"),
                    f"referrers index {entry['digest']}",
                )
                found += referrer_descriptors(schema)
            elif entry.get("artifactType") and artifact_type in (None, entry["artifactType"]):
                manifest = loads_strict(
                    self.read_blob(entry["digest"], max_bytes=MAX_MANIFEST_BYTES, what="manifest"),
                    f"manifest {entry['digest']}",
                )
                subject = manifest.get("subject") if isinstance(manifest, dict) else None
                if isinstance(subject, dict) and subject.get("digest") == digest:
                    found.append(entry)
        unique = {d.get("digest"): d for d in referrer_descriptors({"manifests": found}, artifact_type)}
        return Referrers(list(unique.values()), "the layout's index.json", 0)

    def tags(self) -> list[str]:
        """The ref names annotated in ``index.json``."""
        raw = self._files.read("index.json", MAX_MANIFEST_BYTES)
        index = parse_manifest(raw, what=f"{self.location}/index.json")
        assert isinstance(index, IndexManifest)
        return sorted({n for d in index.manifests for n in _names(d.annotations)})

    def close(self) -> None:
        self._files.close()


def _names(annotations: dict[str, str]) -> set[str]:
    names = set()
    if REF_NAME in annotations:
        names.add(annotations[REF_NAME])
    full = annotations.get(CONTAINERD_NAME)
    if full:
        names.add(full)
        tail = full.rsplit("/", 1)[-1]
        if ":" in tail:
            names.add(tail.split(":", 1)[1])
    return names
