"""The explorer widget driven as a notebook user drives it (without a browser: the widget's
state is what the browser test sees drawn): a bad image clears the views, a schema 1 image
opens on a layer that holds files, markers say what they hide, globs filter paths."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from imgexplore.viz.widgets import Explorer  # noqa: E402


def test_a_bad_image_clears_what_the_last_one_showed(data_dir):
    explorer = Explorer(str(data_dir / "teaching" / "oci"))
    assert len(explorer.table) and explorer.layer.options
    explorer.source_box.value = str(data_dir / "no-such-image.tar")
    explorer.open_source()
    assert "error:" in explorer.status.value and "no-such-image.tar" in explorer.status.value
    assert explorer.table.empty and not explorer.layer.options and explorer.files is None
    assert explorer.info.value == ""


def test_a_schema1_image_opens_on_its_top_layer_with_files(data_dir):
    explorer = Explorer(str(data_dir / "teaching" / "schema1.json"), blobs=str(data_dir / "teaching" / "oci"))
    assert explorer.selected_layer == 9  # steps 10 and 11 (ENV, CMD) are the 32-byte empty blob
    assert sorted(explorer.table["path"]) == ["app/README.md", "app/bin/server"]  # the chmod layer


def test_markers_say_what_they_hide(data_dir):
    explorer = Explorer(str(data_dir / "teaching" / "oci"))
    explorer.layer.value = 3
    hides = dict(zip(explorer.table["path"], explorer.table["hides"], strict=True))
    assert hides["etc/.wh.motd"] == "deletes etc/motd (from layer 0)"
    assert hides["tmp/.wh.build"] == "deletes tmp/build (from layer 2) and 3 entries below it"
    assert hides["app/config.json"] == ""
    explorer.layer.value = 4
    hides = dict(zip(explorer.table["path"], explorer.table["hides"], strict=True))
    assert hides["var/cache/apt/.wh..wh..opq"] == (
        "hides 3 lower entries in var/cache/apt: var/cache/apt/archives (layer 1), "
        "var/cache/apt/archives/tool_1.0_amd64.deb (layer 1), …"
    )


def test_the_path_box_takes_globs_and_says_when_nothing_matches(data_dir):
    explorer = Explorer(str(data_dir / "teaching" / "oci"))
    explorer.view_toggle.value = "merged"
    explorer.path_filter.value = "*.json"
    assert list(explorer.table["path"]) == ["app/config.json"]
    explorer.path_filter.value = "usr/bin"
    assert explorer.table["path"].str.startswith("usr/bin").all() and len(explorer.table) > 1
    explorer.path_filter.value = "*.nothing"
    assert explorer.table.empty
