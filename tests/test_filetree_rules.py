"""The merged view and per-layer changes checked against an independent model: random layers
(real tars, listed by imgexplore) are applied one by one to a plain dict following the OCI
whiteout rules, and imgexplore's tables must agree with the dict after every layer."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tarmaker import tar_bytes, write_layout

from imgexplore.filetree import rules as filetree
from imgexplore.filetree.layertable import tar_table

DIRS = ["a", "a/c", "b", "ü dir"]
FILES = [
    "a/f",
    "a/g",
    "a/c/h",
    "b/f",
    "c",
    "a/c/i",
    "ü dir/é",
    "a0",
    "a/c0",
]  # a0, a/c0 sort right after a/, a/c/
PATHS = DIRS + FILES

entry = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(PATHS), st.binary(max_size=3)),
    st.tuples(st.just("dir"), st.sampled_from(PATHS), st.just(b"")),
    st.tuples(st.just("symlink"), st.sampled_from(PATHS), st.just(b"")),
    st.tuples(st.just("whiteout"), st.sampled_from(PATHS), st.just(b"")),
    st.tuples(st.just("opaque"), st.sampled_from(["", *DIRS]), st.just(b"")),
)
layers = st.lists(st.lists(entry, max_size=6), min_size=1, max_size=4)


def _tar(ops) -> bytes:
    entries = []
    for kind, path, data in ops:
        parent, _, name = path.rpartition("/")
        prefix = parent + "/" if parent else ""
        if kind == "whiteout":
            entries.append({"name": f"{prefix}.wh.{name}"})
        elif kind == "opaque":
            entries.append({"name": f"{path}/.wh..wh..opq" if path else ".wh..wh..opq"})
        elif kind == "symlink":
            entries.append({"name": path, "type": "symlink", "linkname": "target"})
        else:
            entries.append({"name": path, "type": kind, "data": data})
    return tar_bytes(entries)


def _below(fs: dict, root: str) -> list[str]:
    return [p for p in fs if root == "" or p.startswith(root + "/")]


def _apply_model(fs: dict, index: int, ops) -> tuple[dict, set]:
    """Apply one layer to ``fs`` (path -> (layer, type, size)); return the new fs and the
    set of (path, change, prev_layer) the layer made."""
    before = dict(fs)
    fs = dict(fs)
    own: dict[str, set] = {}
    for kind, path, _ in ops:
        if kind in ("file", "dir", "symlink"):
            own.setdefault(path, set()).add(kind)
    for kind, path, _ in ops:  # whiteouts and opaque markers hide lower layers only
        if kind == "whiteout":
            for p in [path, *_below(before, path)]:
                fs.pop(p, None)
        elif kind == "opaque":
            for p in _below(before, path):
                fs.pop(p, None)
    for path, kinds in own.items():  # a non-directory standing where a lower directory was
        if kinds - {"dir"} and before.get(path, (None, None))[1] == "dir":
            for p in _below(before, path):
                fs.pop(p, None)
    for kind, path, data in ops:
        if kind in ("file", "dir", "symlink"):
            fs[path] = (index, kind, len(data))
    changes = set()
    for path in own:
        changes.add((path, "modified", before[path][0]) if path in before else (path, "added", None))
    for path in before:
        if path not in fs and path not in own:
            changes.add((path, "deleted", before[path][0]))
    return fs, changes


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(layers)
def test_merged_view_and_changes_follow_the_model(layer_ops):
    tables = [tar_table(io.BytesIO(_tar(ops))) for ops in layer_ops]
    fs: dict = {}
    everything = filetree.all_changes(tables)
    for index, ops in enumerate(layer_ops):
        fs, expected = _apply_model(fs, index, ops)
        view = filetree.merged_view(tables, index)
        got = {row.path: (row.layer, row.type, row.size) for row in view.itertuples()}
        assert got == fs
        changes = filetree.layer_changes(tables, index)
        found = {
            (
                row.path,
                row.change,
                None if row.prev_layer is None or row.prev_layer != row.prev_layer else row.prev_layer,
            )
            for row in changes.astype(object).where(changes.notna(), None).itertuples()
        }
        assert found == expected
        in_all = everything[everything["layer"] == index].reset_index(drop=True)
        assert in_all.equals(changes) or (in_all.empty and changes.empty)


def test_paths_that_are_not_utf8():
    """A Latin-1 file name is shown with its odd byte escaped (as Python prints it), stored,
    whited out and extracted (under its own bytes) like any other."""
    import tarfile

    def latin1_tar(names):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
            for name in names:
                tar.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
        return buf.getvalue()

    lower = tar_table(io.BytesIO(latin1_tar(["d/caf\xe9", "d/x", "e/y", *(f"z{i}/q" for i in range(12))])))
    upper = tar_table(io.BytesIO(latin1_tar(["d/.wh.caf\xe9", *(f"z{i}/.wh.q" for i in range(12))])))
    assert lower["path"][0] == "d/caf\\xe9"
    assert filetree.merged_view([lower, upper])["path"].tolist() == ["d/x", "e/y"]
    deleted = filetree.layer_changes([lower, upper], 1)
    assert sorted(deleted["path"]) == sorted(["d/caf\\xe9", *(f"z{i}/q" for i in range(12))])
    assert set(deleted["detail"]) == {"whiteout"}


def test_non_utf8_names_through_cache_cli_and_extraction(tmp_path, isolated_cache):
    import json
    import os
    import subprocess
    import sys
    import tarfile

    import imgexplore
    from imgexplore.extract import extract, read_file

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tar:
        for name, data in (("etc/caf\xe9", b"latin-1 name\n"), ("etc/plain", b"ascii\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("etc/link")
        link.type, link.linkname = tarfile.LNKTYPE, "etc/caf\xe9"
        tar.addfile(link)
    layout = write_layout(tmp_path / "img", [buf.getvalue()])

    first = imgexplore.open_image(layout).files()  # listed, then written to the file-table cache (Arrow IPC)
    again = imgexplore.open_image(layout).files()  # read back from it
    assert (
        again.layer(0)["path"].tolist()
        == first.layer(0)["path"].tolist()
        == [
            "etc/caf\\xe9",
            "etc/plain",
            "etc/link",
        ]
    )
    image = imgexplore.open_image(layout)
    assert read_file(image, "etc/caf\\xe9") == b"latin-1 name\n"
    report = extract(image, "etc", tmp_path / "out")
    assert sorted(report.written) == ["etc/caf\\xe9", "etc/link", "etc/plain"]
    on_disk = tmp_path / "out" / "etc"
    assert sorted(os.listdir(os.fsencode(on_disk))) == [b"caf\xe9", b"link", b"plain"]  # the name's own bytes
    assert os.stat(os.path.join(os.fsencode(on_disk), b"link")).st_nlink == 2

    cli = subprocess.run(
        [sys.executable, "-m", "imgexplore", "tree", layout, "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert cli.returncode == 0, cli.stderr
    assert [row["path"] for row in json.loads(cli.stdout)] == ["etc/caf\\xe9", "etc/link", "etc/plain"]


names = st.text(alphabet="ab/.0-é", min_size=1, max_size=6).filter(
    lambda p: not p.startswith("/") and "//" not in p
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(names, min_size=1, max_size=40, unique=True),
    st.lists(names, min_size=9, max_size=20, unique=True),
)
def test_paths_below_many_roots_match_a_plain_prefix_test(paths, roots):
    """With more than 8 roots the merged view finds the paths under them by binary search in
    the sorted paths; it must agree with testing every path against every root."""
    import pandas as pd

    from imgexplore.filetree.rules import _under_any

    ordered = pd.Series(sorted(paths), dtype="str")
    assert ordered.is_monotonic_increasing  # so the binary search, not the fallback, is tested
    expected = [any(p.startswith(r + "/") for r in roots) for p in ordered]
    assert _under_any(ordered, roots).tolist() == expected
