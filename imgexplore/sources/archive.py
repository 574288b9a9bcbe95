"""``docker save`` tarballs in the legacy form: ``manifest.json`` naming a config file and
one ``layer.tar`` (or ``.tar.gz``) per layer. (Docker 25+ archives also hold an OCI layout
and are read by :class:`~imgexplore.sources.layout.OCILayoutSource`.)

Such an archive holds no registry manifest, so one is rebuilt here from ``manifest.json``:
a Docker schema 2 manifest whose layer digests are those of the files in the archive."""

from __future__ import annotations

import json
from typing import BinaryIO

from .. import mediatypes as mt
from ..compression import detect_compression
from ..digest import sha256_digest, sha256_of_stream, validate_digest
from ..errors import BlobNotFoundError, InvalidDigestError, ManifestError, SourceError
from ..jsonutil import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, expect, loads_strict
from ..manifest import Manifest, parse_descriptor, parse_manifest
from .base import Source
from .files import TarFiles

_LAYER_TYPE_BY_COMPRESSION = {
    "none": mt.DOCKER_LAYER_TAR,
    "gzip": mt.DOCKER_LAYER_GZIP,
    "zstd": mt.OCI_LAYER_ZSTD,
}


# docker load reads manifest.json with Go's encoding/json, which matches keys whatever
# their case: Jib writes "config", "repoTags", "layers".
_ENTRY_KEYS = {k.lower(): k for k in ("Config", "RepoTags", "Layers", "LayerSources", "Parent")}


def _canonical_keys(entry: dict) -> dict:
    return {_ENTRY_KEYS.get(str(key).lower(), key): value for key, value in entry.items()}


class DockerArchiveSource(Source):
    """A legacy ``docker save`` tarball. ``tag`` picks an image by one of its ``RepoTags``."""

    kind = "docker-archive"

    def __init__(self, path: str, tag: str | None = None, files: TarFiles | None = None):
        super().__init__(path)
        self._files = files or TarFiles(path)
        if not self._files.exists("manifest.json"):
            raise SourceError(
                f"{path}: not a docker save archive (no manifest.json; archives from Docker "
                "before 1.10 are not supported)"
            )
        entries = loads_strict(self._files.read("manifest.json", MAX_MANIFEST_BYTES), f"{path}/manifest.json")
        expect(entries, list, f"{path}/manifest.json")
        entries = [_canonical_keys(e) if isinstance(e, dict) else e for e in entries]
        if not entries:
            raise ManifestError(f"{path}/manifest.json lists no images")
        self.entry = self._choose(entries, tag)
        self._blobs: dict[str, str] = {}
        self._manifest_raw = self._rebuild_manifest()
        self.notes.append(
            "docker save (legacy format) keeps no registry manifest: the manifest shown was "
            "rebuilt from manifest.json, with layer digests of the files in the archive"
        )

    def _choose(self, entries: list, tag: str | None) -> dict:
        where = f"{self.location}/manifest.json"
        for i, entry in enumerate(entries):
            expect(entry, dict, f"{where}[{i}]")
        if tag is None:
            if len(entries) > 1:
                tags = [t for e in entries for t in (e.get("RepoTags") or [])]
                raise SourceError(
                    f"{self.location} holds {len(entries)} images; name one with "
                    f"docker-archive:PATH:TAG (tags: {', '.join(tags) or 'none'})"
                )
            return entries[0]
        for entry in entries:
            for repo_tag in entry.get("RepoTags") or []:
                if tag in (repo_tag, repo_tag.rsplit(":", 1)[-1]):
                    return entry
        tags = [t for e in entries for t in (e.get("RepoTags") or [])]
        raise SourceError(f"{self.location}: no image tagged {tag!r}; tags: {', '.join(tags) or 'none'}")

    def _rebuild_manifest(self) -> bytes:
        where = f"{self.location}/manifest.json"
        config_name = expect(self.entry.get("Config"), str, f"{where}: Config")
        layer_names = expect(self.entry.get("Layers"), list, f"{where}: Layers")
        config_raw = self._files.read(config_name, MAX_CONFIG_BYTES)
        config_digest = sha256_digest(config_raw)
        self._blobs[config_digest] = config_name
        config = loads_strict(config_raw, f"{self.location}/{config_name}", MAX_CONFIG_BYTES)
        expect(config, dict, f"{self.location}/{config_name}")
        rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs.get("diff_ids"), list) else []
        sources = self.entry.get("LayerSources") or {}
        expect(sources, dict, f"{where}: LayerSources")

        layers = []
        for i, name in enumerate(layer_names):
            expect(name, str, f"{where}: Layers[{i}]")
            diff_id = diff_ids[i] if i < len(diff_ids) else None
            if diff_id in sources:
                # A foreign layer: its registry descriptor was kept; the file holds its bytes.
                descriptor = parse_descriptor(sources[diff_id], f"{where}: LayerSources[{diff_id}]")
                layers.append(json.loads(json.dumps(sources[diff_id])))
                self._blobs[descriptor.digest] = name
                continue
            size = self._files.size(name)
            if size is None:
                raise BlobNotFoundError(f"{self.location}: layer file {name!r} is missing")
            with self._files.open(name) as stream:
                compression = detect_compression(stream.read(8))
            media_type = _LAYER_TYPE_BY_COMPRESSION.get(compression, mt.DOCKER_LAYER_TAR)
            digest = None
            if compression == "none" and isinstance(diff_id, str):
                try:  # uncompressed: the digest is the diff_id (checked when read)
                    digest = validate_digest(diff_id)
                except InvalidDigestError:
                    digest = None
            if digest is None:
                with self._files.open(name) as stream:
                    digest, size = sha256_of_stream(stream)
            self._blobs[digest] = name
            layers.append({"mediaType": media_type, "size": size, "digest": digest})
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_SCHEMA2,
            "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(config_raw), "digest": config_digest},
            "layers": layers,
        }
        return json.dumps(manifest, indent=3).encode()

    @property
    def repo_tags(self) -> list[str]:
        """The ``RepoTags`` of the chosen image."""
        return list(self.entry.get("RepoTags") or [])

    def root_manifest(self) -> Manifest:
        return parse_manifest(self._manifest_raw, what=f"{self.location} (rebuilt manifest)")

    def open_blob(self, digest: str) -> BinaryIO:
        name = self._blobs.get(digest)
        if name is None or not self._files.exists(name):
            raise BlobNotFoundError(f"{self.location}: blob {digest} is not in the archive")
        return self._files.open(name)

    def has_blob(self, digest: str) -> bool:
        name = self._blobs.get(digest)
        return name is not None and self._files.exists(name)

    def close(self) -> None:
        self._files.close()
