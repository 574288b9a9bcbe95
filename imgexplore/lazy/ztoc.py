"""SOCI's zTOC: a layer's table of contents kept *outside* the layer, as a FlatBuffers blob.

A SOCI index is an OCI manifest (artifact type ``application/vnd.amazon.soci.index.v1+json``,
or ``.v2+json``) whose layers are zTOCs, each annotated with the digest of the image layer it
describes. The layer itself is an ordinary gzip blob, unchanged; the zTOC lists every tar
entry with where its data starts in the *uncompressed* tar, and the checkpoints
(:mod:`~imgexplore.lazy.zinfo`) that let one span of the gzip stream be decompressed alone.

The schema (soci-snapshotter's ``ztoc/fbs/ztoc.fbs``), by field number::

    Ztoc            0 version: string  1 build_tool_identifier: string
                    2 compressed_archive_size: long  3 uncompressed_archive_size: long
                    4 toc: TOC  5 compression_info: CompressionInfo
    TOC             0 metadata: [FileMetadata]
    FileMetadata    0 name  1 type  2 uncompressed_offset: long  3 uncompressed_size: long
                    4 linkname  5 mode: long  6 uid: uint  7 gid: uint  8 uname  9 gname
                    10 mod_time: string (RFC 3339)  11 devmajor: long  12 devminor: long
                    13 xattrs: [Xattr]   (the entry's PAX records)
    Xattr           0 key: string  1 value: string
    CompressionInfo 0 compression_algorithm: byte (1 gzip, the default; 2 uncompressed)
                    1 max_span_id: int  2 span_digests: [string]  3 checkpoints: [ubyte]

A zTOC may be followed by ``---SOCI-PREFETCH---`` and a JSON list of files to prefetch.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import flatbuffers
from flatbuffers import number_types as nt
from flatbuffers.table import Table

from ..errors import LimitExceededError, ManifestError
from ..limits import MAX_ENTRIES

SOCI_INDEX_V1 = "application/vnd.amazon.soci.index.v1+json"
SOCI_INDEX_V2 = "application/vnd.amazon.soci.index.v2+json"
SOCI_LAYER_DIGEST = "com.amazon.soci.image-layer-digest"
SOCI_LAYER_MEDIA_TYPE = "com.amazon.soci.image-layer-mediaType"
SOCI_INDEX_DIGEST = "com.amazon.soci.index-digest"  # v2: on the image manifest's descriptor
PREFETCH_SEPARATOR = b"---SOCI-PREFETCH---"
ALGORITHMS = {1: "gzip", 2: "uncompressed"}


@dataclass
class ZtocEntry:
    """One tar entry as a zTOC records it; ``offset`` is where its data starts in the tar."""

    name: str
    type: str
    offset: int
    size: int
    linkname: str = ""
    mode: int = 0
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mod_time: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Ztoc:
    """A parsed zTOC."""

    version: str
    build_tool: str
    compressed_size: int
    uncompressed_size: int
    entries: list[ZtocEntry]
    compression: str
    max_span_id: int
    span_digests: list[str]
    checkpoints: bytes
    prefetch: list = field(default_factory=list)


def _field(table: Table, number: int) -> int:
    return table.Offset(4 + 2 * number)


def _string(table: Table, number: int) -> str:
    at = _field(table, number)
    return table.String(at + table.Pos).decode("utf-8", "surrogateescape") if at else ""


def _scalar(table: Table, number: int, flags, default: int = 0) -> int:
    at = _field(table, number)
    return table.Get(flags, at + table.Pos) if at else default


def _subtable(table: Table, number: int) -> Table | None:
    at = _field(table, number)
    return Table(table.Bytes, table.Indirect(at + table.Pos)) if at else None


def _vector(table: Table, number: int) -> tuple[int, int]:
    """(where the vector's items start, how many) of a vector field; (0, 0) if absent."""
    at = _field(table, number)
    if not at:
        return 0, 0
    start, count = table.Vector(at), table.VectorLen(at)
    if count > MAX_ENTRIES:
        raise LimitExceededError(f"a zTOC vector of {count:,} items, over the limit of {MAX_ENTRIES:,}")
    return start, count


def _tables(table: Table, number: int) -> list[Table]:
    start, count = _vector(table, number)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(count)]


def _strings(table: Table, number: int) -> list[str]:
    start, count = _vector(table, number)
    return [table.String(start + 4 * i).decode() for i in range(count)]


def _bytes(table: Table, number: int) -> bytes:
    at = _field(table, number)
    if not at:
        return b""
    start, count = table.Vector(at), table.VectorLen(at)
    if start + count > len(table.Bytes):
        raise ManifestError("a zTOC byte vector runs past the end of the zTOC")
    return bytes(table.Bytes[start : start + count])


