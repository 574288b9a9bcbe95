"""A manifest saved to a file (from a registry with curl, an article, a bug report).

Schema 1 manifests stand on their own; schema 2 / OCI manifests need their config file
beside them for history and diff_ids. Layer blobs are usually absent: the metadata views
(layers, history, DAG) work without them. A blob folder (``blobs/sha256/…`` or flat
``<hex>`` files) can be given for the rest."""

from __future__ import annotations

import os
from typing import BinaryIO

from ..digest import sha256_digest
from ..errors import BlobNotFoundError, SourceError
from ..jsonutil import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES
from ..manifest import Manifest, parse_manifest
from .base import Source
from .layout import blob_path


class ManifestFileSource(Source):
    """A manifest JSON file, optionally with its config file and a folder of blobs."""

    kind = "manifest-file"

    def __init__(self, path: str, config: str | None = None, blobs: str | None = None):
        super().__init__(path)
        self._raw = _read(path, MAX_MANIFEST_BYTES)
        self._config_raw = _read(config, MAX_CONFIG_BYTES) if config else None
        self._config_digest = sha256_digest(self._config_raw) if self._config_raw is not None else None
        self._blob_dir = blobs
        if blobs and not os.path.isdir(blobs):
            raise SourceError(f"{blobs}: blob folder does not exist")
        # A config copied from an article or re-indented by an editor no longer hashes to the
        # manifest's config digest. The user named it explicitly, so it is used, unverified,
        # and the image says so.
        self._unverified: dict[str, bytes] = {}
        manifest = self.root_manifest()
        wanted = getattr(getattr(manifest, "config", None), "digest", None)
        if self._config_raw is not None and wanted and wanted != self._config_digest:
            self._unverified[wanted] = self._config_raw
            self.notes.append(
                f"the config file {config} does not hash to the manifest's config digest {wanted} "
                f"(it hashes to {self._config_digest}): it was edited or re-formatted; its content is "
                "used as given, unverified"
            )

    def root_manifest(self) -> Manifest:
        return parse_manifest(self._raw, what=self.location)

    def read_blob(self, digest: str, size: int | None = None, *, max_bytes: int, what: str = "blob") -> bytes:
        if digest in self._unverified:
            return self._unverified[digest]
        return super().read_blob(digest, size, max_bytes=max_bytes, what=what)

    def _blob_path(self, digest: str) -> str | None:
        if not self._blob_dir:
            return None
        in_layout = blob_path(digest)  # a layout folder, or a flat folder of blobs
        for candidate in (
            os.path.join(self._blob_dir, in_layout),
            os.path.join(self._blob_dir, in_layout.removeprefix("blobs/")),
            os.path.join(self._blob_dir, in_layout.rsplit("/", 1)[1]),
        ):
            if os.path.isfile(candidate):
                return candidate
        return None

    def open_blob(self, digest: str) -> BinaryIO:
        import io

        if digest == self._config_digest:
            return io.BytesIO(self._config_raw)
        path = self._blob_path(digest)
        if path is None:
            raise BlobNotFoundError(
                f"{self.location}: blob {digest} is not available: a saved manifest carries no "
                "blobs (give a folder that holds them with blobs=, or --blobs)"
            )
        return open(path, "rb")

    def has_blob(self, digest: str) -> bool:
        return digest == self._config_digest or self._blob_path(digest) is not None


def _read(path: str, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder, not a manifest file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > limit:
        from ..errors import LimitExceededError

        raise LimitExceededError(f"{path} is over {limit} bytes")
    return data
