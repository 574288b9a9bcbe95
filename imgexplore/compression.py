"""Layer compression: detect it from the bytes' magic number and open a decompressing stream.

gzip goes through ISA-L (``isal``) when installed, several times faster than zlib; zstd
through ``zstandard``. The media type is only a hint: registries and tools mislabel."""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from .errors import ArchiveError
from .streams import GuardedReader, LimitedReader, buffered

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
        import zstandard

        stream = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=buffer_size, read_across_frames=True
        )
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
