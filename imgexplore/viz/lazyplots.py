"""What a lazy pull fetches, drawn: per layer, the TOC, the pieces the chosen files need, and
the rest of the layer that is never fetched."""

from __future__ import annotations

import pandas as pd
from matplotlib.patches import Patch

from . import style
from .plots import ReportFigure, _figure


def lazy_cost(table: pd.DataFrame, title: str | None = None) -> ReportFigure:
    """Horizontal bars, one per layer of :func:`~imgexplore.lazy.summary.lazy_layers`: each
    layer's blob as 100 %, split into TOC bytes, data bytes fetched and bytes never fetched."""
    fig, ax = _figure(9.0, 1.6 + 0.45 * max(len(table), 2))
    for y, row in enumerate(table.itertuples()):
        whole = max(row.layer_bytes, 1)
        toc, data = row.toc_bytes / whole, row.data_bytes / whole
        ax.barh(y, toc, color=style.ORANGE, edgecolor="white")
        ax.barh(y, data, left=toc, color=style.BLUE, edgecolor="white")
        ax.barh(y, max(1 - toc - data, 0), left=toc + data, color=style.GREY, edgecolor="white")
        requests = row.toc_requests + row.data_requests
        ax.text(1.01, y, f"{row.lazy_bytes / whole:.0%} · {requests} req.", va="center", fontsize=8)
    ax.set_yticks(
        range(len(table)), [f"layer {row.layer} ({row.format})" for row in table.itertuples()], fontsize=8
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("share of each layer's compressed blob (a full pull fetches 100%)")
    ax.legend(
        handles=[
            Patch(color=style.ORANGE, label="TOC and footer"),
            Patch(color=style.BLUE, label="pieces of the files read"),
            Patch(color=style.GREY, label="never fetched"),
        ],
        loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False,
    )  # fmt: skip
    total = table["lazy_bytes"].sum() / max(table["layer_bytes"].sum(), 1)
    ax.set_title(title or f"What a lazy pull fetches: {total:.0%} of the image's layer bytes")
    return fig
