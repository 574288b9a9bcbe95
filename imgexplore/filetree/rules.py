"""What each layer adds, changes and deletes, computed from the layers' file tables.

Every function here takes the per-layer tables (``tables[i]`` is layer ``i``, as returned by
:meth:`imgexplore.filetree.ImageFiles.tables`) and returns DataFrames; none does I/O.

The rules are the OCI image-spec's (layer.md, "Whiteouts"):

* ``DIR/.wh.NAME`` deletes ``DIR/NAME`` (and everything below it) from the *lower* layers;
* ``DIR/.wh..wh..opq`` hides everything *below* ``DIR`` in the lower layers, whatever its
  position among the layer's own entries;
* a layer's own entries are applied after its whiteouts, so a layer may delete a path and
  add it again;
* a non-directory that replaces a directory of a lower layer hides that directory's contents;
* a path written twice in one layer keeps its last copy (extraction overwrites);
* top-level ``.wh..wh.*`` entries other than ``.wh..wh..opq`` (``.wh..wh.aufs``,
  ``.wh..wh.plnk/…``, ``.wh..wh.orph``) are aufs' own bookkeeping, which Docker skips when it
  applies a layer: they neither show nor delete anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .tarlist import COLUMNS

CHANGE_COLUMNS = ["layer", "path", "change", "detail", "type", "size", "prev_layer", "prev_size"]
_COMPARED_METADATA = ("mode", "uid", "gid", "mtime", "xattrs")


AUFS_METADATA_PREFIX = ".wh..wh."


def _aufs_metadata(table: pd.DataFrame) -> np.ndarray:
    paths = table["path"]
    return (paths.str.startswith(AUFS_METADATA_PREFIX) & (paths != ".wh..wh..opq")).to_numpy(dtype=bool)


def is_marker(table: pd.DataFrame) -> np.ndarray:
    """Rows that are not files of the image: whiteout and opaque markers, aufs metadata."""
    return (table["whiteout"].notna() | table["opaque"]).to_numpy() | _aufs_metadata(table)


def _isin(values: pd.Series, candidates) -> np.ndarray:
    """``values.isin(candidates)`` as a bool array; done by Arrow, which is several times
    faster than pandas' own ``isin`` on the large path columns here."""
    if not len(values):
        return np.zeros(0, dtype=bool)
    candidates = (
        candidates if isinstance(candidates, pd.Series) else pd.Series(list(candidates), dtype=object)
    )
    found = pc.is_in(pa.array(values, type=pa.string()), value_set=pa.array(candidates, type=pa.string()))
    return found.to_numpy(zero_copy_only=False).astype(bool)


