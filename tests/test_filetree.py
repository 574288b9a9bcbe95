"""File trees of the teaching image (every change class, checked by path, and the wasted
bytes worked out by hand from scripts/make_sample_data.py) and of real layers, whose entry
counts are compared with GNU tar's listing."""

from __future__ import annotations

import gzip
import pathlib
import subprocess

import pandas as pd
import pytest
from helpers import sh
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore.filetree import rules as filetree
from imgexplore.filetree.layertable import TreeCache, layer_table, tar_table


@pytest.fixture
def cache(tmp_path):
    return TreeCache(tmp_path / "cache")


@pytest.fixture(scope="module")
def teaching(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    return image.files(cache=False)


def _changes(files, layer, change):
    table = files.changes(layer)
    return table[table["change"] == change]


def test_layer_tables_match_gnu_tar(teaching, data_dir):
    for layer, table in zip(teaching.image.layers, teaching.tables, strict=True):
        blob = data_dir / "teaching/oci/blobs/sha256" / layer.digest.split(":")[1]
        listed = sh(f"tar -tzf {blob}").splitlines()
        assert len(table) == len(listed)
        assert sorted(table["path"]) == sorted(p.rstrip("/") for p in listed)
        assert table.attrs["diff_id"] == layer.diff_id


def test_overwritten_file_is_modified(teaching):
    modified = _changes(teaching, 3, "modified").set_index("path")
    assert list(modified.index) == ["app/config.json"]
    row = modified.loc["app/config.json"]
    assert (row["detail"], row["prev_layer"], row["prev_size"], row["size"]) == ("content", 2, 49, 65)


def test_whiteouts_delete_exactly_the_paths_below_them(teaching):
    deleted = _changes(teaching, 3, "deleted")
    assert sorted(deleted["path"]) == [
        "etc/motd",
        "tmp/build",
        "tmp/build/cache.o",
        "tmp/build/objects",
        "tmp/build/objects/main.o",
    ]
    assert set(deleted["detail"]) == {"whiteout"}
    merged = set(teaching.merged()["path"])
    assert "tmp" in merged and not any(p.startswith("tmp/") for p in merged)
    assert "etc/motd" not in merged and "etc/passwd" in merged


def test_opaque_directory_hides_only_lower_contents(teaching):
    deleted = _changes(teaching, 4, "deleted")
    assert sorted(deleted["path"]) == [
        "var/cache/apt/archives",
        "var/cache/apt/archives/tool_1.0_amd64.deb",
        "var/cache/apt/pkgcache.bin",
    ]
    assert set(deleted["detail"]) == {"opaque"}
    # the layer's own README, listed before the marker in the tar, survives
    merged = teaching.merged()
    apt = merged[merged["path"].str.startswith("var/cache/apt")]
    assert list(apt["path"]) == ["var/cache/apt", "var/cache/apt/README"]
    assert list(apt["layer"]) == [4, 4]
    # the marker itself is listed in the layer table, never in the merged view
    layer4 = teaching.layer(4)
    assert layer4.loc[layer4["opaque"], "path"].tolist() == ["var/cache/apt/.wh..wh..opq"]
    assert ".wh." not in "".join(merged["path"])


def test_metadata_only_change(teaching):
    row = _changes(teaching, 5, "modified").set_index("path").loc["app/bin/server"]
    assert row["detail"] == "metadata"
    merged = teaching.merged().set_index("path")
    assert merged.loc["app/bin/server", "mode"] == 0o700
    assert merged.loc["app/bin/server", "layer"] == 5


def test_links_and_long_path(teaching):
    merged = teaching.merged().set_index("path")
    assert merged.loc["usr/lib/libteach.so", "type"] == "symlink"
    assert merged.loc["usr/lib/libteach.so", "linkname"] == "libteach.so.1"
    assert merged.loc["app/bin/server-hardlink", "type"] == "hardlink"
    assert merged.loc["app/bin/server-hardlink", "linkname"] == "app/bin/server"
    long_paths = [p for p in merged.index if len(p) > 100]
    assert long_paths == [
        "app/data/very/deeply/nested/directory/structure/kept/for/teaching/"
        "a-file-name-long-enough-to-need-a-pax-header-in-the-tar.txt"
    ]


def test_wasted_space_worked_out_by_hand(teaching):
    """Superseded copies, from the generator: layer 0 etc/motd (600, whiteout in 3) and
    var/cache/apt/pkgcache.bin (8000, opaque in 4); layer 1 the .deb (20000, opaque in 4);
    layer 2 app/config.json v1 (49, overwritten in 3), tmp/build/cache.o (12000) and
    tmp/build/objects/main.o (5000, whiteout in 3). app/bin/server of layer 2 (8000) is
    replaced in layer 5 but still reachable through app/bin/server-hardlink: not wasted."""
    per_layer, summary = teaching.waste()
    assert per_layer["wasted_bytes"].tolist() == [8600, 20000, 17049, 0, 0, 0]
    assert per_layer["wasted_files"].tolist() == [2, 1, 3, 0, 0, 0]
    assert per_layer["superseded_by"].tolist() == ["3,4", "4", "3", "", "", ""]
    all_file_bytes = sum(int(t.loc[t["type"] == "file", "size"].sum()) for t in teaching.tables)
    assert summary["file_bytes_all_layers"] == all_file_bytes == 90525
    assert summary["wasted_bytes"] == 45649
    assert summary["efficiency"] == pytest.approx(1 - 45649 / 90525)
    assert "hardlink" in summary["explanation"]


def test_duplicates_and_lineage(teaching):
    duplicates = teaching.duplicates()
    assert duplicates["paths"].tolist() == [["app/bin/server"]]
    assert duplicates["layers"].tolist() == [[2, 5]]
    assert duplicates["extra_bytes"].tolist() == [8000]
    lineage = teaching.lineage("/tmp/build/cache.o")
    assert lineage[["layer", "change"]].values.tolist() == [[2, "added"], [3, "deleted"]]
    assert lineage["created_by"].iloc[1].startswith("/bin/sh -c sed -i")


def test_directory_sizes(teaching):
    sizes = teaching.directory_sizes(max_depth=2).set_index("directory")
    merged = teaching.merged()
    assert sizes.loc["", "bytes"] == int(merged.loc[merged["type"] == "file", "size"].sum()) == 36876
    assert sizes.loc["usr", "bytes"] == 3000 + 16000 + 6000 + 2000
    assert sizes.loc["usr/bin", "files"] == 2


def test_merged_view_after_each_layer(teaching):
    assert "tmp/build/cache.o" in set(teaching.merged(2)["path"])
    assert "tmp/build/cache.o" not in set(teaching.merged(3)["path"])
    assert "var/cache/apt/pkgcache.bin" in set(teaching.merged(3)["path"])


# -- real layers ---------------------------------------------------------------------------


def test_regclient_whiteout_layer(realdata):
    with open(realdata / "regclient__regclient/testdata/layer-wh.tar", "rb") as f:
        table = tar_table(f)
    assert len(table) == 5
    assert table["whiteout"].dropna().tolist() == ["layer2.txt"]
    assert table.loc[table["opaque"], "path"].tolist() == ["exdir/.wh..wh..opq"]
    assert table.loc[table["path"] == "layer1.txt", ["uid", "gid", "uname"]].values.tolist() == [
        [1000, 1000, "bmitch"]
    ]


@pytest.mark.parametrize(
    "archive",
    [
        "test-docker-image.tar",
        "test-kaniko-image.tar",
        "test-oci-gzip-image.tar",
        "test-oci-zstd-image.tar",
        "test-oci-uncompressed-image.tar",
        "test-oci-estargz-image.tar",
    ],
)
def test_dive_layers_match_gnu_tar(realdata, archive, cache, tmp_path):
    path = realdata / "wagoodman__dive/.data" / archive
    image = imgexplore.open_image(path)
    for layer in image.layers:
        table = layer_table(layer, cache=cache)
        blob = tmp_path / "blob"
        with image.source.open_blob(layer.digest) as src:
            blob.write_bytes(src.read())
        flag = {"gzip": "-z", "zstd": "--zstd", "none": ""}[layer_compression(blob)]
        gnu = sh(f"tar {flag} -tf {blob}").splitlines()
        assert len(table) == len(gnu), (archive, layer.index)


def layer_compression(path):
    head = open(path, "rb").read(4)
    return "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == b"\x28\xb5\x2f\xfd" else "none"


def test_dive_image_waste(realdata):
    """dive's test image copies /somefile.txt around and deletes /root/example."""
    image = imgexplore.open_image(realdata / "wagoodman__dive/.data/test-docker-image.tar")
    files = image.files(cache=False)
    merged = set(files.merged()["path"])
    assert "root/example" not in merged and "root/saved.txt" in merged
    lineage = files.lineage("root/example/somefile1.txt")
    assert lineage["change"].tolist() == ["added", "modified", "deleted"]
    assert lineage["layer"].tolist() == [3, 4, 9]
    assert lineage["detail"].tolist() == ["", "metadata", "whiteout"]  # chmod 444, then rm -rf
    per_layer, summary = files.waste()
    expected = _waste_by_replaying(image)
    assert per_layer["wasted_bytes"].tolist() == expected
    assert summary["wasted_bytes"] == sum(expected) == 32_025  # five superseded 6,405-byte copies


@pytest.mark.parametrize(
    "where",
    ["data/teaching/oci", "data/derived/oci", "realdata/wagoodman__dive/.data/test-kaniko-image.tar"],
)
def test_waste_matches_an_independent_replay(where, data_dir, request):
    root, _, rest = where.partition("/")
    base = data_dir if root == "data" else request.getfixturevalue("realdata")  # skips when absent
    image = imgexplore.open_image(base / rest)
    per_layer, _ = image.files(cache=False).waste()
    assert per_layer["wasted_bytes"].tolist() == _waste_by_replaying(image)


def _waste_by_replaying(image) -> list[int]:
    """Wasted bytes per layer worked out independently: Python's tarfile reads each layer and
    the layers are replayed onto a dict (path -> (layer, type, size)) by the OCI rules; a
    regular file's bytes are wasted when a later layer replaces or deletes it, unless a hardlink
    of its own layer that survives to the end still reaches it."""
    import tarfile

    fs: dict[str, tuple[int, str, int]] = {}
    wasted = [0] * len(image.layers)
    lost: list[tuple[int, str, int]] = []

    def drop(path: str) -> None:
        layer, kind, size = fs.pop(path)
        if kind == "file" and size > 0:
            lost.append((layer, path, size))

    for index, layer in enumerate(image.layers):
        with layer.open_tar() as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            members = [(m.name.strip("/").removeprefix("./"), m) for m in tar]
        for name, _ in members:
            parent, _, base = name.rpartition("/")
            below = (parent + "/") if parent else ""
            if base == ".wh..wh..opq":
                for path in [p for p in fs if p.startswith(below)]:
                    drop(path)
            elif base.startswith(".wh."):
                gone = below + base[4:]
                for path in [p for p in fs if p == gone or p.startswith(gone + "/")]:
                    drop(path)
        for name, member in members:
            if name.rpartition("/")[2].startswith(".wh."):
                continue
            kind = "dir" if member.isdir() else "file" if member.isfile() else "link"
            if name in fs:
                if fs[name][1] == "dir" and kind != "dir":
                    for path in [p for p in fs if p.startswith(name + "/")]:
                        drop(path)
                drop(name)
            fs[name] = (index, kind, member.size if member.isfile() else 0)
            if member.islnk():
                fs[name] = (index, "hardlink:" + member.linkname.strip("/"), 0)
    reachable = {
        (layer, kind.split(":", 1)[1]) for layer, kind, _ in fs.values() if kind.startswith("hardlink:")
    }
    for layer, path, size in lost:
        if (layer, path) not in reachable:
            wasted[layer] += size
    return wasted


def test_ggcr_whiteout_archive(realdata):
    image = imgexplore.open_image(realdata / "google__go-containerregistry/v1/tarball/testdata/whiteout.tar")
    files = image.files(cache=False)
    markers = files.all_layers()
    assert markers["whiteout"].notna().sum() + markers["opaque"].sum() >= 1
    changes = files.changes()
    assert (changes["change"] == "deleted").any()


# -- cache -----------------------------------------------------------------------------------


def test_cache_reopens_without_the_blob(tmp_path, data_dir, cache):
    import shutil

    layout = tmp_path / "oci"
    shutil.copytree(data_dir / "teaching" / "oci", layout)
    image = imgexplore.open_image(layout)
    fresh = layer_table(image.layers[2], cache=cache)
    (layout / "blobs/sha256" / image.layers[2].digest.split(":")[1]).unlink()
    again = layer_table(imgexplore.open_image(layout).layers[2], cache=cache)
    pd.testing.assert_frame_equal(fresh, again)
    assert again.attrs["diff_id"] == image.layers[2].diff_id
    assert again.attrs["tar_size"] == fresh.attrs["tar_size"] == 40960


def test_a_table_cached_in_the_background_is_kept_once_waited_for(
    tmp_path, data_dir, cache, caplog, monkeypatch
):
    """``write_behind`` hands the table to the cache on a thread of its own; once waited
    for, it is there and reads back equal. A cache that cannot be written only warns, and
    the command line waits for its writes before it returns."""
    import logging

    from imgexplore import cli
    from imgexplore.filetree.arrowtable import layer_arrow, origin, wait_for_cache_writes

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    layer = image.layers[2]
    table = layer_arrow(layer, cache=cache, write_behind=True)
    wait_for_cache_writes()
    assert cache.has_table_for(layer.digest)
    assert cache.get(origin(table)[0]).equals(table)

    (tmp_path / "a-file").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="imgexplore"):
        again = layer_arrow(layer, cache=TreeCache(tmp_path / "a-file" / "cache"), write_behind=True)
        wait_for_cache_writes()
    assert again.equals(table)
    assert "could not cache the file table of layer" in caplog.text

    monkeypatch.setenv("IMGEXPLORE_CACHE", str(tmp_path / "cli-cache"))
    layout = str(data_dir / "teaching" / "oci")
    assert cli.main(["tree", layout, "--layer", "2", "--format", "csv"]) == 0
    assert TreeCache(tmp_path / "cli-cache" / "filetree").has_table_for(layer.digest)


