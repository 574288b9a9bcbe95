"""Where each lazy format keeps its TOC, read from the blob's end with Range requests.

eStargz: the last 51 bytes are an empty gzip member whose Extra field holds ``SG`` and
``%016xSTARGZ`` — the TOC's offset (the legacy stargz footer, 47 bytes, holds the same text
without the ``SG`` subfield). The TOC is a gzip member from there to the footer: a tar whose
one entry is ``stargz.index.json``.

zstd:chunked: the TOC is a zstd frame inside a skippable frame (magic ``50 2A 4D 18``); the
footer, also in a skippable frame, is 64 little-endian bytes ending ``GNUlInUx`` (offset,
compressed and uncompressed length, type, then the tar-split's offset and lengths), or in
the older layout 40 bytes ending ``GnUlInUx``. The annotation
``io.github.containers.zstd-chunked.manifest-position`` (``offset:length:ulength:type``)
says the same and spares the footer read.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import tarfile
import zlib
from dataclasses import dataclass

from ..errors import LimitExceededError, ManifestError
from .ranges import RangeReader
from .toc import TOC_NAME

MAX_TOC_BYTES = 64 << 20  # compressed TOC read from a registry
MAX_TOC_JSON = 256 << 20  # the TOC once decompressed
ESTARGZ_FOOTER = 51
LEGACY_STARGZ_FOOTER = 47
ZSTD_FOOTER = 64 + 8  # footer data and its skippable frame header
POSITION_ANNOTATIONS = (
    "io.github.containers.zstd-chunked.manifest-position",
    "io.containers.zstd-chunked.manifest-position",
)


@dataclass(frozen=True)
class TocLocation:
    offset: int
    length: int  # compressed
    ulength: int | None = None  # uncompressed, when the format records it


def estargz_footer(footer: bytes, what: str) -> int:
    """The TOC offset an eStargz (or legacy stargz) footer holds."""
    match = re.search(rb"([0-9a-f]{16})STARGZ", footer)
    if not footer.startswith(b"\x1f\x8b\x08\x04") or match is None:
        raise ManifestError(f"{what}: no eStargz footer at the end of the blob")
    return int(match.group(1), 16)


def estargz_toc(reader: RangeReader, what: str) -> tuple[bytes, bytes, TocLocation]:
    """(the TOC's JSON, its compressed bytes, where they lie) of an eStargz layer: two Range
    requests at most."""
    footer = reader.tail(ESTARGZ_FOOTER, what=f"{what}: footer")
    try:
        offset = estargz_footer(footer, what)
        footer_size = ESTARGZ_FOOTER
    except ManifestError:
        offset = estargz_footer(footer[-LEGACY_STARGZ_FOOTER:], what)
        footer_size = LEGACY_STARGZ_FOOTER
    end = reader.size - footer_size
    if not 0 <= offset < end:
        raise ManifestError(f"{what}: the footer puts the TOC at {offset}, outside the blob (0..{end})")
    compressed = reader.read(offset, end - offset, limit=MAX_TOC_BYTES, what=f"{what}: TOC")
    try:
        inflated = _bounded_gunzip(compressed, MAX_TOC_JSON, what)
        with tarfile.open(fileobj=io.BytesIO(inflated), mode="r:") as tar:
            member = tar.next()
            if member is None or member.name != TOC_NAME:
                raise ManifestError(f"{what}: the TOC member holds no {TOC_NAME}")
            if member.size > MAX_TOC_JSON:
                raise LimitExceededError(
                    f"{what}: {TOC_NAME} is {member.size:,} bytes, over {MAX_TOC_JSON:,}"
                )
            raw = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ManifestError(f"{what}: the TOC member does not decompress to a tar ({exc})") from None
    return raw, compressed, TocLocation(offset, end - offset, len(raw))


def _bounded_gunzip(data: bytes, limit: int, what: str) -> bytes:
    out = bytearray()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        while chunk := stream.read(1 << 20):
            out += chunk
            if len(out) > limit:
                raise LimitExceededError(f"{what}: the TOC decompresses to more than {limit:,} bytes")
    return bytes(out)


def zstd_position(annotations: dict[str, str]) -> TocLocation | None:
    """The TOC's place from the layer's annotation, if it has one."""
    for key in POSITION_ANNOTATIONS:
        if key in annotations:
            try:
                offset, length, ulength, _kind = (int(part) for part in annotations[key].split(":"))
            except ValueError:
                raise ManifestError(
                    f"annotation {key}={annotations[key]!r} is not offset:length:ulength:type"
                ) from None
            return TocLocation(offset, length, ulength)
    return None


def zstd_footer(footer: bytes, what: str) -> TocLocation:
    """The TOC's place from a zstd:chunked footer (64-byte ``GNUlInUx`` or 40-byte
    ``GnUlInUx``), given the blob's last 72 bytes."""
    if footer.endswith(b"GNUlInUx") and len(footer) >= 64:
        offset, length, ulength, _kind = struct.unpack("<4Q", footer[-64:-32])
        return TocLocation(offset, length, ulength)
    if footer.endswith(b"GnUlInUx") and len(footer) >= 40:
        offset, length, ulength, _kind = struct.unpack("<4Q", footer[-40:-8])
        return TocLocation(offset, length, ulength)
    raise ManifestError(f"{what}: no zstd:chunked footer at the end of the blob")


def zstd_toc(reader: RangeReader, annotations: dict[str, str], what: str) -> tuple[bytes, bytes, TocLocation]:
    """(the TOC's JSON, its compressed bytes, where they lie) of a zstd:chunked layer: one
    Range request with the position annotation, two without."""
    location = zstd_position(annotations)
    if location is None:
        location = zstd_footer(reader.tail(ZSTD_FOOTER, what=f"{what}: footer"), what)
    if location.offset + location.length > reader.size:
        raise ManifestError(
            f"{what}: the TOC is said to lie at {location.offset}+{location.length}, past the blob's end ({reader.size})"
        )
    if location.ulength is not None and location.ulength > MAX_TOC_JSON:
        raise LimitExceededError(
            f"{what}: the TOC claims {location.ulength:,} bytes, over the limit of {MAX_TOC_JSON:,}"
        )
    compressed = reader.read(location.offset, location.length, limit=MAX_TOC_BYTES, what=f"{what}: TOC")
    import zstandard

    try:
        raw = zstandard.ZstdDecompressor().decompress(compressed, max_output_size=MAX_TOC_JSON + 1)
    except zstandard.ZstdError as exc:
        raise ManifestError(f"{what}: the TOC is not a zstd frame ({exc})") from None
    if len(raw) > MAX_TOC_JSON:
        raise LimitExceededError(f"{what}: the TOC decompresses to more than {MAX_TOC_JSON:,} bytes")
    if location.ulength is not None and len(raw) != location.ulength:
        raise ManifestError(
            f"{what}: the TOC decompresses to {len(raw)} bytes, not the {location.ulength} recorded"
        )
    return raw, compressed, location
