"""Reading a layer's file table: stream the blob, list the tar, check the diff_id, and keep
the table in a Parquet cache keyed by diff_id so the next look costs nothing."""

from __future__ import annotations

import contextlib
import logging
import pathlib
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

from ..cache import atomic_writer, cache_root
from ..digest import short, validate_digest
from ..errors import ArchiveError, InvalidDigestError
from ..limits import MAX_UNCOMPRESSED_BYTES
from .tarlist import COLUMNS, DEFAULT_MAX_ENTRIES, list_tar

if TYPE_CHECKING:
    from ..image import Layer

log = logging.getLogger(__name__)

_INT_COLUMNS = ("size", "mode", "uid", "gid", "mtime")
_STRING_COLUMNS = ("path",)
_STRING = "str"  # Arrow-backed in pandas 3
_CACHE_FORMAT = "v1"


def table_from_listing(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The listing's columns as a DataFrame (ints as int64, paths as Arrow-backed strings —
    compact, and compared without conversion —, other text as objects)."""
    data = {}
    for name in COLUMNS:
        if name in _INT_COLUMNS:
            data[name] = np.asarray(columns[name], dtype=np.int64)
        elif name == "opaque":
            data[name] = np.asarray(columns[name], dtype=bool)
        elif name in _STRING_COLUMNS:
            data[name] = pd.Series(columns[name], dtype=_STRING)
        else:
            data[name] = pd.Series(np.asarray(columns[name], dtype=object), dtype=object, copy=False)
    return pd.DataFrame(data, copy=False)


def tar_table(
    stream: BinaryIO, *, hash_files: bool = True, max_entries: int = DEFAULT_MAX_ENTRIES
) -> pd.DataFrame:
    """List an uncompressed tar stream. ``attrs`` holds ``diff_id`` and ``tar_size``."""
    listing = list_tar(stream, hash_files=hash_files, max_entries=max_entries)
    table = table_from_listing(listing.columns)
    table.attrs.update(diff_id=listing.diff_id, tar_size=listing.size)
    return table


class TreeCache:
    """Layer tables as Parquet files named by diff_id (``<root>/filetree/<hex>.v1.parquet``),
    found through ``by-digest/<hex>`` files: the diff_id that listing the blob of that
    digest gave (a table is only ever looked up through the blob it was listed from)."""

    def __init__(self, root: str | pathlib.Path | None = None):
        self.root = pathlib.Path(root) if root is not None else cache_root() / "filetree"

    def _path(self, diff_id: str) -> pathlib.Path:
        return self.root / f"{validate_digest(diff_id).split(':', 1)[1]}.{_CACHE_FORMAT}.parquet"

    def _alias(self, digest: str) -> pathlib.Path:
        return self.root / "by-digest" / validate_digest(digest).split(":", 1)[1]

    def diff_id_for(self, digest: str) -> str | None:
        try:
            text = self._alias(digest).read_text().strip()
            return validate_digest(text)
        except (OSError, InvalidDigestError):
            return None

    def get(self, diff_id: str) -> pd.DataFrame | None:
        path = self._path(diff_id)
        if not path.is_file():
            return None
        import pyarrow.parquet as pq

        try:
            arrow = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - a damaged cache entry is dropped, never fatal
            log.warning("dropping unreadable cache entry %s (%s)", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        meta = arrow.schema.metadata or {}
        table = arrow.to_pandas()
        for name in COLUMNS:
            if name in _STRING_COLUMNS:
                table[name] = table[name].astype(_STRING)
            elif name not in _INT_COLUMNS and name != "opaque":
                table[name] = table[name].astype(object).where(table[name].notna(), None)
        table.attrs.update(diff_id=diff_id, tar_size=int(meta.get(b"tar_size", b"-1")))
        return table

    def put(self, table: pd.DataFrame, digest: str | None = None) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        diff_id = table.attrs["diff_id"]
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata(
            {
                **(arrow.schema.metadata or {}),
                b"tar_size": str(table.attrs.get("tar_size", -1)).encode(),
            }
        )
        with atomic_writer(self._path(diff_id)) as f:
            pq.write_table(arrow, f)
        if digest:
            with atomic_writer(self._alias(digest)) as f:
                f.write(diff_id.encode())


def layer_table(
    layer: Layer,
    *,
    cache: TreeCache | bool = True,
    hash_files: bool = True,
    max_uncompressed_bytes: int | None = MAX_UNCOMPRESSED_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> pd.DataFrame:
    """One row per entry of the layer's tar (see :data:`~imgexplore.filetree.tarlist.COLUMNS`).

    A cached table is found by the layer's blob digest (the diff_id recorded when that blob
    was last listed), never by the diff_id the config claims, so a config that lies about a
    layer cannot be served another layer's table. Otherwise the blob is streamed once: its
    digest is verified, and the diff_id computed on the way is recorded on the layer
    (:meth:`~imgexplore.image.Layer.record_diff_id`, which refuses one the config contradicts)."""
    store = TreeCache() if cache is True else (cache or None)
    if store is not None:
        computed = store.diff_id_for(layer.digest)
        cached = store.get(computed) if computed else None
        if cached is not None:
            layer.record_diff_id(computed)
            return cached
    try:
        with layer.open_tar(max_uncompressed_bytes=max_uncompressed_bytes) as stream:
            table = tar_table(stream, hash_files=hash_files, max_entries=max_entries)
    except ArchiveError as exc:
        where = f"layer {layer.index} ({short(layer.digest)}, {layer.media_type})"
        if str(exc).startswith("layer "):
            raise
        raise type(exc)(f"{where}: {exc}") from None
    layer.record_diff_id(table.attrs["diff_id"])
    if store is not None and hash_files:
        try:
            store.put(table, layer.digest)
        except OSError as exc:  # a read-only or full disk must not stop the analysis
            log.warning("could not cache the file table of layer %s: %s", short(layer.digest), exc)
    return table
