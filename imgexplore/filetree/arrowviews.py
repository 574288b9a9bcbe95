"""Layer listings as one Arrow table, for output that needs no pandas: what ``imgexplore
tree --layer all|N --format csv|json`` writes (the same rows as
:meth:`ImageFiles.all_layers() <imgexplore.filetree.imagefiles.ImageFiles.all_layers>` and
:meth:`~imgexplore.filetree.imagefiles.ImageFiles.layer`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidArgumentError, LayerIndexError
from .arrowtable import int_array, layer_arrow, literal
from .prefetch import blobs_ahead

if TYPE_CHECKING:
    from ..image import Image


def layer_number(image: Image, index: int) -> int:
    """A layer number checked against the image (negative ones count from the top)."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidArgumentError(f"a layer number is an int, not {type(index).__name__} {index!r:.40}")
    count = len(image.layers)
    if not -count <= index < count:
        raise LayerIndexError(f"layer {index} does not exist: the image has {count} layers (0–{count - 1})")
    return index % count


def layers_listing(
    image: Image,
    columns: list[str],
    *,
    layer: int | None = None,
    path: str | None = None,
    progress: bool = False,
    write_behind: bool = False,
) -> pa.Table:
    """The entries of every layer (or of ``layer``), base layer first, as a ``layer`` column
    and then ``columns``; with ``path``, only that path and what is under it. Layers are
    listed (and cached) as :func:`~imgexplore.filetree.arrowtable.layer_arrow` does, which
    ``write_behind`` is handed to."""
    numbers = range(len(image.layers)) if layer is None else [layer_number(image, layer)]
    listed = [image.layers[number] for number in numbers]
    if progress:
        from tqdm.auto import tqdm

        numbers = tqdm(numbers, desc="listing layers", unit="layer")
    parts = []
    with blobs_ahead(image, listed):
        for number in numbers:
            table = layer_arrow(image.layers[number], write_behind=write_behind).select(columns)
            # one plain text type for every part (each layer has its own dictionaries)
            table = table.cast(pa.schema([_plain(field) for field in table.schema]))
            parts.append(table.add_column(0, "layer", int_array(np.full(table.num_rows, number))))
    if not parts:
        from .arrowtable import SCHEMA

        return pa.schema(
            [pa.field("layer", pa.int64()), *(_plain(SCHEMA.field(c)) for c in columns)]
        ).empty_table()
    listing = pa.concat_tables(parts)
    if path:
        prefix = path.strip("/")
        keep = pc.or_(
            pc.equal(listing["path"], literal(prefix)), pc.starts_with(listing["path"], prefix + "/")
        )
        listing = listing.filter(keep)
    return listing


def _plain(field: pa.Field) -> pa.Field:
    return field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field
