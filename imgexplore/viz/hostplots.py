"""Figures of the host side: Docker's store drawn as the links between its directories, and
an overlay mount drawn as the stack the kernel merges."""

from __future__ import annotations

import os

from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from ..digest import short
from . import style
from .plots import ReportFigure, _figure

_BOX_HEIGHT = 0.62


def _box(ax, x: float, y: float, width: float, text: str, colour: str) -> None:
    ax.add_patch(
        Rectangle((x, y - _BOX_HEIGHT / 2), width, _BOX_HEIGHT, facecolor=colour, edgecolor="#333333", lw=0.8)
    )
    ax.text(x + width / 2, y, text, ha="center", va="center", fontsize=8, family="monospace")


def _arrow(
    ax, start: tuple[float, float], end: tuple[float, float], colour: str, style_: str = "-|>"
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start, end, arrowstyle=style_, mutation_scale=10, color=colour, lw=1.0, shrinkA=0, shrinkB=0
        )
    )


def host_tree(store, image: int = 0, title: str | None = None) -> ReportFigure:
    """Docker's store for one image of ``store`` (a :class:`~imgexplore.host.docker.DockerStore`):
    the config in ``imagedb``, one ``layerdb`` directory per chain id (``parent`` files link
    them), the ``overlay2`` cache-id directory each names, and the short link in ``l/`` that
    points at that directory's ``diff``. Base layer at the bottom."""
    image_row = store.images.iloc[image]
    names = store.layers["image"].unique()
    layers = store.layers[store.layers["image"] == names[image]].reset_index(drop=True)
    n = len(layers)
    fig, ax = _figure(12.5, 1.6 + 0.78 * max(n, 2))
    columns = {"image": 0.0, "chain": 3.3, "cache": 7.0, "link": 10.6}
    widths = {"image": 2.6, "chain": 3.0, "cache": 3.0, "link": 2.6}
    middle = (n - 1) / 2
    _box(
        ax,
        columns["image"],
        middle,
        widths["image"],
        f"imagedb/content/\nsha256/{image_row['image_id'][7:19]}",
        style.STEP,
    )
    for row in layers.itertuples():
        y = row.Index
        shared = not row.written
        _box(
            ax,
            columns["chain"],
            y,
            widths["chain"],
            f"layerdb/sha256/\n{row.chain_id[7:19]}",
            style.SHARED if shared else style.VISIBLE,
        )
        _box(ax, columns["cache"], y, widths["cache"], f"overlay2/\n{row.cache_id[:12]}", style.UNCOMPRESSED)
        _box(ax, columns["link"], y, widths["link"], f"l/{row.link}", style.GREY)
        _arrow(ax, (columns["image"] + widths["image"], middle), (columns["chain"], y), style.BLACK)
        _arrow(ax, (columns["chain"] + widths["chain"], y), (columns["cache"], y), style.BLUE)
        _arrow(ax, (columns["link"], y), (columns["cache"] + widths["cache"], y), style.VERMILLION)
        if y > 0:  # the parent file: to the chain id below
            x = columns["chain"] + 0.25
            _arrow(ax, (x, y - _BOX_HEIGHT / 2), (x, y - 1 + _BOX_HEIGHT / 2), style.REDDISH_PURPLE)
        ax.text(columns["link"] + widths["link"] + 0.15, y, f"layer {row.layer}", va="center", fontsize=8)
    ax.set_xlim(-0.2, columns["link"] + widths["link"] + 1.1)
    ax.set_ylim(-0.8, n - 0.2)
    ax.axis("off")
    handles = [
        Patch(facecolor=style.STEP, edgecolor="#333333", label="image config (its sha256 is the image id)"),
        Patch(
            facecolor=style.VISIBLE,
            edgecolor="#333333",
            label="layer by chain id (diff, size, parent, tar-split)",
        ),
    ]
    if (~layers["written"]).any():
        handles.append(
            Patch(facecolor=style.SHARED, edgecolor="#333333", label="layer another image brought (shared)")
        )
    handles += [
        Patch(
            facecolor=style.UNCOMPRESSED,
            edgecolor="#333333",
            label="overlay2 directory: diff/, link, lower, work/",
        ),
        Patch(facecolor=style.GREY, edgecolor="#333333", label="short link, kept short for mount data"),
        Line2D([], [], color=style.BLUE, marker=">", label="cache-id file names the directory"),
        Line2D([], [], color=style.REDDISH_PURPLE, marker="v", label="parent file: the chain id below"),
        Line2D([], [], color=style.VERMILLION, marker="<", label="symlink to ../<cache-id>/diff"),
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False
    )
    name = ", ".join(image_row["names"]) if len(image_row["names"]) else short(image_row["image_id"])
    ax.set_title(title or f"Docker's store for {name}: from image id to layer directories")
    return fig


def mount_stack(spec, store=None, title: str | None = None) -> ReportFigure:
    """An overlay mount (:class:`~imgexplore.host.mount.OverlayMount`) as the stack the kernel
    merges: the lower directories (the last is the base), the upper directory a container
    writes to, the work directory beside it, and the merged view on top. With ``store`` (a
    DockerStore), each short link is named by its layer."""
    options = dict(part.split("=", 1) for part in spec.options.split(",") if "=" in part)
    lowers = options.get("lowerdir", "").split(":")
    by_link = {}
    if store is not None:
        by_link = {
            row.link: f"layer {row.layer}, cache-id {row.cache_id[:12]}" for row in store.layers.itertuples()
        }
    rows = [
        ("merged", "what the container sees: each path from the topmost directory that has it", style.VISIBLE)
    ]
    if "upperdir" in options:
        rows.append(
            ("upperdir", _tail(options["upperdir"]) + "  (writes, copies-up, whiteouts)", style.ORANGE)
        )
    for position, lower in enumerate(lowers):
        link = os.path.basename(lower)
        known = by_link.get(link, "")
        if not known and lower.endswith("/diff"):
            known = "this layer's own diff"
        elif not known and position == 0 and "upperdir" in options:
            known = "the container's init layer"
        colour = style.BLUISH_GREEN if known == "the container's init layer" else style.GREY
        rows.append((f"lowerdir[{position}]", f"{_tail(lower)}  {known}".rstrip(), colour))
    fig, ax = _figure(11.0, 1.4 + 0.5 * len(rows))
    for y, (label, text, colour) in enumerate(reversed(rows)):
        ax.add_patch(Rectangle((0, y), 8.5, 0.8, facecolor=colour, edgecolor="#333333", lw=0.8))
        ax.text(0.15, y + 0.4, text, va="center", fontsize=8, family="monospace")
        ax.text(-0.15, y + 0.4, label, va="center", ha="right", fontsize=9)
    if "workdir" in options:
        y = len(rows) - 2
        ax.add_patch(
            Rectangle((8.8, y), 2.2, 0.8, facecolor="white", edgecolor="#333333", lw=0.8, hatch="//")
        )
        ax.text(
            9.9, y + 0.4, "workdir\n(the kernel's scratch)", ha="center", va="center", fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )  # fmt: skip
    ax.set_xlim(-2.2, 11.2)
    ax.set_ylim(-0.3, len(rows) + 0.1)
    ax.axis("off")
    ax.set_title(title or f"The overlay mount: {len(lowers)} lower directories, nearest first below the top")
    return fig


def _tail(path: str, keep: int = 3) -> str:
    """The last ``keep`` components of a path, for a label; cache-ids cut to 12 characters."""
    parts = [part[:12] + "…" if len(part) == 64 else part for part in path.split("/")]
    return ("…/" if len(parts) > keep else "") + "/".join(parts[-keep:])
