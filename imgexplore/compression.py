"""Layer compression: detect it from the bytes' magic number and open a decompressing stream.

gzip goes through ISA-L (``isal``) when installed, several times faster than zlib; zstd
through ``zstandard``. The media type is only a hint: registries and tools mislabel."""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from .errors import ArchiveError
from .streams import GuardedReader, LimitedReader, RawWrapper, buffered

try:  # ISA-L's gzip is a drop-in replacement for the standard library's.
    from isal import igzip as _gzip
except ImportError:  # pragma: no cover - isal is a declared dependency
    _gzip = gzip

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


def detect_compression(head: bytes) -> str:
    """``gzip``, ``zstd``, ``bzip2``, ``xz`` or ``none`` from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    return "none"


class ZstdReader(RawWrapper):
    """zstd frames, one after another, from a raw stream. Unlike ``zstandard``'s own
    stream reader it notices a stream cut in the middle of a frame and says so."""

    def __init__(self, raw: BinaryIO, what: str, read_size: int = 1 << 20):
        import zstandard

        super().__init__(raw)
        self._what, self._read_size = what, read_size
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._obj = self._new()
        self._pending = b""
        self._in_frame = False

    def readinto(self, buffer) -> int:
        while not self._pending:
            compressed = self._raw.read(self._read_size)
            if not compressed:
                if self._in_frame:
                    raise ArchiveError(f"{self._what}: zstd stream is truncated (it ends inside a frame)")
                return 0
            while compressed:
                self._in_frame = True
                self._pending += self._obj.decompress(compressed)
                if self._obj.eof:  # a frame ended; anything after it starts the next one
                    compressed = self._obj.unused_data
                    self._obj = self._new()
                    self._in_frame = False
                else:
                    compressed = b""
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def open_decompressed(
    raw: BinaryIO,
    *,
    what: str = "layer",
    max_uncompressed_bytes: int | None = None,
    buffer_size: int = 1 << 20,
) -> tuple[BinaryIO, str]:
    """Wrap a compressed blob stream in a decompressing one; return ``(stream, compression)``.

    ``raw`` must support ``peek`` or be seekable; otherwise it is wrapped in a buffer."""
    if not hasattr(raw, "peek"):
        raw = buffered(raw, buffer_size)
    head = raw.peek(8)[:8]
    kind = detect_compression(head)
    if kind == "gzip":
        stream: BinaryIO = _gzip.GzipFile(fileobj=raw, mode="rb")
    elif kind == "zstd":
        stream = ZstdReader(raw, what, buffer_size)
    elif kind == "none":
        stream = raw
    else:
        raise ArchiveError(f"{what} is {kind}-compressed, which OCI and Docker layers do not use")
    stream = GuardedReader(stream, what, f"{kind} stream")
    if max_uncompressed_bytes is not None:
        stream = LimitedReader(
            stream, max_uncompressed_bytes, f"{what} (decompressed)", "max_uncompressed_bytes"
        )
    return io.BufferedReader(stream, buffer_size), kind


def open_checked_tar(
    blob: BinaryIO, *, what: str = "layer", max_uncompressed_bytes: int | None = None
) -> tuple[BinaryIO, str | None]:
    """:func:`open_decompressed` for a layer blob, and the sha256 digest its bytes are
    checked against as they are read (a :class:`~imgexplore.digest.VerifyingReader`'s) when
    the blob is the uncompressed tar itself, else None: once the stream has been read to its
    end without an error, that digest is the tar's (its diff_id), so a reader need not hash
    the bytes a second time."""
    stream, compression = open_decompressed(blob, what=what, max_uncompressed_bytes=max_uncompressed_bytes)
    checked = getattr(blob, "digest", None)
    tar_digest = checked if compression == "none" and str(checked).startswith("sha256:") else None
    return stream, tar_digest
