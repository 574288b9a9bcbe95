"""Deduplication measured from TOCs alone (Zhao et al., "Large-scale analysis of Docker
images and performance implications for container storage systems"): how many files and
chunks of a set of images are copies of others, without downloading a layer.

eStargz and zstd:chunked TOCs record a sha256 for every file (``digest``) and for every piece
of it (``chunkDigest``: a big file is cut into chunks); layers shared between images are
counted once, as a registry stores them. A SOCI zTOC records no digests: its layers are
listed as not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from .read import lazy_format, read_toc

if TYPE_CHECKING:
    from ..image import Image

CHUNK_COLUMNS = ["layer_digest", "path", "chunk_offset", "chunk_size", "chunk_digest", "file_digest"]


def chunk_table(images: Iterable[Image]) -> tuple[pd.DataFrame, list[str]]:
    """Every piece of file data in the images' distinct lazy layers, from their TOCs; and
    the layers that could not be counted (no TOC, or a TOC without digests)."""
    rows, skipped, seen = [], [], set()
    for image in images:
        for layer in image.layers:
            if layer.digest in seen:
                continue
            seen.add(layer.digest)
            fmt = lazy_format(layer)
            if fmt not in ("estargz", "zstd:chunked"):
                skipped.append(f"{layer.digest[:19]} ({fmt or 'no TOC'})")
                continue
            entries = read_toc(layer).entries
            pieces = entries[entries["chunk_size"] > 0]
            file_digests = entries.loc[entries["type"] == "file"].set_index("path")["digest"].to_dict()
            for row in pieces.itertuples():
                rows.append({"layer_digest": layer.digest, "path": row.path, "chunk_offset": row.chunk_offset,
                             "chunk_size": row.chunk_size, "chunk_digest": row.chunk_digest or row.digest,
                             "file_digest": file_digests.get(row.path)})  # fmt: skip
    return pd.DataFrame(rows, columns=CHUNK_COLUMNS), skipped


def duplication(images: Iterable[Image]) -> dict:
    """File- and chunk-level duplication over the images' distinct layers: counts, bytes,
    unique bytes and what each level of deduplication would save."""
    chunks, skipped = chunk_table(images)
    files = chunks.drop_duplicates(["layer_digest", "path"])
    file_sizes = chunks.groupby(["layer_digest", "path"], sort=False)["chunk_size"].sum()
    files = files.assign(size=file_sizes.to_numpy())
    unique_files = files.drop_duplicates("file_digest")
    unique_chunks = chunks.drop_duplicates("chunk_digest")
    total = int(chunks["chunk_size"].sum())
    return {
        "layers_counted": int(chunks["layer_digest"].nunique()),
        "layers_not_counted": skipped,
        "files": len(files),
        "unique_files": len(unique_files),
        "chunks": len(chunks),
        "unique_chunks": len(unique_chunks),
        "bytes": total,
        "unique_file_bytes": int(unique_files["size"].sum()),
        "unique_chunk_bytes": int(unique_chunks["chunk_size"].sum()),
        "saved_by_file_dedup": total - int(unique_files["size"].sum()),
        "saved_by_chunk_dedup": total - int(unique_chunks["chunk_size"].sum()),
    }
