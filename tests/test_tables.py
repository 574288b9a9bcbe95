"""Notebook tables (imgexplore.tables): what is drawn, checked against values read by hand
from the sample images (digests from their manifests, sizes from `tar -tvzf`)."""

from __future__ import annotations

import pandas as pd

import imgexplore
from imgexplore.analysis import dag
from imgexplore.tables import NONE, UNKNOWN, show, summary

BASE_LAYER = "sha256:1aa08f2122fd41a67c28d71704d62c9e9caa48832ff94a9268a2ac4006b56c69"


def test_digests_are_short_with_the_whole_value_on_hover(data_dir):
    table = show(imgexplore.open_image(data_dir / "teaching" / "oci").layers_table())
    assert table.cells.loc[0, "digest"] == "sha256:1aa08f2122fd"
    assert table.titles.loc[0, "digest"] == BASE_LAYER
    html = table._repr_html_()
    assert f"title='{BASE_LAYER}'" in html
    assert "sha256:1aa08f2122fd</td>" in html
    assert table.cells.loc[0, "size"] == "18.0 kB" and table.titles.loc[0, "size"] == "18,047 bytes"
    assert table.cells.loc[0, "media_type"] == "docker tar.gzip"
    assert table.cells.loc[0, "empty"] == "no"
    assert len(table.frame) == 6 and table.frame is not None  # the data itself untouched


def test_schema1_sizes_and_uncomputed_ids_read_unknown(data_dir):
    table = show(imgexplore.open_image(data_dir / "teaching" / "schema1.json").layers_table())
    assert set(table.cells["size"]) == {UNKNOWN}  # schema 1 records no sizes (-1 in the frame)
    assert table.cells.loc[0, "diff_id"] == UNKNOWN  # not computed before the blobs are read
    assert table.cells.loc[1, "diff_id"] == "sha256:5f70bf18a086"  # the 32-byte empty layer's, known
    assert "-1" not in table.cells.to_numpy() and "nan" not in str(table).lower()
    assert "unknown: not recorded" in table.note


def test_a_step_without_a_layer_shows_nothing_not_unknown(data_dir):
    aligned = dag.aligned_table(imgexplore.open_image(data_dir / "teaching" / "oci"))
    table = show(aligned[["step", "digest", "size", "diff_id"]])
    assert list(table.cells.loc[1]) == ["1", NONE, NONE, NONE]  # ENV: metadata only
    assert table.cells.loc[2, "size"] == "37.2 kB"


def test_modes_times_and_long_commands(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    merged = show(image.files().merged()[["path", "mode", "mtime"]])
    row = list(merged.frame["path"]).index("app/README.md")
    assert merged.cells.loc[row, "mode"] == "0644"
    assert merged.cells.loc[row, "mtime (UTC)"] == "2024-03-01 10:00:00"  # 1709287200
    history = show(image.history_table()[["step", "created", "created_by"]], max_text=30)
    assert history.cells.loc[2, "created (UTC)"] == "2024-03-01 10:14:00"
    command = image.history_table().loc[2, "created_by"]
    assert len(history.cells.loc[2, "created_by"]) == 30 and history.cells.loc[2, "created_by"].endswith("…")
    assert history.titles.loc[2, "created_by"] == command


def test_rows_past_the_limit_are_counted():
    table = show(pd.DataFrame({"path": [f"f{i}" for i in range(50)]}), max_rows=10)
    assert len(table.cells) == 10 and "40 more rows of 50" in table.note


def test_summary_formats_bytes_and_ratios(data_dir):
    _, totals = imgexplore.open_image(data_dir / "teaching" / "oci").files().waste()
    table = summary({k: v for k, v in totals.items() if k != "explanation"})
    values = dict(zip(table.cells["what"], table.cells["value"], strict=True))
    assert values["wasted_bytes"] == "45.6 kB"  # 45649 bytes
    assert values["file_bytes_all_layers"] == "90.5 kB"  # 90525
    assert values["efficiency"] == "49.6%"  # 1 - 45649/90525
    assert values["wasted_files"] == "6"
    assert show(totals).cells.shape[1] == 2  # a dict given to show() is a summary


def test_html_escapes_what_the_image_says():
    table = show(pd.DataFrame({"created_by": ["echo '<script>alert(1)</script>' > x"]}))
    html = table._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
