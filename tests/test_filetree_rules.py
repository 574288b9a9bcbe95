"""The merged view and per-layer changes checked against an independent model: random layers
(real tars, listed by imgexplore) are applied one by one to a plain dict following the OCI
whiteout rules, and imgexplore's tables must agree with the dict after every layer."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tarmaker import tar_bytes

from imgexplore.analysis import filetree
from imgexplore.layerfiles import tar_table

DIRS = ["a", "a/c", "b"]
FILES = ["a/f", "a/g", "a/c/h", "b/f", "c", "a/c/i"]
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
