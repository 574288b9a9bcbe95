"""Report figures. Each function takes the library's DataFrames or graphs and returns a
matplotlib ``Figure`` with a title and labelled axes (sizes in KB/MB/GB), laid out the same
way on every run, so notebooks, the command line and tests all draw the same pictures."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import matplotlib
import matplotlib.patches
import networkx as nx
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator

from ..digest import short
from ..present import human_bytes, stored_as

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


class _BinaryLocator(Locator):
    """Ticks at round numbers of the unit the labels use (1, 2, 2.5 or 5 × 10^n KB, MB…),
    so a byte axis reads 10 KB, 20 KB… rather than 9.8 KB, 19.5 KB…"""

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        top = max(abs(vmin), abs(vmax), 1.0)
        unit = 1024.0 ** min(int(math.log(top, 1024)), 4)
        ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin / unit, vmax / unit)
        return [tick * unit for tick in ticks]


def bytes_axis(axis) -> None:
    """Label an axis in B/KB/MB/GB (powers of 1024), with round ticks on a linear axis."""
    if axis.get_scale() == "linear":
        axis.set_major_locator(_BinaryLocator())
    axis.set_major_formatter(FuncFormatter(lambda value, _: human_bytes(value)))


def _figure(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = ReportFigure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _label(text: str, limit: int = 38) -> str:
    text = " ".join((text or "").replace("/bin/sh -c #(nop) ", "").split())
    text = text.replace("RUN /bin/sh -c ", "RUN ").replace("/bin/sh -c ", "RUN ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


UNKNOWN_SIZES = "compressed sizes unknown: schema 1 manifests do not record them"


def _stored_label(media_types: Iterable) -> str:
    """The legend for layers' recorded sizes: compressed blobs, or plain tars as stored."""
    return {
        "compressed": "compressed (downloaded)",
        "uncompressed": "stored (uncompressed tar)",
        "mixed": "stored (compressed or not)",
    }[stored_as(media_types)]


def _note_unknown(ax: Axes, nothing_to_show: bool) -> None:
    """Say that sizes are unknown; with nothing else to draw, say it in the middle and drop
    the meaningless size axis."""
    if nothing_to_show:
        ax.set_yticks([])
        ax.text(
            0.5,
            0.55,
            UNKNOWN_SIZES + ";\ndecompress the layers (diff_ids) to learn the uncompressed ones",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#555555",
        )
    else:
        ax.text(0.01, 0.98, UNKNOWN_SIZES, transform=ax.transAxes, va="top", fontsize=8, color="#555555")


def layer_sizes(
    layers: pd.DataFrame, uncompressed: Iterable[int] | None = None, title: str = "Layer sizes"
) -> Figure:
    """Bars per layer: compressed size (what a pull downloads) and, when given, uncompressed
    size (what the layer's tar holds). Empty layers are grey and marked."""
    fig, ax = _figure()
    x = list(range(len(layers)))
    known = [int(s) >= 0 for s in layers["size"]]  # schema 1 records no sizes (-1)
    colors = [EMPTY if e else COMPRESSED for e in layers["empty"]]
    width = 0.4 if uncompressed is not None else 0.7
    offset = -width / 2 if uncompressed is not None else 0
    if any(known):
        ax.bar(
            [i + offset for i, k in zip(x, known, strict=True) if k],
            [int(s) for s, k in zip(layers["size"], known, strict=True) if k],
            width,
            color=[c for c, k in zip(colors, known, strict=True) if k],
            label=_stored_label(layers.get("media_type", [])),
        )
    if not all(known):
        _note_unknown(ax, nothing_to_show=not any(known) and uncompressed is None)
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
    many = len(x) > 8  # long labels side by side would overlap: slant them
    ax.set_xticks(
        x,
        [
            f"{i}: {_label(c, 18)}" if many else f"{i}\n{_label(c, 18)}"
            for i, c in zip(x, layers["created_by"], strict=True)
        ],
        fontsize=7,
        rotation=45 if many else 0,
        ha="right" if many else "center",
    )
    ax.set_xlabel("layer (base first) and the step that made it")
    ax.set_ylabel("size")
    if any(known) or uncompressed is not None:
        bytes_axis(ax.yaxis)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    return fig


