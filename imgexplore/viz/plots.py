"""Report figures. Each function takes the library's DataFrames or graphs and returns a
matplotlib ``Figure`` with a title and labelled axes (sizes in KB/MB/GB), laid out the same
way on every run, so notebooks, the command line and tests all draw the same pictures."""

from __future__ import annotations

import os
from collections.abc import Iterable

import matplotlib
import matplotlib.patches
import networkx as nx
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..digest import short
from ..tables import human_bytes

COMPRESSED = "#4C72B0"
UNCOMPRESSED = "#DD8452"
EMPTY = "#B0B0B0"
WASTED = "#C44E52"
VISIBLE = "#55A868"
KIND_COLORS = {
    "layer": COMPRESSED,
    "v1": COMPRESSED,
    "step": "#EEEEEE",
    "image": VISIBLE,
    "scratch": "#FFFFFF",
    "missing": WASTED,
}


class ReportFigure(Figure):
    """A matplotlib Figure that shows itself in a notebook (as PNG) when it is a cell's
    value or passed to ``display``, without going through pyplot."""

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def bytes_axis(axis) -> None:
    """Label an axis in B/KB/MB/GB (powers of 1024)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: human_bytes(value)))


def _figure(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = ReportFigure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _label(text: str, limit: int = 38) -> str:
    text = " ".join((text or "").replace("/bin/sh -c #(nop) ", "").split())
    text = text.replace("RUN /bin/sh -c ", "RUN ").replace("/bin/sh -c ", "RUN ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layer_sizes(
    layers: pd.DataFrame, uncompressed: Iterable[int] | None = None, title: str = "Layer sizes"
) -> Figure:
    """Bars per layer: compressed size (what a pull downloads) and, when given, uncompressed
    size (what the layer's tar holds). Empty layers are grey and marked."""
    fig, ax = _figure()
    x = list(range(len(layers)))
    sizes = [max(int(s), 0) for s in layers["size"]]
    colors = [EMPTY if e else COMPRESSED for e in layers["empty"]]
    width = 0.4 if uncompressed is not None else 0.7
    offset = -width / 2 if uncompressed is not None else 0
    ax.bar([i + offset for i in x], sizes, width, color=colors, label="compressed (downloaded)")
    if uncompressed is not None:
        ax.bar(
            [i + width / 2 for i in x],
            list(uncompressed),
            width,
            color=UNCOMPRESSED,
            label="uncompressed (tar)",
        )
    for i, empty in zip(x, layers["empty"], strict=True):
        if empty:
            ax.annotate("empty", (i, 0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(
        x, [f"{i}\n{_label(c, 18)}" for i, c in zip(x, layers["created_by"], strict=True)], fontsize=7
    )
    ax.set_xlabel("layer (base first) and the step that made it")
    ax.set_ylabel("size")
    bytes_axis(ax.yaxis)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return fig


def cumulative_size(aligned: pd.DataFrame, title: str = "Image size, step by step") -> Figure:
    """The image's size after each history step (compressed, and uncompressed when the
    aligned table has it); metadata-only steps add nothing and are marked."""
    fig, ax = _figure()
    steps = list(aligned["step"])
    compressed = aligned["size"].fillna(0).clip(lower=0).astype(int).cumsum()
    ax.step(steps, compressed, where="post", color=COMPRESSED, label="compressed")
    if aligned["uncompressed_size"].notna().any():
        ax.step(
            steps,
            aligned["uncompressed_size"].fillna(0).astype(int).cumsum(),
            where="post",
            color=UNCOMPRESSED,
            label="uncompressed",
        )
    empty = aligned["layer_index"].isna()
    ax.scatter(
        [s for s, e in zip(steps, empty, strict=True) if e],
        [c for c, e in zip(compressed, empty, strict=True) if e],
        marker="o",
        facecolors="white",
        edgecolors=EMPTY,
        zorder=3,
        label="metadata-only step",
    )
    ax.set_xticks(
        steps,
        [f"{s}: {_label(c, 16)}" for s, c in zip(steps, aligned["created_by"], strict=True)],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_xlabel("history step")
    ax.set_ylabel("cumulative size")
    bytes_axis(ax.yaxis)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def waste(per_layer: pd.DataFrame, title: str = "Where the bytes of each layer end up") -> Figure:
    """Stacked bars per layer: file bytes still visible in the final image, and wasted
    bytes (copies a later layer overwrites or deletes)."""
    fig, ax = _figure()
    x = list(per_layer["layer"])
    wasted = list(per_layer["wasted_bytes"])
    visible = [f - w for f, w in zip(per_layer["file_bytes"], wasted, strict=True)]
    ax.bar(x, visible, color=VISIBLE, label="still visible")
    ax.bar(x, wasted, bottom=visible, color=WASTED, label="wasted (superseded later)")
    ax.set_xticks(x, [str(i) for i in x])
    ax.set_xlabel("layer")
    ax.set_ylabel("uncompressed file bytes")
    bytes_axis(ax.yaxis)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def history_timeline(history: pd.DataFrame, title: str = "Build history over time") -> Figure:
    """One point per history step at its ``created`` time: filled for steps that made a
    layer, hollow for metadata-only steps."""
    fig, ax = _figure(8, 3.5)
    times = pd.to_datetime(history["created"], errors="coerce", utc=True)
    made = history["layer_index"].notna()
    ax.scatter(times[made], history["step"][made], color=COMPRESSED, label="made a layer", zorder=3)
    ax.scatter(
        times[~made],
        history["step"][~made],
        facecolors="white",
        edgecolors=EMPTY,
        label="metadata only",
        zorder=3,
    )
    ax.set_xlabel("created (UTC)")
    ax.set_ylabel("step")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    return fig


def dag(graph: nx.DiGraph, title: str = "Layer DAG", positions: dict | None = None) -> Figure:
    """A layer DAG drawn with the deterministic layered layout (base at the bottom). Layer
    nodes show a short digest and the step; shared layers of a merged graph are darker."""
    from ..analysis.dag import layered_layout

    positions = positions or layered_layout(graph)
    height = 1.5 + 0.6 * (max((y for _, y in positions.values()), default=1) + 1)
    width = 4 + 2.2 * (
        max((x for x, _ in positions.values()), default=0)
        - min((x for x, _ in positions.values()), default=0)
    )
    fig, ax = _figure(min(max(width, 7), 16), min(max(height, 4), 14))
    kinds = nx.get_node_attributes(graph, "kind")
    colors = []
    for node in graph:
        data = graph.nodes[node]
        color = KIND_COLORS.get(kinds.get(node, ""), "#DDDDDD")
        if data.get("empty"):
            color = EMPTY
        if len(data.get("images", [])) > 1:
            color = "#2D4A7A"
        if data.get("problem"):
            color = WASTED
        colors.append(color)
    nx.draw_networkx_edges(
        graph, positions, ax=ax, arrows=True, arrowsize=8, edge_color="#888888", node_size=300
    )
    nx.draw_networkx_nodes(
        graph, positions, ax=ax, node_color=colors, node_size=300, edgecolors="#333333", linewidths=0.5
    )
    labels = {}
    for node, data in graph.nodes(data=True):
        kind = data.get("kind")
        if kind in ("layer", "v1"):
            labels[node] = f"{short(data.get('digest'), 8)}\n{_label(data.get('created_by', ''), 24)}"
        elif kind == "step":
            labels[node] = f"step {data.get('step')}"
        elif kind == "image":
            labels[node] = data.get("name", "")
        else:
            labels[node] = str(node)[:16]
    label_positions = {n: (x + 0.07, y) for n, (x, y) in positions.items()}
    nx.draw_networkx_labels(
        graph,
        label_positions,
        labels,
        ax=ax,
        font_size=6,
        verticalalignment="center",
        horizontalalignment="left",
    )
    ax.set_title(title)
    ax.set_xlabel("layers of one image stack upwards; steps sit to the right of their layer")
    ax.set_ylabel("layer depth (base = 1)")
    ax.margins(x=0.25, y=0.08)
    return fig


def treemap(
    files: pd.DataFrame, depth: int = 2, title: str = "Where the bytes are", max_boxes: int = 40
) -> Figure:
    """A treemap of a file table (a merged view or one layer): every regular file counts
    toward its directory cut to ``depth`` levels (files higher up count toward their own
    folder), so the boxes add up to all the bytes; areas are proportional to bytes."""
    import squarify

    fig, ax = _figure(8, 5.5)
    regular = files[(files["type"] == "file") & (files["size"] > 0)]
    if "whiteout" in regular:
        regular = regular[regular["whiteout"].isna() & ~regular["opaque"]]
    groups = regular.groupby(regular["path"].map(lambda p: "/".join(p.split("/")[:-1][:depth])))["size"].sum()
    groups = groups.sort_values(ascending=False, kind="stable")
    rows = groups.head(max_boxes)
    if rows.empty:
        ax.text(0.5, 0.5, "no files", ha="center", va="center")
    else:
        rects = squarify.squarify(squarify.normalize_sizes(rows.tolist(), 100, 100), 0, 0, 100, 100)
        cmap = matplotlib.colormaps["tab20"]
        for i, (rect, (directory, size)) in enumerate(zip(rects, rows.items(), strict=True)):
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (rect["x"], rect["y"]),
                    rect["dx"],
                    rect["dy"],
                    facecolor=cmap(i % 20),
                    edgecolor="white",
                    linewidth=1.5,
                )
            )
            if rect["dx"] > 8 and rect["dy"] > 5:
                ax.text(
                    rect["x"] + rect["dx"] / 2,
                    rect["y"] + rect["dy"] / 2,
                    f"/{directory}\n{human_bytes(size)}",
                    ha="center",
                    va="center",
                    fontsize=7,
                )
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
    ax.set_xticks([])
    ax.set_yticks([])
    shown = (
        f"the {len(rows)} largest of {len(groups)} folders"
        if len(groups) > len(rows)
        else f"{len(groups)} folders"
    )
    ax.set_xlabel(
        f"{shown}, cut {depth} level(s) deep; area proportional to bytes "
        f"({human_bytes(int(groups.sum()))} in all)"
    )
    ax.set_title(title)
    return fig


def platform_matrix(matrix: pd.DataFrame, title: str = "Which platform uses which layer") -> Figure:
    """A grid: layers (rows, by short digest) × platforms (columns); filled where used."""
    fig, ax = _figure(2 + 1.2 * len(matrix.columns), 1.5 + 0.35 * len(matrix))
    ax.imshow(matrix.astype(int).values, cmap="Blues", vmin=0, vmax=1.4, aspect="auto")
    ax.set_xticks(range(len(matrix.columns)), list(matrix.columns), fontsize=8)
    ax.set_yticks(range(len(matrix)), [short(d) for d in matrix.index], fontsize=7)
    ax.set_xlabel("platform")
    ax.set_ylabel("layer digest")
    ax.set_title(title)
    return fig


def cdf(sample, label: str, title: str | None = None) -> Figure:
    """The empirical cumulative distribution of ``sample`` (sizes get a log axis in bytes)."""
    import numpy as np

    fig, ax = _figure(6, 4)
    values = np.sort(np.asarray(sample, dtype=float))
    ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", color=COMPRESSED)
    if "bytes" in label and values.size and values.min() > 0:
        ax.set_xscale("log")
        bytes_axis(ax.xaxis)
    ax.set_xlabel(label)
    ax.set_ylabel("fraction of the corpus (≤ x)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"CDF of {label.split(' (')[0]}")
    return fig


def save(
    fig: Figure, path_stem: str | os.PathLike, formats: Iterable[str] = ("png", "svg", "pdf"), dpi: int = 200
) -> list[str]:
    """Write ``fig`` as ``path_stem.png``, ``.svg`` and ``.pdf`` (or the formats given)."""
    written = []
    for fmt in formats:
        path = f"{os.fspath(path_stem)}.{fmt}"
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        # a fixed salt makes SVG ids, and so the files, the same on every run
        with matplotlib.rc_context({"svg.hashsalt": "imgexplore"}):
            fig.savefig(path, dpi=dpi, metadata={"Date": None} if fmt in ("pdf", "svg") else None)
        written.append(path)
    return written
