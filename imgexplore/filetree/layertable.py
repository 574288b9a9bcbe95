"""A layer's file table as a pandas DataFrame: the Arrow table of :mod:`.arrowtable` (listed
once, kept in the cache by diff_id) with the column types the file-tree rules work on."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from ..limits import MAX_UNCOMPRESSED_BYTES
from .arrowtable import INT_COLUMNS, TreeCache, arrow_from_listing, layer_arrow, list_arrow, origin
from .tarlist import COLUMNS, DEFAULT_MAX_ENTRIES

if TYPE_CHECKING:
    from ..image import Layer

__all__ = ["TreeCache", "frame_from_arrow", "layer_table", "table_from_listing", "tar_table"]

_STRING = "str"  # Arrow-backed in pandas 3: paths are compact and compared without conversion


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """A file table as a DataFrame: ints as int64, ``opaque`` as bool, paths as Arrow-backed
    strings, other text as Python objects with None for missing values. ``attrs`` holds
    ``diff_id`` and ``tar_size``."""
    data: dict[str, object] = {}
    for name in COLUMNS:
        column = table.column(name)
        if name in INT_COLUMNS or name == "opaque":
            data[name] = column.to_numpy()
        elif name == "path":
            data[name] = pd.Series(column.to_pandas(), dtype=_STRING)
        else:
            if pa.types.is_dictionary(column.type):  # one Python object per distinct value
                column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
                words = np.asarray(column.dictionary.to_pylist() + [None], dtype=object)
                indices = column.indices.fill_null(len(column.dictionary)).to_numpy(zero_copy_only=False)
                values = words[indices]
            else:
                values = np.asarray(column.to_pylist(), dtype=object)
            data[name] = pd.Series(values, dtype=object, copy=False)
    frame = pd.DataFrame(data, copy=False)
    diff_id, tar_size = origin(table)
    frame.attrs.update(diff_id=diff_id, tar_size=tar_size)
    return frame


def table_from_listing(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Listed columns (:data:`~imgexplore.filetree.tarlist.COLUMNS`) as a DataFrame."""
    return frame_from_arrow(arrow_from_listing(columns))


def tar_table(
    stream: BinaryIO, *, hash_files: bool = True, max_entries: int = DEFAULT_MAX_ENTRIES
) -> pd.DataFrame:
    """List an uncompressed tar stream. ``attrs`` holds ``diff_id`` and ``tar_size``."""
    return frame_from_arrow(list_arrow(stream, hash_files=hash_files, max_entries=max_entries))


def layer_table(
    layer: Layer,
    *,
    cache: TreeCache | bool = True,
    hash_files: bool = True,
    max_uncompressed_bytes: int | None = MAX_UNCOMPRESSED_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> pd.DataFrame:
    """One row per entry of the layer's tar (see :data:`~imgexplore.filetree.tarlist.COLUMNS`),
    from the cache or listed now: :func:`~imgexplore.filetree.arrowtable.layer_arrow`."""
    return frame_from_arrow(
        layer_arrow(
            layer,
            cache=cache,
            hash_files=hash_files,
            max_uncompressed_bytes=max_uncompressed_bytes,
            max_entries=max_entries,
        )
    )
