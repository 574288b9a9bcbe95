"""Content digests: validation, hashing, verification while streaming, and chain ids."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable
from typing import BinaryIO

from .errors import DigestMismatchError, InvalidDigestError

# Registered algorithms and the length of their hex encoding (OCI image-spec, descriptor.md).
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def validate_digest(digest: str) -> str:
    """Return ``digest`` unchanged if it is a well-formed sha256/sha512 digest, else raise."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise InvalidDigestError(f"not a digest (expected 'sha256:<64 hex>'): {digest!r:.100}")
    algorithm, _, encoded = digest.partition(":")
    length = _HEX_LENGTH.get(algorithm)
    if length is None:
        raise InvalidDigestError(f"unsupported digest algorithm {algorithm!r} in {digest!r:.100}")
    if len(encoded) != length or not re.fullmatch(r"[0-9a-f]+", encoded):
        raise InvalidDigestError(
            f"{algorithm} digest must be {length} lowercase hex characters: {digest!r:.100}"
        )
    return digest


def new_hasher(digest: str):
    """A fresh hashlib object for the algorithm of ``digest``."""
    return hashlib.new(validate_digest(digest).partition(":")[0])


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_of_stream(stream: BinaryIO, chunk_size: int = 1 << 20) -> tuple[str, int]:
    """Hash a stream to its end; return ``(digest, number_of_bytes)``."""
    hasher = hashlib.sha256()
    total = 0
    while chunk := stream.read(chunk_size):
        hasher.update(chunk)
        total += len(chunk)
    return "sha256:" + hasher.hexdigest(), total


def verify_bytes(data: bytes, digest: str, what: str = "blob") -> bytes:
    """Return ``data`` if it hashes to ``digest``; raise :class:`DigestMismatchError` if not."""
    hasher = new_hasher(digest)
    hasher.update(data)
    actual = f"{digest.partition(':')[0]}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatchError(
            f"{what} content does not match its digest: expected {digest}, got {actual} "
            f"({len(data)} bytes); the source is corrupt or was modified"
        )
    return data


def short(digest: str | None, length: int = 12) -> str:
    """``sha256:0123456789ab`` style shortening for display."""
    if not digest:
        return ""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:length]}" if encoded else digest[:length]


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """ChainIDs per the OCI image spec: ChainID(L1) = DiffID(L1) and
    ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).

    >>> base, top = chain_ids(["sha256:" + "a" * 64, "sha256:" + "b" * 64])
    >>> base == "sha256:" + "a" * 64
    True
    >>> top
    'sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c'
    """
    result: list[str] = []
    for diff_id in diff_ids:
        if not result:
            result.append(diff_id)
        else:
            result.append(sha256_digest(f"{result[-1]} {diff_id}".encode()))
    return result


class VerifyingReader(io.RawIOBase):
    """Wraps a binary stream and checks its digest (and size, when known) at end of stream.

    The check happens when the stream reports EOF, so a consumer that reads to the end
    can never see bytes of a corrupt blob without an error following them."""

    def __init__(
        self,
        raw: BinaryIO,
        digest: str,
        size: int | None = None,
        what: str = "blob",
        *,
        checked_here: bool = False,
    ):
        """``checked_here``: these very bytes were verified against ``digest`` by this
        process, as they were downloaded into the cache a moment ago; they are then counted
        (the size is still checked) but not hashed a second time."""
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._expected_size = size
        self._hasher = None if checked_here else new_hasher(digest)
        self._count = 0
        self._what = what
        self.verified = False

    @property
    def digest(self) -> str:
        """The digest the bytes are checked against."""
        return self._digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer)
        data = self._raw.read(len(view))
        if not data:
            self._finish()
            return 0
        n = len(data)
        view[:n] = data
        if self._hasher is not None:
            self._hasher.update(data)
        self._count += n
        if self._expected_size is not None and self._count > self._expected_size:
            raise DigestMismatchError(
                f"{self._what} {self._digest} is longer than the {self._expected_size} bytes "
                "its descriptor declares"
            )
        return n

    def _finish(self) -> None:
        if self.verified:
            return
        if self._expected_size is not None and self._count != self._expected_size:
            raise DigestMismatchError(
                f"{self._what} {self._digest} is truncated or padded: "
                f"{self._count} bytes read, {self._expected_size} declared"
            )
        if self._hasher is None:
            self.verified = True
            return
        actual = f"{self._digest.partition(':')[0]}:{self._hasher.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatchError(
                f"{self._what} content does not match its digest: expected {self._digest}, "
                f"got {actual}; the source is corrupt or was modified"
            )
        self.verified = True

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()
