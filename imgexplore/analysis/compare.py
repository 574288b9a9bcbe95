"""Comparing two images: layers by chain id, config, history, and (optionally) files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from ..image import Image

CONFIG_KEYS = (
    "Env",
    "Entrypoint",
    "Cmd",
    "Labels",
    "User",
    "ExposedPorts",
    "WorkingDir",
    "Volumes",
    "StopSignal",
)


def compare_layers(a: Image, b: Image) -> pd.DataFrame:
    """Every layer of either image, keyed by chain id, with where it appears: ``both``
    (shared: same content on the same base), ``a`` or ``b``."""
    from .dag import layer_key

    rows: dict[str, dict] = {}
    for side, image in (("a", a), ("b", b)):
        for layer in image.layers:
            if layer.throwaway:
                continue
            key = layer_key(image, layer.index)
            row = rows.setdefault(
                key,
                {
                    "chain_id": layer.chain_id,
                    "digest": layer.digest,
                    "size": layer.size,
                    "index_a": None,
                    "index_b": None,
                    "created_by": layer.created_by,
                },
            )
            row[f"index_{side}"] = layer.index
    table = pd.DataFrame(list(rows.values()))
    table["in"] = [
        (
            "both"
            if r["index_a"] is not None and r["index_b"] is not None
            else "a"
            if r["index_a"] is not None
            else "b"
        )
        for r in rows.values()
    ]
    columns = ["in", "index_a", "index_b", "chain_id", "digest", "size", "created_by"]
    return table[columns].astype({"index_a": "Int64", "index_b": "Int64"})


def _normalise(key: str, value):
    if key == "Env" and isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return value


def compare_config(a: Image, b: Image) -> pd.DataFrame:
    """Runtime settings that differ: one row per differing key (``Env`` and ``Labels`` per
    variable / label)."""
    ca = a.config.get("config") if isinstance(a.config.get("config"), dict) else {}
    cb = b.config.get("config") if isinstance(b.config.get("config"), dict) else {}
    rows = []
    for key in CONFIG_KEYS:
        va, vb = _normalise(key, ca.get(key)), _normalise(key, cb.get(key))
        if isinstance(va, dict) or isinstance(vb, dict):
            da, db = va or {}, vb or {}
            for sub in sorted(set(da) | set(db)):
                if da.get(sub) != db.get(sub):
                    rows.append({"setting": f"{key}.{sub}", "a": da.get(sub), "b": db.get(sub)})
        elif va != vb:
            rows.append({"setting": key, "a": va, "b": vb})
    for key in ("architecture", "os", "variant"):
        if a.config.get(key) != b.config.get(key):
            rows.append({"setting": key, "a": a.config.get(key), "b": b.config.get(key)})
    return pd.DataFrame(rows, columns=["setting", "a", "b"])


def compare_history(a: Image, b: Image) -> pd.DataFrame:
    """History side by side, step by step, with whether the steps match (same command and
    the same empty/non-empty kind). Steps past the shorter history show as missing."""
    rows = []
    for i in range(max(len(a.history), len(b.history))):
        sa = a.history[i] if i < len(a.history) else None
        sb = b.history[i] if i < len(b.history) else None
        same = (
            sa is not None
            and sb is not None
            and sa.created_by == sb.created_by
            and sa.empty_layer == sb.empty_layer
        )
        rows.append(
            {"step": i, "same": same, "a": sa.created_by if sa else None, "b": sb.created_by if sb else None}
        )
    return pd.DataFrame(rows, columns=["step", "same", "a", "b"])


def compare_files(merged_a: pd.DataFrame, merged_b: pd.DataFrame) -> pd.DataFrame:
    """What changes from image a's filesystem to image b's, in the words the per-layer
    changes use: ``added`` (only in b), ``deleted`` (only in a) or ``modified``, with the
    ``detail`` of a modification (``content``, ``type`` or ``metadata``). Files come before
    the directories that only hold them."""
    cols = ["path", "type", "size", "sha256", "mode", "uid", "gid", "linkname"]
    m = merged_a[cols].merge(merged_b[cols], on="path", how="outer", suffixes=("_a", "_b"), indicator=True)
    change = pd.Series("", index=m.index, dtype=object)
    detail = pd.Series("", index=m.index, dtype=object)
    change[m["_merge"] == "left_only"] = "deleted"
    change[m["_merge"] == "right_only"] = "added"
    both = m["_merge"] == "both"

    def differs(columns) -> pd.Series:
        found = pd.Series(False, index=m.index)
        for c in columns:
            a, b = m[f"{c}_a"], m[f"{c}_b"]
            found |= ~((a == b) | (a.isna() & b.isna()))
        return both & found

    for kind, columns in (
        ("metadata", cols[4:]),
        ("content", ["size", "sha256", "linkname"]),
        ("type", ["type"]),
    ):
        hit = differs(columns)
        change[hit] = "modified"
        detail[hit] = kind  # the last that applies wins: type over content over metadata
    m["change"], m["detail"] = change, detail
    result = m[m["change"] != ""][["path", "change", "detail", "type_a", "type_b", "size_a", "size_b"]]
    result = result.astype({"size_a": "Int64", "size_b": "Int64"})
    is_dir = (result["type_a"].fillna(result["type_b"]) == "dir").to_numpy()
    return (
        result.assign(_dir=is_dir)
        .sort_values(["_dir", "path"], kind="stable")
        .drop(columns="_dir")
        .reset_index(drop=True)
    )


def compare_images(a: Image, b: Image, *, files: bool = False) -> dict[str, pd.DataFrame]:
    """All comparisons: ``layers``, ``config``, ``history`` and, with ``files=True`` (which
    reads the layer blobs, or their cached tables), ``files``."""
    # Reading the files first also learns the diff_ids (and so the chain ids) that a
    # schema 1 manifest does not record, so its layers compare by chain id too.
    merged = (a.files().merged(), b.files().merged()) if files else None
    result = {
        "layers": compare_layers(a, b),
        "config": compare_config(a, b),
        "history": compare_history(a, b),
    }
    if merged is not None:
        result["files"] = compare_files(*merged)
    return result
