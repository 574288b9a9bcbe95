"""SOCI's gzip checkpoints ("zinfo"): where a gzip layer can be entered in the middle.

A zTOC cuts its layer's compressed bytes into *spans* of about ``span_size`` uncompressed
bytes, each starting at a deflate block boundary. A *checkpoint* records, for the start of
each span, the compressed offset ``in_``, the uncompressed offset ``out``, ``bits`` (how many
bits of the byte before ``in_`` the block starts with: deflate blocks need not end on a byte
boundary) and ``window``, the 32 KiB of uncompressed data before it that the span's
back-references may reach. With them, one span can be fetched and decompressed alone —
zlib's ``zran`` technique.

The blob, little-endian: ``int32`` checkpoint count, ``int64`` span size, then per checkpoint
``int64 in``, ``int64 out``, ``uint8 bits`` and the 32,768-byte window. Its first form (zTOC
"v1") leaves out checkpoint 0, which is always at ``in`` 10 (after a 10-byte gzip header),
``out`` 0, with an empty window; it is recognised by its length, as soci-snapshotter does.

Reading uses Python's zlib: a raw inflater given the window as its dictionary, its input the
span's bytes shifted so that the ``bits`` left over from the previous byte come first.
:func:`~imgexplore.lazy.socibuild.build_checkpoints` finds block boundaries with zlib's ``inflate(Z_BLOCK)`` through
ctypes (Python's zlib module does not expose it): the same walk ``zran.c`` makes.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from ..errors import LimitExceededError, ManifestError

WINDOW = 32768
HEADER = struct.Struct("<iq")  # checkpoint count, span size
POINT = struct.Struct("<qqB")  # in, out, bits (then the window)
POINT_SIZE = POINT.size + WINDOW
MAX_CHECKPOINTS = 1 << 16  # 2 GiB of windows: far past any real layer at SOCI's 4 MiB spans


@dataclass(frozen=True)
class Checkpoint:
    """Where span ``index`` starts: compressed offset ``in_`` (minus one byte when ``bits``),
    uncompressed offset ``out``, and the window before it."""

    in_: int
    out: int
    bits: int
    window: bytes

    @property
    def start(self) -> int:
        """The first compressed byte the span needs (the one holding ``bits``, if any)."""
        return self.in_ - (1 if self.bits else 0)


@dataclass(frozen=True)
class Zinfo:
    """A layer's checkpoints, and the spans they bound in a blob of ``blob_size`` bytes
    that decompresses to ``tar_size`` bytes."""

    span_size: int
    checkpoints: tuple[Checkpoint, ...]
    version: int  # 1: checkpoint 0 left out of the blob; 2: all stored

    def span_of(self, offset: int) -> int:
        """The span holding uncompressed byte ``offset``."""
        low, high = 0, len(self.checkpoints) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.checkpoints[middle].out <= offset:
                low = middle
            else:
                high = middle - 1
        return low

    def compressed_range(self, first: int, last: int, blob_size: int) -> tuple[int, int]:
        """``(start, end)`` of the compressed bytes spans ``first``..``last`` occupy."""
        end = blob_size if last + 1 >= len(self.checkpoints) else self.checkpoints[last + 1].in_
        return self.checkpoints[first].start, end


def parse_zinfo(blob: bytes, what: str) -> Zinfo:
    """The checkpoints of a zTOC's ``checkpoints`` vector (both forms, told apart by length)."""
    if len(blob) < HEADER.size:
        raise ManifestError(f"{what}: its checkpoints are {len(blob)} bytes, too short for a header")
    count, span_size = HEADER.unpack_from(blob)
    if count < 1 or count > MAX_CHECKPOINTS:
        raise LimitExceededError(
            f"{what}: it claims {count:,} checkpoints (1 to {MAX_CHECKPOINTS:,} allowed)"
        )
    if HEADER.size + count * POINT_SIZE == len(blob):
        version, stored = 2, count
        points: list[Checkpoint] = []
    elif HEADER.size + (count - 1) * POINT_SIZE == len(blob):
        version, stored = 1, count - 1
        points = [Checkpoint(10, 0, 0, bytes(WINDOW))]
    else:
        raise ManifestError(
            f"{what}: {len(blob):,} bytes of checkpoints do not hold the {count:,} it claims "
            f"({POINT_SIZE:,} bytes each after a {HEADER.size}-byte header)"
        )
    at = HEADER.size
    for _ in range(stored):
        in_, out, bits = POINT.unpack_from(blob, at)
        window = blob[at + POINT.size : at + POINT_SIZE]
        points.append(Checkpoint(in_, out, bits, window))
        at += POINT_SIZE
    for number, (before, after) in enumerate(zip(points, points[1:], strict=False), start=1):
        if after.in_ <= before.in_ or after.out < before.out or not 0 <= after.bits <= 7:
            raise ManifestError(f"{what}: checkpoint {number} does not follow the one before it")
    return Zinfo(span_size, tuple(points), version)


def encode_zinfo(zinfo: Zinfo) -> bytes:
    """The checkpoints blob in its current form (every checkpoint stored)."""
    parts = [HEADER.pack(len(zinfo.checkpoints), zinfo.span_size)]
    for point in zinfo.checkpoints:
        parts.append(POINT.pack(point.in_, point.out, point.bits) + point.window)
    return b"".join(parts)


def inflate_span(zinfo: Zinfo, span: int, compressed: bytes, skip: int, length: int) -> bytes:
    """``length`` bytes that start ``skip`` bytes into span ``span``, decompressed from
    ``compressed`` (the blob's bytes from the span's start onward, as far as needed)."""
    point = zinfo.checkpoints[span]
    data = compressed
    if point.bits:
        # inflatePrime, done by hand: the span starts with the top `bits` bits of its first
        # byte, then every following byte; shift the whole run down to put them first.
        shifted = int.from_bytes(data[1:], "little") << point.bits | data[0] >> (8 - point.bits)
        data = shifted.to_bytes(len(data), "little")
    inflater = zlib.decompressobj(wbits=-15, zdict=point.window)
    try:
        out = inflater.decompress(data, skip + length)
    except zlib.error as exc:
        raise ManifestError(f"span {span}: its bytes do not decompress from its checkpoint ({exc})") from exc
    return out[skip : skip + length]


def span_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