def cumulative_size(aligned: pd.DataFrame, title: str = "Image size, step by step") -> Figure:
    """The image's size after each history step (compressed, and uncompressed when the
    aligned table has it); metadata-only steps add nothing and are marked."""
    fig, ax = _figure()
    steps = list(aligned["step"])
    made_layer = aligned["layer_index"].notna()
    sizes_known = bool((aligned.loc[made_layer, "size"] >= 0).all())  # schema 1: -1
    curve = None
    if sizes_known:
        curve = aligned["size"].fillna(0).astype(int).cumsum()
        label = _stored_label(aligned.get("media_type", pd.Series(dtype=object)).dropna())
        ax.step(steps, curve, where="post", color=COMPRESSED, label=label)
    if aligned["uncompressed_size"].notna().any():
        uncompressed = aligned["uncompressed_size"].fillna(0).astype(int).cumsum()
        ax.step(steps, uncompressed, where="post", color=UNCOMPRESSED, label="uncompressed")
        curve = uncompressed if curve is None else curve
    if not sizes_known:
        _note_unknown(ax, nothing_to_show=curve is None)
    if curve is not None:
        empty = aligned["empty"].astype(bool).to_numpy()  # no layer, or an empty one (schema 1)
        ax.scatter(
            [s for s, e in zip(steps, empty, strict=True) if e],
            [c for c, e in zip(curve, empty, strict=True) if e],
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
    if curve is not None:
        ax.set_ylim(bottom=0)
        bytes_axis(ax.yaxis)
        ax.legend(fontsize=8)
    ax.set_title(title)
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
    layer, hollow for metadata-only steps. Steps without a time (``created`` is optional)
    are left out, and the figure says how many."""
    import matplotlib.dates as mdates

    fig, ax = _figure(8, 3.5)
    times = pd.to_datetime(history["created"], errors="coerce", utc=True)
    dated = times.notna().to_numpy()
    made = history["layer_index"].notna().to_numpy()
    steps = history["step"].to_numpy()
    ax.set_title(title)
    ax.set_ylabel("step")
    if not dated.any():
        ax.text(
            0.5,
            0.5,
            "no step records when it was made (history has no created times)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            color="#555555",
        )
        ax.set_xticks([])
        ax.set_xlabel("created (UTC)")
        return fig
    for layer_made, style in (
        (True, {"color": COMPRESSED, "label": "made a layer"}),
        (False, {"facecolors": "white", "edgecolors": EMPTY, "label": "metadata only"}),
    ):
        chosen = dated & (made == layer_made)
        ax.scatter(times[chosen], steps[chosen], zorder=3, **style)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # the date once, then times
    undated = int((~dated).sum())
    ax.set_xlabel("created (UTC)" + (f"; {undated} step(s) without a time not shown" if undated else ""))
    ax.legend(fontsize=8)
    return fig


def dag(graph: nx.DiGraph, title: str = "Layer DAG", positions: dict | None = None) -> Figure:
    """A layer DAG drawn with the deterministic layered layout (base at the bottom). Layer
    nodes show a short digest and the step; history steps sit to their left; shared layers of
    a merged graph are darker."""
    from ..analysis.dag import layered_layout

    positions = positions or layered_layout(graph)
    xs = [x for x, _ in positions.values()] or [0.0]
    ys = [y for _, y in positions.values()] or [0.0]
    height = 1.5 + 0.6 * (max(ys) + 1)
    width = 4 + 2.2 * (max(xs) - min(xs))
    fig, ax = _figure(min(max(width, 7), 16), min(max(height, 4), 14))
    kinds = nx.get_node_attributes(graph, "kind")
    sizes = {node: 110 if kinds.get(node) == "step" else 300 for node in graph}
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
    node_sizes = [sizes[node] for node in graph]
    nx.draw_networkx_edges(
        graph, positions, ax=ax, arrows=True, arrowsize=8, edge_color="#888888", node_size=node_sizes
    )
    nx.draw_networkx_nodes(
        graph, positions, ax=ax, node_color=colors, node_size=node_sizes, edgecolors="#333333", linewidths=0.5
    )
    for node, data in graph.nodes(data=True):
        kind = data.get("kind")
        x, y = positions[node]
        if kind in ("layer", "v1"):
            text = f"{short(data.get('digest'), 8)}\n{_label(data.get('created_by', ''), 24)}"
        elif kind == "step":
            text = f"step {data.get('step')}"
        elif kind == "image":
            text = data.get("name", "")
        else:
            text = str(node)[:16]
        left = kind == "step"  # step labels go left, away from the arrows to their layer
        ax.annotate(
            text,
            (x, y),
            xytext=(-7 if left else 11, 0),
            textcoords="offset points",
            ha="right" if left else "left",
            va="center",
            fontsize=6,
        )
    # room for the labels: they are drawn in points beside the nodes, outside the data range
    has_steps = "step" in kinds.values()
    ax.set_xlim(min(xs) - (0.9 if has_steps else 0.6), max(xs) + 1.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_title(title)
    merged = any(len(data.get("images", [])) > 1 for _, data in graph.nodes(data=True))
    ax.set_xlabel(
        "layers stack upwards from the base"
        + ("; the history steps of a layer sit to its left" if has_steps else "")
        + ("; layers shared by several images are darker" if merged else "")
    )
    ax.set_ylabel("layer depth (base = 1)")
    ax.set_xticks([])
    ax.set_yticks([])
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
                # a folder shown beside its own subfolders holds only the files directly in it
                nested = any(
                    other.startswith(f"{directory}/" if directory else "")
                    for other in groups.index
                    if other != directory
                )
                ax.text(
                    rect["x"] + rect["dx"] / 2,
                    rect["y"] + rect["dy"] / 2,
                    f"/{directory}{' (files in it)' if nested else ''}\n{human_bytes(size)}",
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
