"""The interface every image source implements, and the verified reads built on it."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO

from .. import mediatypes as mt
from ..digest import VerifyingReader, validate_digest, verify_bytes
from ..errors import LimitExceededError
from ..jsonutil import MAX_MANIFEST_BYTES
from ..manifest import Manifest, parse_manifest
from ..streams import GuardedReader

_WELL_KNOWN_BLOBS = {
    mt.EMPTY_LAYER_SCHEMA1: mt.EMPTY_LAYER_SCHEMA1_BYTES,
    mt.EMPTY_LAYER_BUILDKIT: mt.EMPTY_LAYER_BUILDKIT_BYTES,
}


@dataclass
class Referrers:
    """What a referrers lookup found: the descriptors, how, and the requests it took."""

    descriptors: list[dict]
    via: str
    requests: int


class Source(ABC):
    """Raw, content-addressed bytes plus a root manifest (or index).

    Subclasses implement :meth:`root_manifest`, :meth:`open_blob` and :meth:`has_blob`;
    reads through :meth:`read_blob` and :meth:`open_verified` are always checked against
    their digest."""

    #: short name of the kind of source, e.g. ``oci-layout``
    kind: str = "source"

    def __init__(self, location: str):
        self.location = location
        self.notes: list[str] = []

    # -- what subclasses provide ---------------------------------------------------------
    @abstractmethod
    def root_manifest(self) -> Manifest:
        """The manifest or index the user named (for a layout folder: its ``index.json``)."""

    @abstractmethod
    def open_blob(self, digest: str) -> BinaryIO:
        """A raw, unverified stream of the blob; :class:`BlobNotFoundError` if absent."""

    @abstractmethod
    def has_blob(self, digest: str) -> bool:
        """Whether the blob is available without error."""

    # -- written once for all sources ----------------------------------------------------
    def read_blob(self, digest: str, size: int | None = None, *, max_bytes: int, what: str = "blob") -> bytes:
        """Read a whole (small) blob and verify it against ``digest`` and ``size``."""
        validate_digest(digest)
        if digest in _WELL_KNOWN_BLOBS and not self.has_blob(digest):
            return _WELL_KNOWN_BLOBS[digest]
        if size is not None and size > max_bytes:
            raise LimitExceededError(f"{what} {digest} declares {size} bytes, over the limit of {max_bytes}")
        with self.open_blob(digest) as raw:
            data = GuardedReader(raw, f"{what} {digest}").read(max_bytes + 1)
        if len(data) > max_bytes:
            raise LimitExceededError(f"{what} {digest} is over the limit of {max_bytes} bytes")
        verify_bytes(data, digest, f"{what} {digest}")
        if size is not None and len(data) != size:
            from ..errors import DigestMismatchError

            raise DigestMismatchError(f"{what} {digest} is {len(data)} bytes but its descriptor says {size}")
        return data

    def open_verified(self, digest: str, size: int | None = None, what: str = "blob") -> VerifyingReader:
        """A stream of the blob that raises :class:`DigestMismatchError` at its end if the
        bytes do not match ``digest`` (or ``size``)."""
        validate_digest(digest)
        if digest in _WELL_KNOWN_BLOBS and not self.has_blob(digest):
            # The 32-byte empty layers are constants: no source needs to hold them.
            raw = io.BytesIO(_WELL_KNOWN_BLOBS[digest])
        else:
            raw = GuardedReader(self.open_blob(digest), f"{what} {digest}")
        return VerifyingReader(raw, digest, size, what)

    def can_read(self, digest: str) -> bool:
        """Whether :meth:`open_verified` can serve the blob (held, or a well-known constant)."""
        return digest in _WELL_KNOWN_BLOBS or self.has_blob(digest)

    def release_blob(self, digest: str) -> bool:
        """Drop the copy of a blob this source downloaded into the local cache; True if one
        was removed. Blobs the source itself holds (a layout's, an archive's) and blobs that
        were in the cache before are never touched: only a registry source downloads."""
        return False

    def fetch_manifest(self, digest: str, media_type: str | None, size: int | None = None) -> Manifest:
        """A child manifest named by an index entry, verified and parsed."""
        raw = self.read_blob(digest, size, max_bytes=MAX_MANIFEST_BYTES, what="manifest")
        return parse_manifest(raw, media_type, what=f"manifest {digest}")

    def referrers(self, digest: str, artifact_type: str | None = None) -> Referrers | None:
        """The manifests that name ``digest`` as their ``subject`` (OCI 1.1 referrers), of
        ``artifact_type`` if given; None when this source cannot list them."""
        return None

    def close(self) -> None:
        """Release files held open."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"
