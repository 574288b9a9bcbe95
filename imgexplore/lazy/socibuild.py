"""Build a SOCI index for an image: one zTOC per gzip layer, to the published format
(soci-snapshotter's ``ztoc.fbs``, checkpoints as its ``gzip_zinfo.c`` lays them out, the index
as an OCI manifest whose ``subject`` is the image manifest).

No SOCI tool is packaged for Debian; this builder exists so that an index can be made and
shown where there is none (the teaching images, the tests). Checkpoints come from zlib itself:
its ``inflate(strm, Z_BLOCK)`` stops at every deflate block boundary and says, in
``data_type``, how many bits of the last byte the next block starts with — the walk
``zran.c`` makes. Python's zlib module does not expose ``Z_BLOCK``, so libz is called through
ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as _dt
import hashlib
import io
import json
import tarfile
import zlib
from typing import BinaryIO

from ..errors import ManifestError
from .zinfo import WINDOW, Checkpoint, Zinfo, encode_zinfo
from .ztoc import SOCI_INDEX_V1, SOCI_LAYER_DIGEST, SOCI_LAYER_MEDIA_TYPE, ZtocEntry, encode_ztoc

SPAN_SIZE = 1 << 22  # soci-snapshotter's default: 4 MiB
BUILD_TOOL = "imgexplore"
EMPTY_JSON_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of "{}"
Z_BLOCK, Z_OK, Z_STREAM_END, Z_BUF_ERROR = 5, 0, 1, -5


class _ZStream(ctypes.Structure):
    _fields_ = [
        ("next_in", ctypes.c_void_p),
        ("avail_in", ctypes.c_uint),
        ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p),
        ("avail_out", ctypes.c_uint),
        ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p),
        ("state", ctypes.c_void_p),
        ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p),
        ("opaque", ctypes.c_void_p),
        ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong),
        ("reserved", ctypes.c_ulong),
    ]


def _libz():
    path = ctypes.util.find_library("z")
    if path is None:
        raise ManifestError(
            "zlib's shared library (libz) was not found: it is needed to place SOCI checkpoints"
        )
    lib = ctypes.CDLL(path)
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.inflateInit2_.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.inflate.argtypes = [ctypes.POINTER(_ZStream), ctypes.c_int]
    lib.inflateEnd.argtypes = [ctypes.POINTER(_ZStream)]
    return lib


def build_checkpoints(blob: bytes, span_size: int = SPAN_SIZE) -> Zinfo:
    """Checkpoints for a gzip ``blob``: one after the gzip header, then one at the first block
    boundary more than ``span_size`` uncompressed bytes past the last (never after the last
    block), each with the 32 KiB window before it."""
    lib = _libz()
    stream = _ZStream()
    if lib.inflateInit2_(ctypes.byref(stream), 47, lib.zlibVersion(), ctypes.sizeof(_ZStream)) != Z_OK:
        raise ManifestError("zlib refused to start inflating")
    source = ctypes.create_string_buffer(blob, len(blob))
    window = ctypes.create_string_buffer(WINDOW)
    history = bytearray()  # the last WINDOW bytes of output, in order
    points: list[Checkpoint] = []
    total_in = total_out = last = 0
    stream.next_in = ctypes.addressof(source)
    stream.avail_in = len(blob)
    try:
        while True:
            stream.next_out = ctypes.addressof(window)
            stream.avail_out = WINDOW
            before_in, before_out = stream.avail_in, WINDOW
            code = lib.inflate(ctypes.byref(stream), Z_BLOCK)
            produced = before_out - stream.avail_out
            total_in += before_in - stream.avail_in
            total_out += produced
            if produced:
                history += window.raw[:produced]
                del history[:-WINDOW]
            if code == Z_STREAM_END:
                break
            if code not in (Z_OK, Z_BUF_ERROR) or (code == Z_BUF_ERROR and not stream.avail_in):
                raise ManifestError(f"the layer is not a whole gzip stream (zlib: {code})")
            end_of_block, last_block = stream.data_type & 128, stream.data_type & 64
            if end_of_block and not last_block and (total_out == 0 or total_out - last > span_size):
                padded = bytes(WINDOW - len(history)) + bytes(history)
                points.append(Checkpoint(total_in, total_out, stream.data_type & 7, padded))
                last = total_out
    finally:
        lib.inflateEnd(ctypes.byref(stream))
    return Zinfo(span_size, tuple(points), 2)


def _mod_time(seconds: float) -> str:
    """Go's ``time.MarshalText`` of a UTC time, in whole seconds (RFC 3339; a PAX mtime's
    fraction, which Go would print, is dropped: a listing's mtime is whole seconds too)."""
    moment = _dt.datetime.fromtimestamp(int(seconds), tz=_dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_TYPES = {
    tarfile.REGTYPE: "reg", tarfile.AREGTYPE: "reg", tarfile.CONTTYPE: "reg", tarfile.LNKTYPE: "hardlink",
    tarfile.SYMTYPE: "symlink", tarfile.DIRTYPE: "dir", tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}  # fmt: skip


def toc_entries(tar_stream: BinaryIO) -> tuple[list[ZtocEntry], int]:
    """One entry per tar member, with where its data starts in the tar, as soci-snapshotter's
    TOC builder records them; and the tar's size as it counts it. Names are tarfile's, with
    a directory's trailing slash put back (tarfile drops it; Docker's and BuildKit's layers
    have it)."""
    entries = []
    try:
        with tarfile.open(fileobj=tar_stream, mode="r:") as tar:
            members = tar.getmembers()
            end = tar.offset
    except tarfile.TarError as exc:
        raise ManifestError(f"the layer is not a tar ({exc})") from None
    for member in members:
        kind = _TYPES.get(member.type)
        if kind is None:
            raise ManifestError(f"{member.name}: tar entry type {member.type!r} has no zTOC type")
        entries.append(
            ZtocEntry(
                name=member.name + ("/" if member.isdir() and not member.name.endswith("/") else ""),
                type=kind,
                offset=member.offset_data,
                size=member.size if kind == "reg" else 0,
                linkname=member.linkname,
                mode=member.mode,
                uid=member.uid,
                gid=member.gid,
                uname=member.uname,
                gname=member.gname,
                mod_time=_mod_time(member.mtime),
                devmajor=member.devmajor,
                devminor=member.devminor,
                xattrs=dict(member.pax_headers),
            )
        )
    # soci-snapshotter counts the bytes Go's tar reader consumed: up to the two zero blocks
    # that end the archive, not the padding some writers add after them
    tar_stream.seek(0, 2)
    return entries, min(tar_stream.tell(), end + 1024)


def build_ztoc(blob: bytes, span_size: int = SPAN_SIZE) -> bytes:
    """The zTOC of a gzip layer ``blob``, serialised."""
    zinfo = build_checkpoints(blob, span_size)
    tar = io.BytesIO(zlib.decompress(blob, wbits=47))
    entries, tar_size = toc_entries(tar)
    digests = []
    for number in range(len(zinfo.checkpoints)):
        start, end = zinfo.compressed_range(number, number, len(blob))
        digests.append("sha256:" + hashlib.sha256(blob[start:end]).hexdigest())
    return encode_ztoc(
        version="0.9",
        build_tool=BUILD_TOOL,
        compressed_size=len(blob),
        uncompressed_size=tar_size,
        entries=entries,
        max_span_id=len(zinfo.checkpoints) - 1,
        span_digests=digests,
        checkpoints=encode_zinfo(zinfo),
    )


def index_manifest(subject: dict, ztocs: list[tuple[bytes, str, str]]) -> bytes:
    """A SOCI index (v1: an OCI image manifest whose ``subject`` is the image manifest), for
    ``ztocs`` given as (zTOC bytes, layer digest, layer media type)."""
    layers = [
        {
            "mediaType": "application/octet-stream",
            "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "annotations": {SOCI_LAYER_DIGEST: digest, SOCI_LAYER_MEDIA_TYPE: media_type},
        }
        for data, digest, media_type in ztocs
    ]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SOCI_INDEX_V1,
        "config": {"mediaType": SOCI_INDEX_V1, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": layers,
        "subject": subject,
        "annotations": {"com.amazon.soci.build-tool-identifier": BUILD_TOOL},
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def build_soci_index(
    image, *, span_size: int = SPAN_SIZE, min_layer_size: int = 0
) -> tuple[bytes, dict[str, bytes]]:
    """A v1 SOCI index for ``image`` (an :class:`~imgexplore.image.Image`) and its zTOCs by
    digest: one zTOC per gzip layer of at least ``min_layer_size`` bytes (soci-snapshotter
    skips layers under 10 MiB by default; 0 here indexes every one)."""
    ztocs: dict[str, bytes] = {}
    described = []
    for layer in image.layers:
        if layer.declared_compression != "gzip" or layer.size < min_layer_size:
            continue
        with layer.open_blob() as stream:
            blob = stream.read()
        data = build_ztoc(blob, span_size)
        ztocs["sha256:" + hashlib.sha256(data).hexdigest()] = data
        described.append((data, layer.digest, layer.media_type))
    if not described:
        raise ManifestError("no gzip layer to index: SOCI describes gzip layers only")
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest.raw)}
    return index_manifest(subject, described), ztocs
