"""Rendering DataFrames for the terminal and for files: table, CSV or JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from .digest import short

FORMATS = ("table", "csv", "json")  # the command line names them too (cli.FORMATS)
_DIGEST_COLUMNS = ("digest", "diff_id", "chain_id", "layer_digest", "config_digest", "sha256")


def octal_modes(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of a file table with ``mode`` as people read it (``0755``); the tables themselves
    keep numbers, for programs."""
    if "mode" not in table:
        return table
    return table.assign(mode=table["mode"].map(lambda m: f"{int(m):04o}"))


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts, with pandas' missing values turned into ``None``."""
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
            elif hasattr(value, "item"):  # numpy scalars
                row[key] = value.item()
    return rows


def render(table: pd.DataFrame, fmt: str, *, wide: bool = False, max_text: int = 60) -> str:
    """``table`` as text in ``fmt``. The table form shortens digests and long commands
    unless ``wide``; CSV and JSON always carry full values."""
    if fmt == "json":
        return json.dumps(records(table), indent=2, ensure_ascii=False)
    if fmt == "csv":
        return table.to_csv(index=False).rstrip("\n")
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype == object:  # lists (paths, layers) read better without brackets
            shown[column] = shown[column].map(
                lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
            )
    if not wide:
        for column in shown.columns:
            if column in _DIGEST_COLUMNS:
                shown[column] = shown[column].map(lambda v: short(v) if isinstance(v, str) else v)
            elif shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
                shown[column] = shown[column].map(
                    lambda v: v if not isinstance(v, str) or len(v) <= max_text else v[: max_text - 1] + "…"
                )
    return text_table(shown)


def write(table: pd.DataFrame, fmt: str, out, *, chunk_rows: int = 20_000) -> None:
    """Write ``table`` as CSV or JSON to the text stream ``out`` a chunk of rows at a time:
    the same bytes as ``render(table, fmt) + "\\n"``, without the whole text in memory."""
    if fmt == "csv":
        table.to_csv(out, index=False, chunksize=chunk_rows)
        return
    if fmt != "json":
        out.write(render(table, fmt) + "\n")
        return
    if table.empty:
        out.write("[]\n")
        return
    out.write("[\n")
    for start in range(0, len(table), chunk_rows):
        rows = records(table.iloc[start : start + chunk_rows])
        text = ",\n".join(
            "  " + json.dumps(row, indent=2, ensure_ascii=False).replace("\n", "\n  ") for row in rows
        )
        out.write(("" if start == 0 else ",\n") + text)
    out.write("\n]\n")


def text_table(table: pd.DataFrame, gap: str = "  ") -> str:
    """A plain aligned table: numbers right-aligned, text left-aligned, missing values '-'."""
    if table.empty:
        return "(no rows)"
    columns = [str(c) for c in table.columns]
    cells = [[_cell(v) for v in row] for row in table.itertuples(index=False)]
    numeric = [
        pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
        for c in table.columns
    ]
    widths = [max([len(columns[i])] + [len(r[i]) for r in cells]) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return gap.join(parts).rstrip()

    return "\n".join([line(columns)] + [line(r) for r in cells])


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(value).replace("\n", " ")