def test_schema1_layer_finds_its_cache_entry_by_digest(data_dir, cache):
    image = imgexplore.open_image(data_dir / "teaching/schema1.json", blobs=str(data_dir / "teaching/oci"))
    layer = image.layers[0]
    assert layer.diff_id is None
    layer_table(layer, cache=cache)
    again = imgexplore.open_image(data_dir / "teaching/schema1.json").layers[0]  # no blobs at all now
    table = layer_table(again, cache=cache)
    assert (
        again.diff_id
        == table.attrs["diff_id"]
        == "sha256:7a3f303076ad1bfe898d332d7e62afd432495ace7cbf9eab4fad8684f70480f5"
    )


def test_wrong_diff_id_is_refused_and_not_cached(tmp_path, cache):
    layout = write_layout(tmp_path / "oci", [tar_bytes([{"name": "a", "data": b"x"}])])
    image = imgexplore.open_image(layout)
    image.layers[0].diff_id = "sha256:" + "0" * 64
    with pytest.raises(imgexplore.DigestMismatchError, match="config says its diff_id"):
        layer_table(image.layers[0], cache=cache)
    assert not list(cache.root.rglob("*.arrow")) and not list(cache.root.rglob("by-digest/*"))


def test_an_uncompressed_layer_is_hashed_once_and_still_checked(tmp_path, cache):
    """For an uncompressed tar blob the digest check as it is read gives the diff_id, so the
    lister does not hash the bytes again; a blob changed on disk (same size) still fails,
    and nothing is cached for it."""
    import hashlib

    from imgexplore import mediatypes as mt

    raw = tar_bytes(
        [{"name": "etc/motd", "data": b"hello\n"}, {"name": "bin/tool", "data": b"\x7fELF" * 300}]
    )
    layout = write_layout(tmp_path / "oci", [raw], compress=lambda tar: tar, media_type=mt.OCI_LAYER_TAR)
    layer = imgexplore.open_image(layout).layers[0]
    stream, checked = layer.open_tar_checked()
    stream.close()
    assert checked == layer.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    table = layer_table(layer, cache=cache)
    assert table.attrs["diff_id"] == layer.digest and table.attrs["tar_size"] == len(raw)
    assert table.set_index("path").loc["bin/tool", "sha256"] == hashlib.sha256(b"\x7fELF" * 300).hexdigest()

    other = write_layout(tmp_path / "other", [raw], compress=lambda tar: tar, media_type=mt.OCI_LAYER_TAR)
    blob = pathlib.Path(other) / "blobs/sha256" / layer.digest.split(":")[1]
    damaged = bytearray(blob.read_bytes())
    damaged[raw.index(b"hello")] ^= 0x20  # "Hello": a file's content, not a header
    blob.write_bytes(bytes(damaged))
    fresh = TreeCache(tmp_path / "fresh-cache")
    with pytest.raises(imgexplore.DigestMismatchError, match="does not match its digest"):
        layer_table(imgexplore.open_image(other).layers[0], cache=fresh)
    assert not list(fresh.root.rglob("*.arrow"))
    gz = write_layout(tmp_path / "gz", [raw])
    stream, checked = imgexplore.open_image(gz).layers[0].open_tar_checked()
    stream.close()
    assert checked is None  # a compressed blob's digest is not its tar's


