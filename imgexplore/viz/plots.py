"""Report figures. Each function takes the library's DataFrames or graphs and returns a
matplotlib ``Figure`` with a title and labelled axes (sizes in kB/MB/GB, see
:mod:`imgexplore.viz.style`), laid out the same way on every run, so notebooks, the command
line and tests all draw the same pictures."""

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
from matplotlib.transforms import offset_copy

from ..digest import short
from ..present import human_bytes, stored_as
from .style import (
    BLUISH_GREEN,
    COMPRESSED,
    EMPTY,
    GREY,
    ORANGE,
    PROBLEM,
    REDDISH_PURPLE,
    SHARED,
    SKY_BLUE,
    STEP,
    UNCOMPRESSED,
    VISIBLE,
    WASTED,
    YELLOW,
    bytes_axis,
)

KIND_COLORS = {
    "layer": COMPRESSED,
    "v1": COMPRESSED,
    "step": STEP,
    "image": VISIBLE,
    "scratch": "#FFFFFF",
    "missing": PROBLEM,
}


class ReportFigure(Figure):
    """A matplotlib Figure that shows itself in a notebook (as PNG) when it is a cell's
    value or passed to ``display``, without going through pyplot."""

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _figure(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Axes]:
    fig = ReportFigure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def distinguishing_labels(commands: list[str], width: int = 26, lines: int = 3) -> list[str]:
    """What tells build steps apart: the shell wrapper and ``#(nop)`` dropped, the ``&&``
    parts that most of the commands share elided (``…``), the rest wrapped, not cut, to
    ``lines`` lines of ``width`` characters.

    >>> distinguishing_labels(["/bin/sh -c apt-get update && apt-get install -y curl",
    ...                        "/bin/sh -c apt-get update && apt-get install -y git",
    ...                        "/bin/sh -c #(nop)  WORKDIR /src"], width=40)
    ['RUN … apt-get install -y curl', 'RUN … apt-get install -y git', 'WORKDIR /src']
    """
    import textwrap
    from collections import Counter

    verbs, parts = [], []
    for command in commands:
        text = _label(command, 10_000)
        verb, _, body = text.partition(" ") if text.startswith("RUN ") else ("", "", text)
        verbs.append(verb)
        parts.append([p.strip() for p in body.split("&&")])
    counts = Counter(p for ps in parts for p in set(ps))
    common = {p for p, n in counts.items() if len(commands) >= 3 and n >= max(2, len(commands) / 2)}
    kept = [[p for p in ps if p not in common] or ps[-1:] for ps in parts]
    shared = _shared_word_prefix([" && ".join(k) for k in kept], len(commands))
    labels = []
    for verb, ps, keep in zip(verbs, parts, kept, strict=True):
        text = " && ".join(keep)
        elided = len(keep) < len(ps)
        if shared and text.startswith(shared + " "):
            text, elided = text[len(shared) + 1 :], True
        text = f"{verb} {'… ' if elided else ''}{text}".strip()
        wrapped = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
        if len(wrapped) > lines:  # only the last line that fits is cut, where it runs over
            last = " ".join(wrapped[lines - 1 :])
            wrapped = [*wrapped[: lines - 1], last[: width - 1] + "…"]
        labels.append("\n".join(wrapped))
    return labels


def _shared_word_prefix(texts: list[str], total: int) -> str:
    """The longest run of leading words (at least two) that most of ``texts`` share, as in
    ``apt-get install -y --no-install-recommends`` across a long history; ``""`` if none."""
    if total < 3:
        return ""
    from collections import Counter

    best = ""
    for length in range(2, 12):
        heads = Counter(" ".join(t.split()[:length]) for t in texts if len(t.split()) > length)
        if not heads:
            break
        head, count = heads.most_common(1)[0]
        if count < max(3, total / 2):
            break
        best = head
    return best


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
        _nothing_to_show(
            ax,
            UNKNOWN_SIZES + ";\ndecompress the layers (diff_ids) to learn the uncompressed ones",
            keep_x=True,
        )
    else:
        ax.text(0.01, 0.98, UNKNOWN_SIZES, transform=ax.transAxes, va="top", fontsize=8, color="#555555")


