"""Which lazy format a layer is in, and its TOC, read with Range requests only."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .. import mediatypes as mt
from ..errors import ManifestError
from .formats import POSITION_ANNOTATIONS, estargz_toc, zstd_toc
from .ranges import RangeReader
from .toc import Toc, parse_entries

if TYPE_CHECKING:
    from ..image import Layer

TOC_DIGEST = "containerd.io/snapshot/stargz/toc.digest"
UNCOMPRESSED_SIZE = "io.containers.estargz.uncompressed-size"
ZSTD_CHECKSUMS = (
    "io.github.containers.zstd-chunked.manifest-checksum",
    "io.containers.zstd-chunked.manifest-checksum",
)


def lazy_format(layer: Layer) -> str | None:
    """``estargz``, ``zstd:chunked``, ``soci`` or None: from the layer's media type and
    annotations (what a lazy-pulling snapshotter looks at before reading anything), else
    from the image's SOCI index, if it has one that covers the layer (looked for once)."""
    annotations = layer.annotations or {}
    if any(key in annotations for key in (*POSITION_ANNOTATIONS, *ZSTD_CHECKSUMS)):
        return "zstd:chunked"
    if TOC_DIGEST in annotations:
        compression = mt.layer_compression_from_media_type(layer.media_type)
        return "zstd:chunked" if compression == "zstd" else "estargz"
    if layer._image is not None:
        from .soci import find_soci_index

        index = find_soci_index(layer._image)
        if index is not None and layer.digest in index.ztocs:
            return "soci"
    return None


def read_toc(layer: Layer, fmt: str | None = None) -> Toc:
    """The layer's TOC, read from its end with Range requests (footer, then TOC), checked
    against the layer's annotations (TOC digest, zstd:chunked checksum); for SOCI, its zTOC
    (one GET, verified by digest). ``fmt`` forces a format when the annotations say nothing
    (an eStargz made without them)."""
    fmt = fmt or lazy_format(layer)
    what = f"layer {layer.index} ({layer.digest[:19]})"
    if fmt is None:
        raise ManifestError(
            f"{what}: not a lazy layer (no eStargz or zstd:chunked annotations, no SOCI zTOC); "
            "pass fmt= to try anyway"
        )
    if fmt == "soci":
        from .soci import read_soci_toc

        return read_soci_toc(layer)
    if layer.size < 0:
        raise ManifestError(f"{what}: its size is unknown, so its end cannot be found")
    reader = RangeReader(layer._source(), layer.digest, layer.size)
    annotations = layer.annotations or {}
    if fmt == "estargz":
        raw, compressed, location = estargz_toc(reader, what)
    elif fmt == "zstd:chunked":
        raw, compressed, location = zstd_toc(reader, annotations, what)
    else:
        raise ManifestError(f"{what}: unknown lazy format {fmt!r}")
    entries, _ = parse_entries(raw, what)
    toc = Toc(
        fmt, layer.digest, layer.size, raw, location.offset, location.length, entries, list(reader.requests)
    )
    _check(toc, annotations, compressed, what)
    _check_offsets(toc, what)
    return toc


def _check(toc: Toc, annotations: dict, compressed: bytes, what: str) -> None:
    """Each annotation that says something about the TOC must agree with what was read."""
    if TOC_DIGEST in annotations:
        computed = "sha256:" + hashlib.sha256(toc.raw).hexdigest()
        toc.checks[TOC_DIGEST] = computed == annotations[TOC_DIGEST]
        if not toc.checks[TOC_DIGEST]:
            raise ManifestError(
                f"{what}: the TOC read hashes to {computed}, the annotation says {annotations[TOC_DIGEST]}"
            )
    for key in ZSTD_CHECKSUMS:
        if key in annotations:
            computed = "sha256:" + hashlib.sha256(compressed).hexdigest()
            toc.checks[key] = computed == annotations[key]
            if not toc.checks[key]:
                raise ManifestError(
                    f"{what}: the compressed TOC hashes to {computed}, the annotation says {annotations[key]}"
                )


def _check_offsets(toc: Toc, what: str) -> None:
    """Every piece of file data must start inside the blob, before the TOC, in order."""
    data = toc.entries[toc.entries["chunk_size"] > 0]
    if not len(data):
        return
    offsets = data["offset"].to_numpy()
    if (offsets >= toc.toc_offset).any():
        bad = data.loc[data["offset"] >= toc.toc_offset].iloc[0]
        raise ManifestError(
            f"{what}: TOC entry {bad['path']} points at {bad['offset']}, past the TOC's start ({toc.toc_offset})"
        )
    if (offsets[1:] < offsets[:-1]).any():
        raise ManifestError(
            f"{what}: the TOC's data offsets go backwards: pieces overlap or are out of order"
        )


def check_uncompressed_size(layer: Layer) -> bool | None:
    """Whether the layer decompresses to the size its ``io.containers.estargz.uncompressed-size``
    annotation records (None without the annotation). Reads the whole layer: the one check
    here that a TOC alone cannot answer."""
    recorded = (layer.annotations or {}).get(UNCOMPRESSED_SIZE)
    if recorded is None:
        return None
    total = 0
    with layer.open_tar() as stream:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
    return str(total) == str(recorded).strip()
