"""Figures checked for content (bars per layer, titles, axis labels), not pixels, and the
report command's output."""

from __future__ import annotations

import subprocess
import sys

import pytest
from matplotlib.patches import Rectangle

import imgexplore
from imgexplore.analysis import dag
from imgexplore.viz import plots


@pytest.fixture(scope="module")
def teaching(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    files = image.files(cache=False)
    return image, files, [t.attrs["tar_size"] for t in files.tables]


def bars(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def labelled(fig):
    ax = fig.axes[0]
    return ax.get_title() and ax.get_xlabel() and (ax.get_ylabel() or not ax.get_yticks().size)


def test_layer_sizes(teaching):
    image, _, uncompressed = teaching
    fig = plots.layer_sizes(image.layers_table(), uncompressed)
    assert len(bars(fig)) == 2 * len(image.layers)  # compressed and uncompressed per layer
    assert labelled(fig)
    heights = sorted(round(b.get_height()) for b in bars(fig))
    assert heights == sorted([layer.size for layer in image.layers] + uncompressed)
    # sizes from 204 B to 51 kB: a log axis, each tick in the unit docker uses (100 B, 1 kB, 10 kB)
    assert fig.axes[0].get_ylabel() == "size, log scale"
    assert fig.axes[0].yaxis.get_major_formatter()(20_000, 0) == "20 kB"
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert ticks and all(t.split()[-1] in ("B", "kB", "MB") for t in ticks), ticks


def test_empty_layers_are_marked(data_dir):
    image = imgexplore.open_image(data_dir / "derived" / "oci")
    fig = plots.layer_sizes(image.layers_table())
    assert len(bars(fig)) == 5
    assert [t.get_text() for t in fig.axes[0].texts] == ["empty"]


def test_other_figures(teaching, data_dir):
    image, files, uncompressed = teaching
    waste = plots.waste(files.waste()[0])
    assert len(bars(waste)) == 2 * len(image.layers) and labelled(waste)
    cumulative = plots.cumulative_size(dag.aligned_table(image, uncompressed))
    assert labelled(cumulative) and len(cumulative.axes[0].get_xticks()) == len(image.history)
    timeline = plots.history_timeline(image.history_table())
    assert labelled(timeline)
    graph = plots.dag(dag.image_dag(image))
    assert graph.axes[0].get_title() == "Layer DAG"
    treemap = plots.treemap(files.merged())
    assert "(36.9 kB in all)" in treemap.axes[0].get_xlabel()  # the whole image (layer 2 alone: 80.9 kB)
    assert "folders" in treemap.axes[0].get_xlabel()
    boxes = {t.get_text().split("\n")[0] for t in treemap.axes[0].texts}
    assert {"/app (files in it)", "/app/bin", "/usr/bin"} <= boxes  # /app's own files beside /app/bin
    images = [
        imgexplore.open_image(data_dir / "multiarch" / "oci", p) for p in ("linux/amd64", "linux/arm64")
    ]
    matrix = plots.platform_matrix(dag.platform_matrix(images))
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == ["linux/amd64", "linux/arm64/v8"]


def test_same_figure_every_run(teaching, tmp_path):
    image, _, uncompressed = teaching
    a = plots.save(plots.layer_sizes(image.layers_table(), uncompressed), tmp_path / "a", ("svg",))[0]
    b = plots.save(plots.layer_sizes(image.layers_table(), uncompressed), tmp_path / "b", ("svg",))[0]
    assert open(a, "rb").read() == open(b, "rb").read()


def test_figures_display_in_notebooks(teaching):
    image, _, _ = teaching
    png = plots.layer_sizes(image.layers_table())._repr_png_()
    assert png.startswith(b"\x89PNG")


def test_report_command(data_dir, tmp_path):
    out = tmp_path / "report"
    subprocess.run(
        [sys.executable, "-m", "imgexplore", "report", str(data_dir / "teaching" / "oci"), "-o", str(out)],
        check=True,
        capture_output=True,
        env={"IMGEXPLORE_CACHE": str(tmp_path / "c"), "PATH": ""},
    )
    names = sorted(p.name for p in out.iterdir())
    for figure in (
        "layer_sizes",
        "cumulative_size",
        "waste",
        "history_timeline",
        "dag",
        "treemap",
        "stacking",
    ):
        assert f"{figure}.png" in names and f"{figure}.svg" in names
    for table in ("layers", "history", "aligned", "files_merged", "changes", "waste_per_layer", "duplicates"):
        assert f"{table}.csv" in names
    index = (out / "index.html").read_text()
    assert index.count("<img ") == 7 and "waste_per_layer.csv" in index
    assert len(names) == 8 + 14 + 1  # tables, figures, index.html: no staging folder left


def test_a_report_that_fails_halfway_leaves_the_previous_one_whole(data_dir, tmp_path, monkeypatch):
    """A failure while writing (a full disk, say: simulated here by making the fourth figure
    file fail, since a real full disk cannot be had in a test) leaves the report folder as it
    was: no half-written files, no staging folder."""
    from imgexplore.report import build_report

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    out = tmp_path / "report"
    build_report(image, out)
    for p in out.iterdir():  # mark the previous report, so that any overwrite would show
        p.write_bytes(b"previous " + p.name.encode())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_save, calls = plots.save, []

    def failing_save(figure, path, formats):
        calls.append(path)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real_save(figure, path, formats)

    monkeypatch.setattr(plots, "save", failing_save)
    with pytest.raises(OSError):
        build_report(image, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_rich_display(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "schema1.json")
    html = image._repr_html_()
    assert (
        "<code title='sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4'>sha256:a3ed95caeb02</code>"
        in html
    )
    assert html.count("<tr>") == 1 + 12
    manifest = image.manifest._repr_html_()
    assert manifest.count("fsLayer") == 12 and "schemaVersion" not in manifest  # a table, not JSON
    layer = image.layers[1]._repr_html_()
    assert "unknown until decompressed" not in layer  # the empty layer's diff_id is known
    index = imgexplore.open_image(data_dir / "multiarch" / "oci").index._repr_html_()
    assert "application/vnd.oci.image.index.v1+json" in index


@pytest.mark.parametrize("which", ["schema2", "schema1", "merged"])
def test_dag_labels_are_inside_the_axes(data_dir, which):
    """Every node is labelled and every label is drawn inside the plot (a chain with no step
    nodes once had all its labels clipped away)."""
    teaching = imgexplore.open_image(data_dir / "teaching" / "oci")
    graph = {
        "schema2": lambda: dag.image_dag(teaching),
        "schema1": lambda: dag.image_dag(imgexplore.open_image(data_dir / "teaching" / "schema1.json")),
        "merged": lambda: dag.merge_dags([teaching, imgexplore.open_image(data_dir / "derived" / "oci")]),
    }[which]()
    figure = plots.dag(graph)
    ax = figure.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    frame = ax.get_window_extent(renderer)
    assert len(ax.texts) == graph.number_of_nodes()
    for text in ax.texts:
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, (
            text.get_text()
        )
    if which == "schema1":
        assert sum("sha256:a3ed95ca" in t.get_text() for t in ax.texts) == 6  # the 6 empty-layer steps


def test_byte_ticks_are_round_in_their_unit(teaching):
    _, files, _ = teaching
    ax = plots.waste(files.waste()[0]).axes[0]
    ax.figure.draw_without_rendering()
    ticks = [t for t in ax.get_yticks() if 0 <= t <= ax.get_ylim()[1]]
    assert ticks[:3] == [0, 10_000, 20_000]  # the tallest bar is 38,000 bytes: 0, 10, 20… kB
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["0", "10", "20"]
    assert ax.get_ylabel() == "file bytes (uncompressed) (kB)"


def test_sizes_that_are_unknown_or_uncompressed_are_not_called_compressed(data_dir):
    """Schema 1 records no layer sizes (-1): no bar or curve may show them as 0. docker save's
    legacy layers are plain tars: their sizes are labelled as stored, not compressed."""
    schema1 = imgexplore.open_image(data_dir / "teaching" / "schema1.json")
    sizes = plots.layer_sizes(schema1.layers_table())
    assert not bars(sizes)
    assert any("schema 1 manifests do not record" in t.get_text() for t in sizes.axes[0].texts)
    cumulative = plots.cumulative_size(dag.aligned_table(schema1))
    assert not cumulative.axes[0].patches and not cumulative.axes[0].get_yticks().size

    saved = imgexplore.open_image(data_dir / "teaching" / "docker-save.tar")
    (legend,) = plots.layer_sizes(saved.layers_table()).legends
    assert [t.get_text() for t in legend.get_texts()] == ["stored (uncompressed tar)"]
    (curve,) = plots.cumulative_size(dag.aligned_table(saved)).axes[0].patches
    assert (
        curve.get_data().values[-1] == 174_080
    )  # the six tars: 40,960 + 51,200 + 40,960 + 10,240 × 2 + 20,480


def test_timeline_and_report_without_build_times(tmp_path):
    """`created` is optional in a config's history (and some builders leave history out): the
    timeline says so instead of failing, and the whole report is still written."""
    from tarmaker import tar_bytes, write_layout

    from imgexplore.report import build_report

    layers = [tar_bytes([{"name": "etc/a", "data": b"one"}]), tar_bytes([{"name": "etc/a", "data": b"two"}])]
    undated = imgexplore.open_image(
        write_layout(tmp_path / "undated", layers, history=[{"created_by": "ADD a"}, {"created_by": "RUN b"}])
    )
    ax = plots.history_timeline(undated.history_table()).axes[0]
    assert not ax.collections and "no created times" in ax.texts[0].get_text()
    partly = imgexplore.open_image(
        write_layout(
            tmp_path / "partly",
            layers,
            history=[{"created": "2024-01-01T00:00:00Z", "created_by": "ADD a"}, {"created_by": "RUN b"}],
        )
    )
    ax = plots.history_timeline(partly.history_table()).axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 1
    assert "1 step(s) without a time not shown" in ax.get_xlabel()
    no_history = imgexplore.open_image(write_layout(tmp_path / "bare", layers, history=[]))
    result = build_report(no_history, tmp_path / "report")
    assert len(result["figures"]) == 14 and (tmp_path / "report" / "history_timeline.svg").exists()