def _nothing_to_show(ax: Axes, message: str, keep_x: bool = False, keep_y: bool = False) -> None:
    """Say in the middle of the axes why there is nothing to draw, and drop meaningless ticks."""
    ax.text(0.5, 0.55, message, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#555555")
    if not keep_x:
        ax.set_xticks([])
    if not keep_y:
        ax.set_yticks([])


def layer_sizes(
    layers: pd.DataFrame, uncompressed: Iterable[int] | None = None, title: str = "Layer sizes"
) -> Figure:
    """Bars per layer: compressed size (what a pull downloads) and, when given, the bytes of
    the files the layer holds (``ImageFiles.content_sizes()``, what ``docker history``
    counts). Empty layers are grey and marked. When sizes span more than two orders of
    magnitude the size axis is logarithmic, so a small layer beside a big one still shows."""
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
            label="file content (uncompressed)",
        )
    for i, empty in zip(x, layers["empty"], strict=True):
        if empty:
            ax.annotate("empty", (i, 0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    many = len(x) > 8  # long labels side by side would overlap: slant them, and thin them out
    every = max(1, math.ceil(len(x) / 30))
    names = distinguishing_labels(
        list(layers["created_by"]), width=22 if many else 16, lines=1 if many else 2
    )
    ax.set_xticks(
        x[::every],
        [f"{i}: {n}" if many else f"{i}\n{n}" for i, n in zip(x, names, strict=True)][::every],
        fontsize=7,
        rotation=45 if many else 0,
        ha="right" if many else "center",
        rotation_mode="anchor",
    )
    ax.set_xlabel("layer (base first) and the step that made it")
    ax.set_ylabel("size")
    if any(known) or uncompressed is not None:
        drawn = [int(s) for s, k in zip(layers["size"], known, strict=True) if k and int(s) > 0]
        drawn += [int(u) for u in (uncompressed or []) if u and int(u) > 0]
        if drawn and max(drawn) > 100 * min(drawn):
            ax.set_yscale("log")
            ax.set_ylim(bottom=min(drawn) / 2)
        else:
            ax.set_ylim(top=ax.get_ylim()[1] * 1.15)  # room for the legend above the tallest bar
        bytes_axis(ax.yaxis, "size" + (", log scale" if ax.get_yscale() == "log" else ""))
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)  # below every label
    return fig


def cumulative_size(aligned: pd.DataFrame, title: str = "Image size, step by step") -> Figure:
    """The image's size after each history step (compressed, and uncompressed when the
    aligned table has it); metadata-only steps add nothing and are marked."""
    fig, ax = _figure()
    steps = list(aligned["step"])
    if not steps:
        _nothing_to_show(ax, "no history: the config records no build steps")
        ax.set_xlabel("history step")
        ax.set_ylabel("cumulative size")
        ax.set_title(title)
        return fig
    ends = [*steps, steps[-1] + 1]  # each step drawn one unit wide, the last one too
    made_layer = aligned["layer_index"].notna()
    sizes_known = bool((aligned.loc[made_layer, "size"] >= 0).all())  # schema 1: -1
    curve = None
    if sizes_known:
        curve = aligned["size"].fillna(0).astype(int).cumsum()
        label = _stored_label(aligned.get("media_type", pd.Series(dtype=object)).dropna())
        ax.stairs(
            curve,
            ends,
            baseline=None,  # no drop to zero at the ends: the size stays what it reached
            color=COMPRESSED,
            label=f"{label}: {human_bytes(curve.iloc[-1])} in all",
            linewidth=2,
        )
    if aligned["uncompressed_size"].notna().any():
        uncompressed = aligned["uncompressed_size"].fillna(0).astype(int).cumsum()
        ax.stairs(
            uncompressed,
            ends,
            baseline=None,
            color=UNCOMPRESSED,
            linestyle="--",
            linewidth=2,
            label=f"file content (uncompressed): {human_bytes(uncompressed.iloc[-1])} in all",
        )
        curve = uncompressed if curve is None else curve
    if not sizes_known:
        _note_unknown(ax, nothing_to_show=curve is None)
    if curve is not None:
        empty = aligned["empty"].astype(bool).to_numpy()  # no layer, or an empty one (schema 1)
        ax.scatter(
            [s + 0.5 for s, e in zip(steps, empty, strict=True) if e],
            [c for c, e in zip(curve, empty, strict=True) if e],
            marker="o",
            facecolors="white",
            edgecolors=EMPTY,
            zorder=3,
            label="metadata-only step",
        )
    every = max(1, math.ceil(len(steps) / 30))  # at most ~30 labels, however long the history
    shown = steps[::every]
    ax.set_xticks(
        [s + 0.5 for s in shown],
        [f"{s}: {_label(c, 16)}" for s, c in zip(steps, aligned["created_by"], strict=True)][::every],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_xlim(steps[0] if steps else 0, ends[-1] if ends else 1)
    ax.set_xlabel("history step" + (f" (every {every}th labelled)" if every > 1 else ""))
    ax.set_ylabel("cumulative size")
    if curve is not None:
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.12)
        bytes_axis(ax.yaxis, "cumulative size")
        ax.legend(fontsize=8, loc="upper left")
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
    ax.bar(
        x,
        wasted,
        bottom=visible,
        color=WASTED,
        hatch="//",
        edgecolor="white",
        label="wasted (superseded later)",
    )
    every = max(1, math.ceil(len(x) / 40))
    ax.set_xticks(x[::every], [str(i) for i in x][::every])
    ax.set_xlabel("layer")
    ax.set_ylim(top=max(ax.get_ylim()[1] * 1.15, 1))
    bytes_axis(ax.yaxis, "file bytes (uncompressed)")
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
        _nothing_to_show(ax, "no step records when it was made (history has no created times)", keep_y=True)
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

    if positions is None:
        positions = layered_layout(graph)
        spread = _spread_ranks(graph, positions)
        # one image's long history flows on in columns; a merge keeps its branches side by side
        positions = _in_columns(positions) if spread is positions else spread
    in_columns = any(x > COLUMN_WIDTH for x, _ in positions.values()) and not any(
        d.get("kind") == "image" for _, d in graph.nodes(data=True)
    )
    xs = [x for x, _ in positions.values()] or [0.0]
    ys = [y for _, y in positions.values()] or [0.0]
    height = 1.5 + 0.55 * (max(ys) - min(ys) + 1)
    width = 4 + 1.3 * (max(xs) - min(xs))
    fig, ax = _figure(min(max(width, 7), 16) + 2.2, min(max(height, 4), 14))  # + the legend's column
    kinds = nx.get_node_attributes(graph, "kind")
    sizes = {node: 110 if kinds.get(node) == "step" else 300 for node in graph}
    colors = []
    for node in graph:
        data = graph.nodes[node]
        color = KIND_COLORS.get(kinds.get(node, ""), "#DDDDDD")
        if data.get("empty"):
            color = EMPTY
        if len(data.get("images", [])) > 1:
            color = SHARED
        if data.get("problem"):
            color = PROBLEM
        colors.append(color)
    node_sizes = [sizes[node] for node in graph]
    layer_nodes = [n for n in graph if kinds.get(n) in ("layer", "v1")]
    step_nodes = [n for n in graph if kinds.get(n) == "step"]
    labels = dict(
        zip(
            layer_nodes,
            distinguishing_labels([graph.nodes[n].get("created_by", "") for n in layer_nodes]),
            strict=True,
        )
    )
    step_text = distinguishing_labels(
        [graph.nodes[n].get("created_by", "") for n in step_nodes], width=22, lines=1
    )
    labels.update(
        {n: f"{graph.nodes[n].get('step')}: {t}" for n, t in zip(step_nodes, step_text, strict=True)}
    )
    nx.draw_networkx_edges(
        graph, positions, ax=ax, arrows=True, arrowsize=8, edge_color="#888888", node_size=node_sizes
    )
    nx.draw_networkx_nodes(
        graph, positions, ax=ax, node_color=colors, node_size=node_sizes, edgecolors="#333333", linewidths=0.5
    )
    shift_left = offset_copy(ax.transData, fig=fig, x=-7, units="points")
    shift_right = offset_copy(ax.transData, fig=fig, x=11, units="points")
    for node, data in graph.nodes(data=True):
        kind = data.get("kind")
        x, y = positions[node]
        if kind in ("layer", "v1"):
            size = data.get("size", -1)
            size_text = f" · {human_bytes(size)}" if isinstance(size, int) and size >= 0 else ""
            text = f"{short(data.get('digest'), 8)}{size_text}\n{labels[node]}"
        elif kind == "step":
            text = labels[node]
        elif kind == "image":
            text = data.get("name", "")
        else:
            text = str(node)[:16]
        left = kind == "step"  # step labels go left, away from the arrows to their layer
        # plain text shifted by a fixed transform: an annotation per node re-solves its
        # placement on every draw (a 130-layer DAG took 12 s to save, now a fraction of it)
        ax.text(
            x,
            y,
            text,
            transform=shift_left if left else shift_right,
            ha="right" if left else "left",
            va="center",
            fontsize=6,
        )
    # room for the labels: they are drawn in points beside the nodes, outside the data range
    has_steps = "step" in kinds.values()
    ax.set_xlim(min(xs) - (1.7 if has_steps else 0.6), max(xs) + 1.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_title(title)
    merged = any(len(data.get("images", [])) > 1 for _, data in graph.nodes(data=True))
    ax.set_xlabel(
        "layers stack upwards from the base"
        + ("; each layer's build steps sit to its left" if has_steps else "")
        + ("; shared layers in green" if merged else ""),
        wrap=True,
    )
    ax.set_ylabel("layer depth (base = 1)" + ("; the stack goes on in the next column" if in_columns else ""))
    ax.set_xticks([])
    ax.set_yticks([])
    _dag_legend(ax, graph)
    return fig


RANK_SPACING = 3.2  # layout units between images' layers side by side: a label, then a step's


def _spread_ranks(graph: nx.DiGraph, positions: dict) -> dict:
    """Put layers that stand side by side (a merge of images) far enough apart for a layer's
    label and the next layer's steps to fit between them; steps keep their place beside
    their layer."""
    from ..analysis.dag import STEP_OFFSET

    kinds = nx.get_node_attributes(graph, "kind")
    per_rank: dict[int, int] = {}
    for node, (_, y) in positions.items():
        if kinds.get(node) != "step":
            per_rank[round(y)] = per_rank.get(round(y), 0) + 1
    if max(per_rank.values(), default=1) < 2:
        return positions
    spread = {}
    for node, (x, y) in positions.items():
        if kinds.get(node) == "step":
            spread[node] = ((x - STEP_OFFSET) * RANK_SPACING + STEP_OFFSET, y)
        else:
            spread[node] = (x * RANK_SPACING, y)
    return spread


ROWS_PER_COLUMN = 25
COLUMN_WIDTH = 4.0  # in layout units: a step's label, the layer, its label


def _in_columns(positions: dict, rows: int = ROWS_PER_COLUMN) -> dict:
    """A history taller than ``rows`` layers flows on in further columns, left to right, so
    the figure grows with the history instead of squeezing it (or leaving a page empty)."""
    top = max((y for _, y in positions.values()), default=0.0)
    if top < rows + 1:
        return positions
    width = (max(x for x, _ in positions.values()) - min(x for x, _ in positions.values())) + COLUMN_WIDTH
    placed = {}
    for node, (x, y) in positions.items():
        column = max(0, int((round(y) - 1) // rows)) if y >= 1 else 0
        placed[node] = (x + column * width, y - column * rows)
    return placed


def _dag_legend(ax: Axes, graph: nx.DiGraph) -> None:
    """A legend for the node colours and shapes this graph uses, and only those."""
    from matplotlib.lines import Line2D

    def marker(color: str, label: str, size: float = 9) -> Line2D:
        return Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=size,
            markerfacecolor=color,
            markeredgecolor="#333333",
            markeredgewidth=0.5,
            label=label,
        )

    data = [d for _, d in graph.nodes(data=True)]
    kinds = {d.get("kind") for d in data}
    entries = []
    if kinds & {"layer", "v1"} and any(not d.get("empty") for d in data if d.get("kind") in ("layer", "v1")):
        entries.append(marker(COMPRESSED, "layer (its digest, size and step)"))
    if any(d.get("empty") and d.get("kind") in ("layer", "v1") for d in data):  # e.g. schema 1 a3ed95
        entries.append(marker(EMPTY, "empty layer (no files)"))
    steps = [d for d in data if d.get("kind") == "step"]
    if any(not d.get("empty") for d in steps):
        entries.append(marker(STEP, "build step that made the layer", 6))
    if any(d.get("empty") for d in steps):
        entries.append(marker(EMPTY, "metadata-only step (no layer)", 6))
    if any(len(d.get("images", [])) > 1 for d in data):
        entries.append(marker(SHARED, "layer shared by several images"))
    if "image" in kinds:
        entries.append(marker(VISIBLE, "image (its top layer)"))
    if any(d.get("problem") for d in data):
        entries.append(marker(PROBLEM, "does not line up (see problems)"))
    if entries:
        ax.legend(handles=entries, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


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
        # one colour per top-level folder (/usr, /app…), so the boxes of one tree read as one
        tops = list(dict.fromkeys(d.split("/")[0] or "/" for d in rows.index))
        palette = [SKY_BLUE, ORANGE, BLUISH_GREEN, YELLOW, REDDISH_PURPLE, "#9ecae1", "#fdd0a2", GREY]
        colour_of = {top: palette[i] if i < len(palette) - 1 else GREY for i, top in enumerate(tops)}
        for rect, (directory, size) in zip(rects, rows.items(), strict=True):
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (rect["x"], rect["y"]),
                    rect["dx"],
                    rect["dy"],
                    facecolor=colour_of[directory.split("/")[0] or "/"],
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
        shown_tops = [t for t in tops if colour_of[t] != GREY][:7]
        ax.legend(
            handles=[
                matplotlib.patches.Patch(
                    facecolor=colour_of[t], label=f"/{t}" if t != "/" else "/ (files at the top)"
                )
                for t in shown_tops
            ]
            + (
                [matplotlib.patches.Patch(facecolor=GREY, label="other folders")]
                if len(shown_tops) < len(tops)
                else []
            ),
            title="top-level folder",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            title_fontsize=7,
            frameon=False,
        )
    ax.set_xticks([])
    ax.set_yticks([])

    def plural(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    shown = (
        f"the {len(rows)} largest of {plural(len(groups), 'folder')}"
        if len(groups) > len(rows)
        else plural(len(groups), "folder")
    )
    ax.set_xlabel(
        f"{shown}, grouped {plural(depth, 'level')} deep; area proportional to bytes "
        f"({human_bytes(int(groups.sum()))} in all)"
    )
    ax.set_title(title)
    return fig


def platform_matrix(matrix: pd.DataFrame, title: str = "Which platform uses which layer") -> Figure:
    """A grid: layers (rows, by short digest) × platforms (columns); filled where used."""
    fig, ax = _figure(4.5 + 1.4 * len(matrix.columns), 1.8 + 0.35 * len(matrix))
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax.imshow(
        matrix.astype(int).values, cmap=ListedColormap(["#FFFFFF", COMPRESSED]), vmin=0, vmax=1, aspect="auto"
    )
    ax.legend(
        handles=[
            Patch(facecolor=COMPRESSED, label="the platform's image uses the layer"),
            Patch(facecolor="#FFFFFF", edgecolor="#999999", label="it does not"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7,
        frameon=False,
    )
    ax.set_xticks(
        range(len(matrix.columns)),
        list(matrix.columns),
        fontsize=8,
        rotation=20,
        ha="right",
        rotation_mode="anchor",
    )
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
    ax.set_xlabel(label)
    if "bytes" in label and values.size and values.min() > 0:
        ax.set_xscale("log")
        bytes_axis(ax.xaxis, label.replace(" (bytes)", "").replace("bytes", "size") + ", log scale")
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


def stacking(files, prefix: str = "", max_paths: int = 24, title: str | None = None) -> Figure:
    """The layers as the union filesystem stacks them, for the paths under ``prefix``: one
    column per path, one row per layer (the base at the bottom) and the merged view on top.
    A cell says what the layer does to the path: writes the copy the container sees, writes a
    copy that a later layer hides (still shipped, so still paid for), deletes it (a whiteout),
    or hides it from below (an opaque directory). ``files`` is an
    :class:`~imgexplore.filetree.ImageFiles`."""
    from ..filetree.rules import is_marker

    prefix = prefix.strip("/")
    under = (lambda p: p == prefix or p.startswith(prefix + "/")) if prefix else (lambda p: True)
    tables = files.tables
    written: dict[str, list[int]] = {}
    for index, table in enumerate(tables):
        own = table[~is_marker(table)]
        for path, kind in zip(own["path"], own["type"], strict=True):
            if under(path) and kind != "dir":
                written.setdefault(path, []).append(index)
    final = files.merged()
    final_layer = dict(zip(final["path"], final["layer"], strict=True))
    markers = files.markers()
    removed: dict[tuple[str, int], str] = {}
    for layer, kind, hides in zip(markers["layer"], markers["kind"], markers["hides"], strict=True):
        for path, layers in written.items():
            lower = [i for i in layers if i < layer]
            inside = (
                path == hides or path.startswith(hides + "/")
                if kind == "whiteout"
                else path.startswith(hides + "/") or not hides
            )
            if inside and lower:
                removed[(path, int(layer))] = kind
    events = {p: len(ls) + sum(1 for (q, _) in removed if q == p) for p, ls in written.items()}
    paths = sorted(sorted(events, key=lambda p: (-events[p], p))[:max_paths])
    # only the layers that touch these paths get a row: a long history stays one screen high
    layers = sorted({i for p in paths for i in written[p]} | {i for (p, i) in removed if p in paths})
    row_of = {layer: row for row, layer in enumerate(layers)}
    rows = len(layers) + 1
    fig, ax = _figure(6.5 + 0.32 * len(paths), 2.6 + 0.4 * rows)
    cell = {"visible": VISIBLE, "hidden": WASTED, "whiteout": BLACK_CELL, "opaque": GREY}
    for x, path in enumerate(paths):
        for layer in written[path]:
            state = "visible" if final_layer.get(path) == layer else "hidden"
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (x - 0.45, row_of[layer] - 0.4),
                    0.9,
                    0.8,
                    facecolor=cell[state],
                    hatch="//" if state == "hidden" else None,
                    edgecolor="white",
                )
            )
        for (p, layer), kind in removed.items():
            if p == path:
                ax.add_patch(
                    matplotlib.patches.Rectangle(
                        (x - 0.45, row_of[layer] - 0.4), 0.9, 0.8, facecolor=cell[kind], edgecolor="white"
                    )
                )
        if path in final_layer:
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (x - 0.45, rows - 1 - 0.4), 0.9, 0.8, facecolor=VISIBLE, edgecolor="#333333"
                )
            )
    names = distinguishing_labels([layer.created_by for layer in files.image.layers], width=24, lines=1)
    ax.set_yticks(
        range(rows),
        [f"{i}: {names[i]}" for i in layers] + ["merged view (what a container sees)"],
        fontsize=7,
    )

    def shown(path: str) -> str:  # the part below the prefix; long ones keep their end
        text = path[len(prefix) + 1 :] if prefix and path != prefix else path
        return text if len(text) <= 28 else "…" + text[-27:]

    ax.set_xticks(
        range(len(paths)),
        [shown(p) for p in paths],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
        fontsize=7,
    )
    ax.set_xlim(-0.6, max(len(paths), 1) - 0.4)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.axhline(rows - 1.5, color="#333333", linewidth=0.8)
    skipped = len(tables) - len(layers)
    ax.set_xlabel(
        f"files under /{prefix}"
        + (f" (the {len(paths)} most touched of {len(written)})" if len(written) > len(paths) else "")
        + (f"; {skipped} layer(s) that touch none of them not shown" if skipped else ""),
        wrap=True,
    )
    ax.set_ylabel("layer (base at the bottom)")
    ax.set_title(title or f"How the layers stack{' under /' + prefix if prefix else ''}")
    ax.legend(
        handles=[
            matplotlib.patches.Patch(facecolor=VISIBLE, label="written here, seen by the container"),
            matplotlib.patches.Patch(
                facecolor=WASTED,
                hatch="//",
                edgecolor="white",
                label="written here, hidden later (still shipped)",
            ),
            matplotlib.patches.Patch(facecolor=BLACK_CELL, label="deleted here (whiteout)"),
            matplotlib.patches.Patch(facecolor=GREY, label="hidden here (opaque directory)"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        frameon=False,
    )
    return fig


BLACK_CELL = "#222222"
