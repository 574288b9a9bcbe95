"""An image's layers as a lazy puller sees them: one row per layer with its format, what its
TOC costs and what reading chosen files costs, against pulling the layer whole."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from .plan import fetch_plan
from .read import lazy_format, read_toc
from .toc import Toc

if TYPE_CHECKING:
    from ..image import Image

COLUMNS = [
    "layer", "format", "layer_bytes", "toc_requests", "toc_bytes", "files", "data_requests", "data_bytes",
    "lazy_bytes", "fraction_of_layer",
]  # fmt: skip


def toc_headline(toc: Toc) -> str:
    """One line on where a layer's TOC is and what reading it cost."""
    requests = f"read in {len(toc.requests)} request(s)"
    if toc.format == "soci":
        zinfo = toc.zinfo
        return (
            f"soci: a zTOC of {toc.toc_length:,} bytes beside the {toc.blob_size:,}-byte gzip layer, "
            f"{len(toc.ztoc.entries):,} entries, {len(zinfo.checkpoints)} span(s) of about "
            f"{zinfo.span_size:,} uncompressed bytes; {requests}"
        )
    return (
        f"{toc.format}: TOC at {toc.toc_offset:,} ({toc.toc_length:,} bytes compressed, {len(toc.raw):,} as JSON), "
        f"{requests}; landmark {toc.landmark or 'none'}"
    )


def lazy_layers(image: Image, paths: Iterable[str] | None = None) -> pd.DataFrame:
    """For each layer: the format (or none), the blob's size, the TOC's requests and bytes,
    and the requests and bytes that reading ``paths`` needs (default: the prefetch list the
    layer records). A path is read from the layer a container sees it in (the merged view,
    from the TOCs), not from the lower copies it hides. ``fraction_of_layer`` is what a lazy
    pull of those files fetches out of the whole blob; a layer with no TOC is pulled whole.
    A SOCI index is found and read once for the image: those requests (and the index
    manifest's bytes; a referrers answer counts as a request, its few bytes are not counted)
    are added to the first SOCI layer's row."""
    by_layer: dict[int, list[str]] | None = None
    if paths is not None:
        merged = image.files(toc_only=True).merged()
        seen_in = dict(zip(merged["path"], merged["layer"], strict=True))
        by_layer = {}
        for path in paths:
            if path.strip("/") in seen_in:
                by_layer.setdefault(int(seen_in[path.strip("/")]), []).append(path.strip("/"))
    rows = []
    for layer in image.layers:
        fmt = lazy_format(layer)
        if fmt is None:
            rows.append({"layer": layer.index, "format": "none (pulled whole)", "layer_bytes": layer.size,
                         "toc_requests": 0, "toc_bytes": 0, "files": 0, "data_requests": 1,
                         "data_bytes": layer.size, "lazy_bytes": layer.size, "fraction_of_layer": 1.0})  # fmt: skip
            continue
        toc = read_toc(layer)
        wanted = by_layer.get(layer.index, []) if by_layer is not None else toc.prefetch()
        _, summary = fetch_plan(toc, wanted)
        rows.append({"layer": layer.index, **{key: summary[key] for key in COLUMNS[1:] if key in summary},
                     "format": fmt})  # fmt: skip
    table = pd.DataFrame(rows, columns=COLUMNS)
    _charge_soci_index(image, table)
    table["fraction_of_layer"] = table["fraction_of_layer"].round(4)  # a share, to 0.01 %
    return table


def _charge_soci_index(image: Image, table: pd.DataFrame) -> None:
    soci = table.index[table["format"] == "soci"]
    if not len(soci):
        return
    from .soci import find_soci_index

    index = find_soci_index(image)
    first = soci[0]
    table.loc[first, "toc_requests"] += len(index.requests)
    added = sum(size for _, size in index.requests)
    for column in ("toc_bytes", "lazy_bytes"):
        table.loc[first, column] += added
    size = table.loc[first, "layer_bytes"]
    table.loc[first, "fraction_of_layer"] = round(table.loc[first, "lazy_bytes"] / size, 4) if size else 0.0