def _under_any(paths: pd.Series, roots: list[str]) -> np.ndarray:
    """Which ``paths`` lie below one of the directories ``roots``."""
    prefixes = sorted({root + "/" for root in roots})
    if len(prefixes) <= 8 or not paths.is_monotonic_increasing:
        return paths.str.startswith(tuple(prefixes)).to_numpy()
    # In sorted order the paths below "d/" form one run, from "d/" up to "d0" ("0" follows "/"),
    # so many roots cost two binary searches each instead of a pass over every path.
    ordered = paths.to_numpy(dtype=object)
    starts = np.searchsorted(ordered, np.array(prefixes, dtype=object))
    ends = np.searchsorted(ordered, np.array([p[:-1] + "0" for p in prefixes], dtype=object))
    edges = np.zeros(len(paths) + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    np.add.at(edges, ends, -1)
    return np.cumsum(edges[:-1]) > 0


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def stack(tables: list[pd.DataFrame], upto: int | None = None) -> pd.DataFrame:
    """All layers' entries in one table, with a ``layer`` column, base layer first."""
    last = len(tables) - 1 if upto is None else upto
    frames = [t.assign(layer=i) for i, t in enumerate(tables[: last + 1])]
    if not frames:  # no layers (yet): no rows, but every column
        return pd.DataFrame(columns=[*(tables[0].columns if tables else COLUMNS), "layer"])
    return pd.concat(frames, ignore_index=True)


def _hidden_by(below: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """For each row of the merged view ``below``, why layer ``table`` hides it: ``whiteout``,
    ``opaque`` or ``replaced`` (a non-directory now stands where its directory was), else ``""``."""
    reasons = np.full(len(below), "", dtype=object)
    if not len(below):
        return reasons
    whiteouts = table.loc[~_aufs_metadata(table), "whiteout"].dropna().tolist()
    opaque_dirs = [_parent(p) for p in table.loc[table["opaque"], "path"]]
    own = table[~is_marker(table)]
    below_dirs = below.loc[below["type"] == "dir", "path"]
    replaced = own.loc[(own["type"] != "dir").to_numpy() & _isin(own["path"], below_dirs), "path"].tolist()
    paths = below["path"]
    rules = [("whiteout", whiteouts, True), ("opaque", opaque_dirs, False), ("replaced", replaced, False)]
    for reason, roots, include_root in rules:
        if not roots:
            continue
        if reason == "opaque" and "" in roots:  # an opaque root hides everything below it
            hit = np.ones(len(below), dtype=bool)
        else:
            hit = _under_any(paths, roots)
            if include_root:
                hit = hit | _isin(paths, roots)
        reasons[hit & (reasons == "")] = reason
    return reasons


def empty_view(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The merged view below the base layer: no rows, the tables' columns."""
    return stack(tables, -1)


class _LayerOnView:
    """Layer ``index`` (``table``) against the merged view ``below``: its own entries, why it
    hides each row of ``below`` (see :func:`_hidden_by`) and which rows it writes again.
    Computed once, used both to build the next view and to list the layer's changes."""

    def __init__(self, below: pd.DataFrame, table: pd.DataFrame, index: int):
        self.below, self.index = below, index
        self.own = table[~is_marker(table)]
        self.opaque_dirs = [_parent(p) for p in table.loc[table["opaque"], "path"]]
        self.reasons = _hidden_by(below, table)
        self.rewritten = _isin(below["path"], self.own["path"])

    def view(self) -> pd.DataFrame:
        own = self.own.drop_duplicates("path", keep="last").assign(layer=self.index)
        kept = self.below[(self.reasons == "") & ~self.rewritten]
        if not len(kept):
            merged = own
        elif not len(own):
            return kept.reset_index(drop=True)
        else:
            merged = pd.concat([kept, own], ignore_index=True)
        return merged.sort_values("path", kind="stable").reset_index(drop=True)

    def deleted(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Rows of ``below`` the layer hides and does not write again (those it writes again
        are modifications), with the reason for each."""
        hidden = (self.reasons != "") & ~self.rewritten
        return self.below[hidden], self.reasons[hidden]


def apply_layer(below: pd.DataFrame, table: pd.DataFrame, index: int) -> pd.DataFrame:
    """The merged view after putting layer ``index`` (``table``) on top of the merged view
    ``below`` (that of the layers under it)."""
    return _LayerOnView(below, table, index).view()


def apply_layers(view: pd.DataFrame, tables: list[pd.DataFrame], first: int, last: int) -> pd.DataFrame:
    """The merged view after layers ``first`` to ``last`` in turn on top of ``view`` (the view
    after layer ``first - 1``): each layer costs one pass over the view below it."""
    for index in range(first, last + 1):
        view = apply_layer(view, tables[index], index)
    return view


def merged_view(tables: list[pd.DataFrame], upto: int | None = None) -> pd.DataFrame:
    """The filesystem a container sees after layer ``upto`` (default: the top layer).

    One row per visible path, sorted by path; ``layer`` says which layer the entry comes from.
    Whiteout and opaque markers are consumed, never shown."""
    return apply_layers(empty_view(tables), tables, 0, len(tables) - 1 if upto is None else upto)


def layer_changes(tables: list[pd.DataFrame], index: int, below: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each path layer ``index`` touches, against the merged view below it (``below``,
    computed here unless given):

    * ``added`` — nothing was there;
    * ``modified`` — ``detail`` says ``content`` (bytes or link target differ), ``metadata``
      (same content; mode, owner, mtime or xattrs differ), ``type`` (a file became a
      directory…), ``opaque`` (a directory whose lower contents this layer hides),
      ``rewritten`` (an identical copy written again) or ``content?`` (same size, no hashes);
    * ``deleted`` — hidden by a whiteout, an opaque directory or a replaced directory.
    """
    if below is None:
        below = merged_view(tables, index - 1) if index > 0 else empty_view(tables)
    return _changes(_LayerOnView(below, tables[index], index))


def _changes(step: _LayerOnView) -> pd.DataFrame:
    below, own, index = step.below, step.own, step.index
    compared = ["type", "size", "sha256", "linkname", *_COMPARED_METADATA]
    old = (
        below[["path", "layer", *compared]]
        if len(below)
        else pd.DataFrame(columns=["path", "layer", *compared])
    )
    # a path the layer writes twice is one change (the last copy wins, as in the merged view;
    # the earlier copy's bytes are counted as waste of this layer's own, not as a second change)
    own = own.drop_duplicates("path", keep="last")
    m = own.merge(old, on="path", how="left", suffixes=("", "_old"), indicator=True)
    existed = (m["_merge"] == "both").to_numpy()

    def differs(column: str) -> np.ndarray:
        a, b = m[column], m[f"{column}_old"]
        return (~((a == b) | (a.isna() & b.isna()))).to_numpy()

    is_file = (m["type"] == "file").to_numpy()
    is_link = m["type"].isin(["symlink", "hardlink"]).to_numpy()
    no_hashes = (m["sha256"].isna() | m["sha256_old"].isna()).to_numpy()
    content = (is_file & (differs("size") | (differs("sha256") & ~no_hashes))) | (
        is_link & differs("linkname")
    )
    metadata = np.zeros(len(m), dtype=bool)
    for column in _COMPARED_METADATA:
        metadata |= differs(column)
    opaque = _isin(m["path"], step.opaque_dirs)
    detail = np.select(
        [differs("type"), content, is_file & no_hashes, metadata, opaque],
        ["type", "content", "content?", "metadata", "opaque"],
        "rewritten",
    )
    changes = pd.DataFrame(
        {
            "layer": index,
            "path": m["path"],
            "change": np.where(existed, "modified", "added"),
            "detail": np.where(existed, detail, ""),
            "type": m["type"],
            "size": m["size"].astype("int64"),
            "prev_layer": pd.array(np.where(existed, m["layer"], None), dtype="Int64"),
            "prev_size": pd.array(np.where(existed, m["size_old"], None), dtype="Int64"),
        }
    )
    gone, reasons = step.deleted()
    if len(gone):
        deleted = gone[["path", "type"]].reset_index(drop=True)
        deleted.insert(0, "layer", index)
        deleted.insert(2, "change", "deleted")
        deleted.insert(3, "detail", reasons)
        deleted["size"] = 0
        deleted["prev_layer"] = pd.array(gone["layer"].astype("int64"), dtype="Int64")
        deleted["prev_size"] = pd.array(gone["size"].astype("int64"), dtype="Int64")
        changes = pd.concat([changes, deleted], ignore_index=True)
    return changes[CHANGE_COLUMNS].sort_values("path", kind="stable").reset_index(drop=True)


def all_changes(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """:func:`layer_changes` for every layer, in one table."""
    return changes_and_final_view(tables)[0]


def changes_and_final_view(tables: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`all_changes` and the merged view of the whole image, from one pass over the layers."""
    frames = []
    below = empty_view(tables)
    for index, table in enumerate(tables):
        step = _LayerOnView(below, table, index)
        frames.append(_changes(step))
        below = step.view()
    frames = [f for f in frames if len(f)]
    changes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CHANGE_COLUMNS)
    return changes, below


WASTE_EXPLANATION = (
    "Wasted bytes are the uncompressed bytes of file copies that a later layer overwrites or "
    "deletes: the image still ships them, but no container can see them. Each superseded "
    "copy counts once, in the layer that holds it; a copy still reachable through a visible "
    "hardlink of its own layer is not counted. Efficiency is 1 - wasted / all file bytes "
    "in all layers. Compressed figures are estimates: each layer's waste scaled by that "
    "layer's compression ratio."
)


def wasted_space(
    tables: list[pd.DataFrame],
    compressed_sizes: list[int] | None = None,
    changes: pd.DataFrame | None = None,
    final: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Per-layer waste and an image summary (see :data:`WASTE_EXPLANATION`).

    Returns ``(per_layer, summary)``; ``per_layer`` has one row per layer with ``file_bytes``,
    ``wasted_bytes``, ``wasted_files``, ``superseded_by`` (the layers that hid its copies)
    and, when ``compressed_sizes`` are given, ``wasted_compressed_estimate``. ``changes`` and
    ``final`` (the merged view of every layer) are computed here unless passed in."""
    if changes is None:
        changes = all_changes(tables)
    superseded = changes[changes["change"].isin(["modified", "deleted"]) & changes["prev_layer"].notna()]
    superseded = superseded[superseded["prev_size"].fillna(0) > 0]
    # A copy that a visible hardlink of its own layer still points at is not lost: the
    # container reads those bytes through the link.
    if final is None:
        final = merged_view(tables)
    links = final[final["type"] == "hardlink"]
    reachable = set(zip(links["layer"].astype(int), links["linkname"].str.strip("/"), strict=True))
    if reachable:
        keep = [
            (int(layer), path) not in reachable
            for layer, path in zip(superseded["prev_layer"], superseded["path"], strict=True)
        ]
        superseded = superseded[np.array(keep, dtype=bool)]
    rows = []
    for i, table in enumerate(tables):
        own = table[~is_marker(table)]
        files = own[(own["type"] == "file").to_numpy()]
        lost = superseded[superseded["prev_layer"] == i]
        # a copy the same layer writes again later never reaches the filesystem either
        rewritten = files[_rewritten_later(own, files)]
        superseding = set(lost["layer"]) | ({i} if len(rewritten) else set())
        tar_size = table.attrs.get("tar_size", -1)
        row = {
            "layer": i,
            "files": len(files),
            "file_bytes": int(files["size"].sum()),
            "wasted_files": len(lost) + len(rewritten),
            "wasted_bytes": int(lost["prev_size"].sum()) + int(rewritten["size"].sum()),
            "superseded_by": ",".join(str(v) for v in sorted(superseding)),
            "tar_size": tar_size,
        }
        if compressed_sizes is not None and tar_size and tar_size > 0 and compressed_sizes[i] >= 0:
            row["wasted_compressed_estimate"] = int(
                round(row["wasted_bytes"] * compressed_sizes[i] / tar_size)
            )
        rows.append(row)
    base_columns = [
        "layer",
        "files",
        "file_bytes",
        "wasted_files",
        "wasted_bytes",
        "superseded_by",
        "tar_size",
    ]
    per_layer = pd.DataFrame(rows, columns=list(rows[0]) if rows else base_columns)
    total = int(per_layer["file_bytes"].sum()) if len(per_layer) else 0
    wasted = int(per_layer["wasted_bytes"].sum()) if len(per_layer) else 0
    summary = {
        "file_bytes_all_layers": total,
        "wasted_bytes": wasted,
        "visible_bytes": total - wasted,
        "efficiency": (1 - wasted / total) if total else 1.0,
        "wasted_files": int(per_layer["wasted_files"].sum()) if len(per_layer) else 0,
        "explanation": WASTE_EXPLANATION,
    }
    if "wasted_compressed_estimate" in per_layer:
        summary["wasted_compressed_estimate"] = int(per_layer["wasted_compressed_estimate"].fillna(0).sum())
    return per_layer, summary


def _rewritten_later(own: pd.DataFrame, files: pd.DataFrame) -> np.ndarray:
    """For each row of ``files`` (a subset of ``own``, a layer's entries): whether an entry
    later in the same layer writes its path again."""
    later = own["path"].duplicated(keep="last")
    return later.loc[files.index].to_numpy(dtype=bool)


MARKER_COLUMNS = ["layer", "path", "kind", "hides"]


def markers(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The whiteout and opaque markers of every layer (see :meth:`ImageFiles.markers`)."""
    rows = stack(tables)
    rows = rows[is_marker(rows) & ~_aufs_metadata(rows)]
    if not len(rows):
        return pd.DataFrame(columns=MARKER_COLUMNS)
    opaque = rows["opaque"].to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "layer": rows["layer"].to_numpy(),
            "path": rows["path"].to_numpy(),
            "kind": np.where(opaque, "opaque", "whiteout"),
            "hides": [
                _parent(p) if o else w for p, o, w in zip(rows["path"], opaque, rows["whiteout"], strict=True)
            ],
        }
    )


def duplicate_files(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Regular files whose content appears more than once across the layers (same size,
    then same sha256), with the bytes the extra copies take."""
    all_rows = stack(tables)
    if not len(all_rows):
        return pd.DataFrame(columns=["sha256", "size", "copies", "extra_bytes", "paths", "layers"])
    files = all_rows[(all_rows["type"] == "file") & (all_rows["size"] > 0) & ~is_marker(all_rows)]
    sizes = files["size"].value_counts()
    candidates = files[files["size"].isin(sizes[sizes > 1].index) & files["sha256"].notna()]
    repeated = candidates[candidates.duplicated(["sha256", "size"], keep=False)]  # only real copies
    columns = ["sha256", "size", "copies", "extra_bytes", "paths", "layers"]
    if not len(repeated):
        return pd.DataFrame(columns=columns)
    result = (
        repeated.groupby(["sha256", "size"], sort=False)
        .agg(
            copies=("path", "size"),
            paths=("path", lambda p: sorted(set(p))),
            layers=("layer", lambda v: sorted({int(x) for x in v})),
        )
        .reset_index()
    )
    result["size"] = result["size"].astype("int64")
    result["extra_bytes"] = result["size"] * (result["copies"] - 1)
    result = result[columns]
    return result.sort_values(["extra_bytes", "sha256"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def lineage(changes: pd.DataFrame, path: str, layers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every layer that adds, modifies or deletes ``path``, oldest first, with the history
    step that made the layer when ``layers`` (an image's layers table) is given."""
    path = path.strip("/")
    rows = changes[changes["path"] == path].sort_values("layer", kind="stable").copy()
    if layers is not None and len(rows):
        info = layers.set_index("index")
        rows["history_step"] = rows["layer"].map(info["history_step"])
        rows["created_by"] = rows["layer"].map(info["created_by"])
    return rows.reset_index(drop=True)


def directory_sizes(table: pd.DataFrame, max_depth: int | None = None) -> pd.DataFrame:
    """Bytes and regular-file counts below each directory of ``table`` (a layer or a merged
    view): each file counts toward every ancestor. ``""`` is the root."""
    files = (
        table[(table["type"] == "file") & ~is_marker(table)]
        if "whiteout" in table
        else table[table["type"] == "file"]
    )
    totals: dict[str, list[int]] = {"": [0, 0]}
    for path, size in zip(files["path"].tolist(), files["size"].tolist(), strict=True):
        parts = path.split("/")[:-1]
        totals[""][0] += size
        totals[""][1] += 1
        prefix = ""
        for depth, part in enumerate(parts, start=1):
            if max_depth is not None and depth > max_depth:
                break
            prefix = f"{prefix}/{part}" if prefix else part
            entry = totals.setdefault(prefix, [0, 0])
            entry[0] += size
            entry[1] += 1
    rows = [(d, d.count("/") + 1 if d else 0, b, n) for d, (b, n) in totals.items()]
    result = pd.DataFrame(rows, columns=["directory", "depth", "bytes", "files"])
    return result.sort_values(["bytes", "directory"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
