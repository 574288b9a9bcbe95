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
from .toc import Toc

if TYPE_CHECKING:
    from ..image import Image

CHUNK_COLUMNS = ["layer_digest", "path", "chunk_offset", "chunk_size", "chunk_digest", "file_digest"]


def toc_chunks(toc: Toc) -> pd.DataFrame:
    """Each piece of file data a TOC lists: ``path``, ``chunk_offset``, ``chunk_size``,
    ``chunk_digest`` (the file's digest where the piece is the whole file and the TOC gives no
    chunk digest) and ``file_digest``."""
    entries = toc.entries
    pieces = entries[entries["chunk_size"] > 0]
    file_digests = entries.loc[entries["type"] == "file"].drop_duplicates("path").set_index("path")["digest"]
    return pd.DataFrame(
        {
            "path": pieces["path"].to_numpy(),
            "chunk_offset": pieces["chunk_offset"].to_numpy(),
            "chunk_size": pieces["chunk_size"].to_numpy(),
            "chunk_digest": pieces["chunk_digest"].fillna(pieces["digest"]).to_numpy(),
            "file_digest": pieces["path"].map(file_digests).to_numpy(),
        }
    )


def chunk_table(images: Iterable[Image]) -> tuple[pd.DataFrame, list[str]]:
    """Every piece of file data in the images' distinct lazy layers, from their TOCs; and
    the layers that could not be counted (no TOC, or a TOC without digests)."""
    frames, skipped, seen = [], [], set()
    for image in images:
        for layer in image.layers:
            if layer.digest in seen:
                continue
            seen.add(layer.digest)
            fmt = lazy_format(layer)
            if fmt not in ("estargz", "zstd:chunked"):
                skipped.append(f"{layer.digest[:19]} ({fmt or 'no TOC'})")
                continue
            frames.append(toc_chunks(read_toc(layer)).assign(layer_digest=layer.digest))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CHUNK_COLUMNS)
    return table[CHUNK_COLUMNS], skipped


def counts(chunks: pd.DataFrame) -> dict:
    """File- and chunk-level duplication in a chunk table (:data:`CHUNK_COLUMNS`): counts,
    bytes, unique bytes and what each level of deduplication would save."""
    chunks = chunks.drop_duplicates(["layer_digest", "path", "chunk_offset"])
    files = chunks.drop_duplicates(["layer_digest", "path"])
    file_sizes = chunks.groupby(["layer_digest", "path"], sort=False)["chunk_size"].sum()
    files = files.assign(size=file_sizes.to_numpy())
    unique_files = files.drop_duplicates("file_digest")
    unique_chunks = chunks.drop_duplicates("chunk_digest")
    total = int(chunks["chunk_size"].sum())
    return {
        "layers_counted": int(chunks["layer_digest"].nunique()),
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


def duplication(images: Iterable[Image]) -> dict:
    """File- and chunk-level duplication over the images' distinct layers (see
    :func:`counts`), and the layers not counted."""
    chunks, skipped = chunk_table(images)
    return {**counts(chunks), "layers_not_counted": skipped}
