"""Every figure measured as drawn, on the bundled images and on generated 30- and 100-step
histories and merges of two and four images: no two pieces of text overlap, nothing is cut
off at the figure's edge, colours that carry meaning have a legend, and distinct build steps
get distinct labels."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore.analysis import dag
from imgexplore.viz import plots


def _history_image(path, steps: int, seed: int = 0):
    """An image like a long Dockerfile: apt-get installs (sizes from 300 B to 200 kB, so that
    they span orders of magnitude) with an ENV every fourth step."""
    rnd = random.Random(seed)
    tars, history = [], []
    for i in range(steps):
        if i % 4 == 3:
            history.append({"created_by": f"/bin/sh -c #(nop)  ENV VAR{i}=value{i}", "empty_layer": True})
            continue
        size = rnd.choice([300, 5_000, 80_000, 200_000])
        tars.append(tar_bytes([{"name": f"opt/pkg{i}/data.bin", "data": rnd.randbytes(size)}]))
        history.append(
            {
                "created_by": "/bin/sh -c apt-get update && apt-get install -y --no-install-recommends "
                f"package-number-{i} && rm -rf /var/lib/apt/lists/*",
                "created": f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00Z",
            }
        )
    return imgexplore.open_image(write_layout(path, tars, history))


@pytest.fixture(scope="module")
def images(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("figures")
    return {
        "teaching": imgexplore.open_image(data_dir / "teaching" / "oci"),
        "derived": imgexplore.open_image(data_dir / "derived" / "oci"),
        "30 steps": _history_image(root / "h30", 30, seed=30),
        "100 steps": _history_image(root / "h100", 100, seed=100),
    }


def _texts(fig):
    """Every visible, non-empty piece of text of the figure (each once), with its drawn box
    and, for slanted text, its unrotated size and angle."""
    renderer = fig.canvas.get_renderer()
    candidates = [*fig.texts, *(t for legend in fig.legends for t in legend.get_texts())]
    for ax in fig.axes:
        candidates += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.get_legend():
            candidates += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():  # axis("off") draws no ticks
            low, high = sorted(axis.get_view_interval())
            candidates += [t.label1 for t in axis.get_major_ticks() if low <= t.get_loc() <= high]
    found, seen = [], set()
    for text in candidates:
        if id(text) in seen or not text.get_visible() or not text.get_text().strip():
            continue
        seen.add(id(text))
        box = text.get_window_extent(renderer)
        angle = text.get_rotation() % 180
        if angle:
            text.set_rotation(0)
            flat = text.get_window_extent(renderer)
            text.set_rotation(angle)
            size = (flat.width, flat.height)
        else:
            size = (box.width, box.height)
        if box.width > 0 and box.height > 0:
            found.append((text.get_text(), box, size, math.radians(angle)))
    return found


def _corners(box, size, angle):
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    w, h = size[0] / 2, size[1] / 2
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + dx * c - dy * s, cy + dx * s + dy * c) for dx, dy in ((-w, -h), (w, -h), (w, h), (-w, h))]


def _overlap(a, b, margin: float = 1.0) -> bool:
    """Whether two (possibly rotated) text rectangles overlap by more than ``margin`` pixels
    (separating-axis test)."""
    axes = []
    for corners in (a, b):
        for i in (0, 1):
            (x0, y0), (x1, y1) = corners[i], corners[i + 1]
            length = math.hypot(x1 - x0, y1 - y0) or 1.0
            axes.append(((x1 - x0) / length, (y1 - y0) / length))
    for ax, ay in axes:
        pa = [x * ax + y * ay for x, y in a]
        pb = [x * ax + y * ay for x, y in b]
        if min(max(pa), max(pb)) - max(min(pa), min(pb)) <= margin:
            return False
    return True


def assert_laid_out(fig, name: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # measured as the PNG export draws it
    fig.draw_without_rendering()
    frame = fig.bbox
    texts = _texts(fig)
    for text, box, _, _ in texts:
        inside = (
            box.x0 >= frame.x0 - 1
            and box.y0 >= frame.y0 - 1
            and box.x1 <= frame.x1 + 1
            and box.y1 <= frame.y1 + 1
        )
        assert inside, f"{name}: {text!r} is cut off at the figure's edge"
    shapes = [(text, _corners(box, size, angle)) for text, box, size, angle in texts]
    for (a, corners_a), (b, corners_b) in itertools.combinations(shapes, 2):
        assert not _overlap(corners_a, corners_b), f"{name}: {a!r} overlaps {b!r}"


def _figures(image):
    from imgexplore.report import report_figures

    return report_figures(image)


@pytest.mark.parametrize("which", ["teaching", "derived", "30 steps", "100 steps"])
def test_no_text_overlaps_or_is_cut_off(images, which):
    for name, fig in _figures(images[which]).items():
        assert_laid_out(fig, f"{which}: {name}")


@pytest.mark.parametrize("count", [2, 4])
def test_merged_dags_are_laid_out(images, data_dir, tmp_path, count):
    """Images on the teaching base, and others beside them."""
    chosen = [
        images["teaching"],
        images["derived"],
        imgexplore.open_image(data_dir / "multiarch" / "oci", "linux/arm64"),
        _history_image(tmp_path / "h5", 5, seed=5),
    ][:count]
    names = ["teaching", "derived", "multiarch arm64", "5 steps"][:count]
    fig = plots.dag(dag.merge_dags(chosen, names))
    assert_laid_out(fig, f"merge of {count}")
    legend = (
        {t.get_text() for t in fig.legends[0].get_texts()}
        if fig.legends
        else {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    )
    assert "layer shared by several images" in legend  # teaching and derived share their base
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert set(names) <= labels  # images are named by what the caller called them


def test_colours_that_carry_meaning_have_a_legend(images):
    for which in ("teaching", "30 steps"):
        figures = _figures(images[which])
        for name in ("layer_sizes", "cumulative_size", "waste", "history_timeline", "dag"):
            fig = figures[name]
            legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
            assert legends, f"{which}: {name} has no legend"


def test_distinct_steps_get_distinct_labels(images):
    history = images["100 steps"].history_table()
    labels = plots.distinguishing_labels(list(history["created_by"]))
    made = [label for label, empty in zip(labels, history["empty_layer"], strict=True) if not empty]
    assert len(set(made)) == len(made) == 75
    assert all("package-number-" in label and "apt-get update" not in label for label in made)


def test_the_dag_grows_with_the_history_not_with_empty_space(images):
    """Area per labelled node: at 100 steps no larger than at 5 (here: the teaching image's
    12 steps, and a 5-step history)."""

    def area_per_label(image):
        fig = plots.dag(dag.image_dag(image))
        width, height = fig.get_size_inches()
        return width * height / len(fig.axes[0].texts)

    small = area_per_label(images["teaching"])
    large = area_per_label(images["100 steps"])
    assert large <= small


def test_the_platform_matrix_is_laid_out_with_a_legend(data_dir):
    images = [
        imgexplore.open_image(data_dir / "multiarch" / "oci", p) for p in ("linux/amd64", "linux/arm64")
    ]
    fig = plots.platform_matrix(dag.platform_matrix(images))
    assert_laid_out(fig, "platform matrix")
    assert fig.axes[0].get_legend() is not None


def test_the_stacking_diagram_says_what_each_layer_does(images):
    from matplotlib.colors import to_hex

    from imgexplore.viz import style

    files = images["teaching"].files()
    fig = plots.stacking(files)
    ax = fig.axes[0]
    paths = [t.get_text() for t in ax.get_xticklabels()]
    cells = {}
    for patch in ax.patches:
        x, y = round(patch.get_x() + 0.45), round(patch.get_y() + 0.4)
        cells[(paths[x], y)] = (to_hex(patch.get_facecolor()), bool(patch.get_hatch()))
    top = len(files.tables)  # every layer of the teaching image touches one of the paths shown
    assert cells[("etc/motd", 0)] == (style.WASTED.lower(), True)  # shipped in the base, never seen
    assert cells[("etc/motd", 3)] == (plots.BLACK_CELL, False)  # the whiteout of layer 3
    assert ("etc/motd", top) not in cells  # not in the merged view
    assert cells[("app/config.json", 3)][0] == style.VISIBLE.lower() and cells[("app/config.json", top)]
    assert cells[("var/cache/apt/pkgcache.bin", 4)][0] == style.GREY.lower()  # hidden by the opaque marker


def test_a_log_bytes_axis_says_each_unit_on_its_ticks():
    """A CDF of sizes from 100 B to 2 MB: ticks at powers of ten, each with its unit (it once
    read 1e-05 … 5 in MB, or 100 B / 1000 B / 9.8 KB)."""
    import pandas as pd

    figure = plots.cdf(pd.Series([100, 1000, 9800, 50_000, 2_000_000]), "layer size (bytes)")
    figure.canvas.draw()
    axis = figure.axes[0]
    ticks = [t.get_text() for t in axis.get_xticklabels() if t.get_text()]
    assert {"100 B", "1 kB", "10 kB", "100 kB", "1 MB"} <= set(ticks)
    assert all(t.split()[0].isdigit() and t.split()[1] in ("B", "kB", "MB", "GB") for t in ticks), ticks
    assert axis.get_xlabel() == "layer size, log scale"


@pytest.mark.parametrize("which", ["teaching", "30 steps"])
def test_the_host_figures_are_laid_out(images, which, tmp_path):
    """The store drawn (image -> chain ids -> cache-ids <- short links) and the mount as a
    stack, for the teaching image and a 30-step history: nothing overlaps or is cut off."""
    from imgexplore.host.container import create_container
    from imgexplore.host.docker import write_docker_store
    from imgexplore.host.mount import docker_mount
    from imgexplore.viz import hostplots

    store = write_docker_store([images[which]], tmp_path / "root", seed=1, privileged=False)
    tree = hostplots.host_tree(store)
    assert_laid_out(tree, f"host tree ({which})")
    assert tree.axes[0].get_legend() is not None
    container = create_container(tmp_path / "root", store.layers["chain_id"].iloc[-1], seed=2)
    stack = hostplots.mount_stack(docker_mount(tmp_path / "root", container.mount_id), store)
    assert_laid_out(stack, f"mount stack ({which})")
    labels = [t.get_text() for t in stack.axes[0].texts]
    assert "upperdir" in labels and "merged" in labels
    assert sum(label.startswith("lowerdir[") for label in labels) == len(images[which].layers) + 1  # + init