def test_damaged_cache_entry_is_dropped(tmp_path, data_dir, cache):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    layer_table(image.layers[0], cache=cache)
    entry = next(cache.root.glob("*.arrow"))
    entry.write_bytes(b"not an Arrow file")
    table = layer_table(image.layers[0], cache=cache)
    assert len(table) == 19


@pytest.mark.parametrize("damage", ["short table", "zeroed table", "garbage alias", "empty alias"])
def test_what_a_crash_can_leave_in_the_cache_is_remade(data_dir, cache, damage):
    """Cache files are renamed into place complete but not fsynced: after a crash a file may
    be short or zero-filled. Reading one remakes it and gives the same table."""
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    first = layer_table(image.layers[0], cache=cache)
    entry = next(cache.root.glob("*.v2.arrow"))
    alias = next(cache.root.glob("by-digest/*"))
    if damage == "short table":
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    elif damage == "zeroed table":
        entry.write_bytes(bytes(entry.stat().st_size))
    elif damage == "garbage alias":
        alias.write_bytes(b"\xff\xfe\x00 not a digest")
    else:
        alias.write_bytes(b"")
    again = layer_table(imgexplore.open_image(data_dir / "teaching" / "oci").layers[0], cache=cache)
    pd.testing.assert_frame_equal(first, again)
    assert alias.read_text() == image.layers[0].diff_id == first.attrs["diff_id"]
    assert cache.get(first.attrs["diff_id"]) is not None