def parse_ztoc(data: bytes, what: str) -> Ztoc:
    """A zTOC's contents; damage (an offset outside the buffer, a bad string) is one
    :class:`ManifestError` naming ``what``."""
    flat, _, prefetch_json = data.partition(PREFETCH_SEPARATOR)
    prefetch = []
    if prefetch_json:
        try:
            prefetch = json.loads(prefetch_json)
        except ValueError:
            raise ManifestError(f"{what}: the prefetch list after its zTOC is not JSON") from None
    if len(flat) < 8:
        raise ManifestError(f"{what}: {len(flat)} bytes are too few for a zTOC")
    buffer = bytearray(flat)
    try:
        root = Table(buffer, flatbuffers.encode.Get(nt.UOffsetTFlags.packer_type, buffer, 0))
        toc = _subtable(root, 4)
        info = _subtable(root, 5)
        entries = []
        for item in _tables(toc, 0) if toc else []:
            entries.append(
                ZtocEntry(
                    name=_string(item, 0),
                    type=_string(item, 1),
                    offset=_scalar(item, 2, nt.Int64Flags),
                    size=_scalar(item, 3, nt.Int64Flags),
                    linkname=_string(item, 4),
                    mode=_scalar(item, 5, nt.Int64Flags),
                    uid=_scalar(item, 6, nt.Uint32Flags),
                    gid=_scalar(item, 7, nt.Uint32Flags),
                    uname=_string(item, 8),
                    gname=_string(item, 9),
                    mod_time=_string(item, 10),
                    devmajor=_scalar(item, 11, nt.Int64Flags),
                    devminor=_scalar(item, 12, nt.Int64Flags),
                    xattrs={_string(x, 0): _string(x, 1) for x in _tables(item, 13)},
                )
            )
        ztoc = Ztoc(
            version=_string(root, 0),
            build_tool=_string(root, 1),
            compressed_size=_scalar(root, 2, nt.Int64Flags),
            uncompressed_size=_scalar(root, 3, nt.Int64Flags),
            entries=entries,
            compression=ALGORITHMS.get(_scalar(info, 0, nt.Int8Flags, 1), "unknown") if info else "gzip",
            max_span_id=_scalar(info, 1, nt.Int32Flags) if info else 0,
            span_digests=_strings(info, 2) if info else [],
            checkpoints=_bytes(info, 3) if info else b"",
            prefetch=prefetch,
        )
    except (IndexError, ValueError, TypeError, OverflowError, struct.error) as exc:
        raise ManifestError(f"{what}: not a readable zTOC ({type(exc).__name__}: {exc})") from None
    if info is None or not ztoc.span_digests:
        raise ManifestError(f"{what}: the zTOC has no compression info (spans and checkpoints)")
    if len(ztoc.span_digests) != ztoc.max_span_id + 1:
        raise ManifestError(
            f"{what}: the zTOC lists {len(ztoc.span_digests)} span digests for {ztoc.max_span_id + 1} spans"
        )
    return ztoc


def encode_ztoc(
    *,
    version: str,
    build_tool: str,
    compressed_size: int,
    uncompressed_size: int,
    entries: list[ZtocEntry],
    max_span_id: int,
    span_digests: list[str],
    checkpoints: bytes,
    compression: int = 1,
) -> bytes:
    """A zTOC serialised as soci-snapshotter writes one (fields in schema order)."""
    builder = flatbuffers.Builder(0)
    version_at = builder.CreateString(version)
    tool_at = builder.CreateString(build_tool)
    items = [_encode_entry(builder, entry) for entry in entries]
    metadata = _offset_vector(builder, items)
    builder.StartObject(1)
    builder.PrependUOffsetTRelativeSlot(0, metadata, 0)
    toc = builder.EndObject()
    checkpoints_at = builder.CreateByteVector(checkpoints)
    digests = _offset_vector(builder, [builder.CreateString(d) for d in span_digests])
    builder.StartObject(4)
    builder.PrependInt8Slot(0, compression, 1)
    builder.PrependInt32Slot(1, max_span_id, 0)
    builder.PrependUOffsetTRelativeSlot(2, digests, 0)
    builder.PrependUOffsetTRelativeSlot(3, checkpoints_at, 0)
    info = builder.EndObject()
    builder.StartObject(6)
    builder.PrependUOffsetTRelativeSlot(0, version_at, 0)
    builder.PrependUOffsetTRelativeSlot(1, tool_at, 0)
    builder.PrependInt64Slot(2, compressed_size, 0)
    builder.PrependInt64Slot(3, uncompressed_size, 0)
    builder.PrependUOffsetTRelativeSlot(4, toc, 0)
    builder.PrependUOffsetTRelativeSlot(5, info, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


def _offset_vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _encode_entry(builder: flatbuffers.Builder, entry: ZtocEntry) -> int:
    strings = [
        builder.CreateString(text)
        for text in (entry.name, entry.type, entry.linkname, entry.uname, entry.gname, entry.mod_time)
    ]
    name, kind, linkname, uname, gname, mod_time = strings
    xattrs = []
    for key in sorted(entry.xattrs):
        key_at, value_at = builder.CreateString(key), builder.CreateString(entry.xattrs[key])
        builder.StartObject(2)
        builder.PrependUOffsetTRelativeSlot(0, key_at, 0)
        builder.PrependUOffsetTRelativeSlot(1, value_at, 0)
        xattrs.append(builder.EndObject())
    xattrs_at = _offset_vector(builder, xattrs)
    builder.StartObject(14)
    builder.PrependUOffsetTRelativeSlot(0, name, 0)
    builder.PrependUOffsetTRelativeSlot(1, kind, 0)
    builder.PrependInt64Slot(2, entry.offset, 0)
    builder.PrependInt64Slot(3, entry.size, 0)
    builder.PrependUOffsetTRelativeSlot(4, linkname, 0)
    builder.PrependInt64Slot(5, entry.mode, 0)
    builder.PrependUint32Slot(6, entry.uid, 0)
    builder.PrependUint32Slot(7, entry.gid, 0)
    builder.PrependUOffsetTRelativeSlot(8, uname, 0)
    builder.PrependUOffsetTRelativeSlot(9, gname, 0)
    builder.PrependUOffsetTRelativeSlot(10, mod_time, 0)
    builder.PrependInt64Slot(11, entry.devmajor, 0)
    builder.PrependInt64Slot(12, entry.devminor, 0)
    builder.PrependUOffsetTRelativeSlot(13, xattrs_at, 0)
    return builder.EndObject()
