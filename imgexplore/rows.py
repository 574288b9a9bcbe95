"""An :class:`~imgexplore.image.Image` as rows: the layers table, the history table and the
aligned table (one row per history step with its layer), as pandas DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .image import Image, Layer

LAYER_COLUMNS = [
    "index",
    "digest",
    "media_type",
    "size",
    "diff_id",
    "chain_id",
    "empty",
    "history_step",
    "created_by",
]
HISTORY_COLUMNS = [
    "step",
    "created",
    "created_by",
    "empty_layer",
    "layer_index",
    "layer_digest",
    "comment",
]


def layer_row(layer: Layer) -> dict:
    """What every view says of a layer (the layers table's columns, the DAG's node
    attributes, the corpus' rows), written once."""
    return {
        "index": layer.index,
        "digest": layer.digest,
        "media_type": layer.media_type,
        "size": layer.size,
        "diff_id": layer.diff_id,
        "chain_id": layer.chain_id,
        "empty": layer.empty,
        "history_step": layer.history_step,
        "created_by": layer.created_by,
    }


def layers_table(image: Image) -> pd.DataFrame:
    """One row per layer, in order, base first."""
    rows = [layer_row(layer) for layer in image.layers]
    table = pd.DataFrame(rows, columns=LAYER_COLUMNS)
    return table.astype({"index": "int64", "size": "int64", "empty": "bool", "history_step": "Int64"})


ALIGNED_COLUMNS = [
    "step", "created", "created_by", "empty", "layer_index", "digest", "media_type", "diff_id",
    "chain_id", "size", "uncompressed_size", "v1_id", "v1_parent", "comment",
]  # fmt: skip


def aligned_table(image: Image, uncompressed_sizes: list[int] | None = None) -> pd.DataFrame:
    """One row per history step with the layer it produced (or none): the step, its layer's
    digest, diff_id, chain id and sizes, and the schema 1 id/parent when known.
    ``uncompressed_sizes`` (per layer, e.g. the file tables' ``tar_size``) fills that column."""
    rows = []
    for step in image.history:
        layer = image.layers[step.layer_index] if step.layer_index is not None else None
        rows.append(
            {
                "step": step.step,
                "created": step.created,
                "created_by": step.created_by,
                "empty": step.empty_layer or bool(layer and layer.empty),
                "layer_index": step.layer_index,
                "digest": layer.digest if layer else None,
                "media_type": layer.media_type if layer else None,
                "diff_id": layer.diff_id if layer else None,
                "chain_id": layer.chain_id if layer else None,
                "size": layer.size if layer else None,
                "uncompressed_size": uncompressed_sizes[layer.index]
                if layer is not None and uncompressed_sizes
                else None,
                "v1_id": step.v1_id,
                "v1_parent": step.v1_parent,
                "comment": step.comment,
            }
        )
    table = pd.DataFrame(rows, columns=ALIGNED_COLUMNS)
    return table.astype(
        {"step": "int64", "layer_index": "Int64", "size": "Int64", "uncompressed_size": "Int64"}
    )


def history_table(image: Image) -> pd.DataFrame:
    """One row per history step, oldest first, with the layer it made (or none)."""
    table = aligned_table(image).rename(columns={"digest": "layer_digest"})
    table["empty_layer"] = [step.empty_layer for step in image.history]
    return table[HISTORY_COLUMNS].astype({"empty_layer": "bool"})