def test_a_table_cached_by_an_earlier_version_is_ignored_and_replaced(tmp_path, data_dir, cache):
    """Earlier versions kept Parquet files (``<hex>.parquet``): never read, removed when the
    layer is listed again."""
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    first = layer_table(image.layers[0], cache=cache)
    entry = next(cache.root.glob("*.v2.arrow"))
    older = entry.with_name(entry.name.split(".")[0] + ".parquet")
    older.write_bytes(b"PAR1 an old cache entry")
    entry.unlink()
    again = layer_table(imgexplore.open_image(data_dir / "teaching" / "oci").layers[0], cache=cache)
    assert again["path"].tolist() == first["path"].tolist() and len(again) == 19
    assert entry.is_file() and not older.exists()


def test_cache_files_are_lz4_and_zstd_ones_from_an_earlier_version_still_read(data_dir, cache):
    """Tables are kept compressed with LZ4; a file an earlier version compressed with zstd
    (same schema, same name) is read back as it is, not listed again."""
    import pyarrow as pa

    from imgexplore.filetree.arrowtable import layer_arrow

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    table = layer_arrow(image.layers[2], cache=cache)
    entry = next(cache.root.glob("*.v2.arrow"))

    def written(codec: str) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    assert entry.read_bytes() == written("lz4") != written("zstd")
    with (
        pa.OSFile(str(entry), "wb") as f,
        pa.ipc.new_file(f, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer,
    ):
        writer.write_table(table)
    mtime = entry.stat().st_mtime_ns
    again = layer_arrow(imgexplore.open_image(data_dir / "teaching" / "oci").layers[2], cache=cache)
    assert again.equals(table) and entry.stat().st_mtime_ns == mtime


def test_cli_tree_json_has_layer_column(data_dir, tmp_path):
    import json
    import os
    import sys

    env = {**os.environ, "IMGEXPLORE_CACHE": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "imgexplore",
            "tree",
            str(data_dir / "teaching/oci"),
            "--layer",
            "all",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    rows = json.loads(out)
    assert len(rows) == 19 + 10 + 23 + 3 + 3 + 2  # GNU tar -tzf of each blob
    assert {r["layer"] for r in rows} == set(range(6))
    waste = json.loads(
        subprocess.run(
            [sys.executable, "-m", "imgexplore", "waste", str(data_dir / "teaching/oci"), "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    )
    assert waste["summary"]["wasted_bytes"] == 45649
    text = subprocess.run(
        [sys.executable, "-m", "imgexplore", "waste", str(data_dir / "teaching/oci")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    # the duplicates table: short content hash, lists without brackets
    assert text.splitlines()[-1].split() == ["2b96248ed989", "8000", "2", "8000", "app/bin/server", "2,", "5"]


def test_gzip_layers_in_a_layout(tmp_path):
    raw = tar_bytes([{"name": "dir", "type": "dir"}, {"name": "dir/f", "data": b"abc"}])
    image = imgexplore.open_image(write_layout(tmp_path / "oci", [raw], compress=gzip.compress))
    assert image.files(cache=False).layer(0)["path"].tolist() == ["dir", "dir/f"]
    assert filetree.merged_view(image.files(cache=False).tables)["path"].tolist() == ["dir", "dir/f"]


def test_merged_views_in_any_order_are_right_and_few_are_kept(data_dir):
    """An explorer jumps between layers: each merged view is built from the nearest one at
    hand, must equal one built from scratch, and only a few views stay in memory."""
    from imgexplore.filetree.imagefiles import MERGED_VIEWS_KEPT

    files = imgexplore.open_image(data_dir / "teaching" / "oci").files(cache=False)
    for upto in (3, 1, 5, 0, 4, 2, 3, None, 1):
        expected = filetree.merged_view(files.tables, upto)
        pd.testing.assert_frame_equal(files.merged(upto), expected)
        assert len(files._merged) <= MERGED_VIEWS_KEPT + 1
    files.changes()
    assert 5 in files._merged and len(files._merged) <= MERGED_VIEWS_KEPT + 1


def test_markers_and_the_most_changed_layer_and_path(teaching):
    markers = teaching.markers()
    assert markers.to_dict("records") == [
        {"layer": 3, "path": "etc/.wh.motd", "kind": "whiteout", "hides": "etc/motd"},
        {"layer": 3, "path": "tmp/.wh.build", "kind": "whiteout", "hides": "tmp/build"},
        {"layer": 4, "path": "var/cache/apt/.wh..wh..opq", "kind": "opaque", "hides": "var/cache/apt"},
    ]
    assert teaching.most_changed_layer() == 3  # 1 modified + 5 deleted, against layer 4's 4
    assert teaching.most_changed_path() == "app/config.json"  # 2 layers, one content change
