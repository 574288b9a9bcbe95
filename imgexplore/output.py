"""Rendering DataFrames for the terminal and for files: table, CSV or JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from .digest import short
from .rowtext import aligned, cell, csv_quoted

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
    the same bytes as ``render(table, fmt) + "\\n"``, without the whole text in memory.
    Columns are converted once each (not value by value through pandas' formatters or
    Python's indenting JSON encoder): a 200,000-row file tree is written several times
    faster."""
    if fmt not in ("csv", "json"):
        out.write(render(table, fmt) + "\n")
        return
    if table.empty or len(table.columns) < 2 or not all(_plain(table[c]) for c in table.columns):
        _write_slowly(table, fmt, out, chunk_rows)
        return
    if fmt == "csv":
        out.write(",".join(csv_quoted([str(c) for c in table.columns])) + "\n")
        for start in range(0, len(table), chunk_rows):
            part = table.iloc[start : start + chunk_rows]
            columns = [_csv_texts(part[c]) for c in part.columns]
            out.write("\n".join(map(",".join, zip(*columns, strict=True))) + "\n")
        return
    out.write("[\n")
    prefixes = ["    " + json.dumps(str(c), ensure_ascii=False) + ": " for c in table.columns]
    for start in range(0, len(table), chunk_rows):
        part = table.iloc[start : start + chunk_rows]
        columns = [
            [prefix + text for text in _json_texts(part[c])]
            for prefix, c in zip(prefixes, part.columns, strict=True)
        ]
        rows = ("  {\n" + ",\n".join(fields) + "\n  }" for fields in zip(*columns, strict=True))
        out.write(("" if start == 0 else ",\n") + ",\n".join(rows))
    out.write("\n]\n")


def _write_slowly(table: pd.DataFrame, fmt: str, out, chunk_rows: int) -> None:
    """Through pandas and the indenting JSON encoder: for tables with dates and the like."""
    if fmt == "csv":
        table.to_csv(out, index=False, chunksize=chunk_rows)
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


def _plain(column: pd.Series) -> bool:
    """Numbers, booleans, text and objects: what the fast writers convert exactly."""
    kind = column.dtype.kind
    return kind in "iufbO" or (kind == "U") or pd.api.types.is_string_dtype(column.dtype)


def _numpy_kind(column: pd.Series) -> str:
    """The numpy kind of a plain numpy column; "O" for pandas' own (nullable) types."""
    return column.dtype.kind if isinstance(column.dtype, np.dtype) else "O"


def _python_values(column: pd.Series) -> list:
    """The column's values as Python objects, missing ones as None (what both CSV and JSON
    print as empty / null)."""
    kind = _numpy_kind(column)
    values = (column.to_numpy(dtype=object) if kind not in "iub" else column.to_numpy()).tolist()
    if kind not in "iub":
        missing = column.isna().to_numpy()
        if missing.any():
            for position in missing.nonzero()[0].tolist():
                values[position] = None
        if column.dtype.kind == "O":
            values = [
                v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v for v in values
            ]
    return values


def _csv_texts(column: pd.Series) -> list[str]:
    """Each value as pandas' ``to_csv`` (through Python's csv module) writes it."""
    kind = _numpy_kind(column)
    if kind in "iub":
        return list(map(str, column.to_numpy().tolist()))
    return csv_quoted(["" if v is None else str(v) for v in _python_values(column)])


_encode_text = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses


def _json_texts(column: pd.Series) -> list[str]:
    """Each value as ``json.dumps(row, indent=2)`` writes it inside a row of the list."""
    kind = _numpy_kind(column)
    if kind in "iu":
        return list(map(str, column.to_numpy().tolist()))
    if kind == "b":
        return ["true" if v else "false" for v in column.to_numpy().tolist()]
    return [_json_text(v) for v in _python_values(column)]


def _json_text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return _encode_text(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n    ")


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
    return aligned(columns, cells, numeric, gap)


def _cell(value: Any) -> str:
    return "-" if value is pd.NA else cell(value)
