"""What reading some files of a lazy layer costs: the byte ranges of the compressed pieces
that hold them (adjacent ones merged into one request), against downloading the whole layer;
and the check that every piece holds what its TOC entry says."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .toc import Toc


def piece_ranges(toc: Toc) -> pd.DataFrame:
    """One row per piece of file data: its TOC row, and ``start``/``end`` of the compressed
    bytes that hold it (to the next piece, the TOC, or the recorded ``end_offset``)."""
    pieces = toc.entries[toc.entries["chunk_size"] > 0].copy()
    starts = np.unique(np.append(pieces["offset"].to_numpy(), toc.toc_offset))
    following = {start: end for start, end in zip(starts[:-1], starts[1:], strict=True)}
    recorded = pieces["end_offset"].to_numpy()
    pieces["start"] = pieces["offset"]
    pieces["end"] = np.where(
        recorded > 0, recorded, [following.get(o, toc.toc_offset) for o in pieces["offset"]]
    )
    return pieces


def fetch_plan(toc: Toc, paths: Iterable[str]) -> tuple[pd.DataFrame, dict]:
    """For ``paths``: a table of the ranges each file needs, and a summary — requests and
    bytes to read them lazily (TOC included) against the whole layer."""
    wanted = set(paths)
    pieces = piece_ranges(toc)
    chosen = pieces[pieces["path"].isin(wanted)].sort_values("start")
    merged: list[list[int]] = []
    for start, end in zip(chosen["start"], chosen["end"], strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([int(start), int(end)])
    per_file = (
        chosen.assign(bytes=chosen["end"] - chosen["start"])
        .groupby("path", sort=False)
        .agg(
            pieces=("start", "size"),
            first_byte=("start", "min"),
            bytes=("bytes", "sum"),
            size=("size", "max"),
        )
        .reset_index()
    )
    toc_bytes = sum(length for _, length in toc.requests)
    data_bytes = sum(end - start for start, end in merged)
    summary = {
        "format": toc.format,
        "files": int(per_file["path"].nunique()) if len(per_file) else 0,
        "toc_requests": len(toc.requests),
        "toc_bytes": toc_bytes,
        "data_requests": len(merged),
        "data_bytes": data_bytes,
        "lazy_bytes": toc_bytes + data_bytes,
        "layer_bytes": toc.blob_size,
        "fraction_of_layer": (toc_bytes + data_bytes) / toc.blob_size if toc.blob_size else 0.0,
        "missing": sorted(
            wanted - set(pieces["path"]) - set(toc.entries.loc[toc.entries["size"] == 0, "path"])
        ),
    }
    return per_file, summary


def verify_pieces(toc: Toc, blob: bytes) -> pd.DataFrame:
    """Decompress every piece from its offset in the whole ``blob`` and compare the sha256 of
    its bytes with the TOC's ``chunk_digest``: one row per piece, ``ok`` True when equal.
    SOCI records no file digests: its spans are checked instead (one row per span)."""
    if toc.format == "soci":
        from .soci import verify_spans

        return verify_spans(toc, blob)
    pieces = piece_ranges(toc)
    results = []
    for row in pieces.itertuples():
        data = _inflate(toc.format, blob[row.start : row.end], row.chunk_size)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        expected = row.chunk_digest or row.digest
        results.append({"path": row.path, "chunk_offset": row.chunk_offset, "chunk_size": row.chunk_size,
                        "ok": digest == expected, "computed": digest, "recorded": expected})  # fmt: skip
    return pd.DataFrame(results, columns=["path", "chunk_offset", "chunk_size", "ok", "computed", "recorded"])


def _inflate(fmt: str, compressed: bytes, size: int) -> bytes:
    """The first ``size`` bytes the compressed piece decompresses to."""
    if fmt == "estargz":
        inflater = zlib.decompressobj(wbits=31)  # a gzip member
        return inflater.decompress(compressed, size)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(compressed)[:size]
