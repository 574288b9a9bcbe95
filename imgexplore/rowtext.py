"""Rows as text without pandas: aligned columns, CSV and JSON for a few plain rows (lists of
dicts), so that commands that print a small table start without loading the data stack.
:mod:`imgexplore.output` renders DataFrames with the same rules."""

from __future__ import annotations

import json
from typing import Any


def csv_quoted(texts: list[str]) -> list[str]:
    """The csv module's minimal quoting with "\\n" line ends (what pandas' ``to_csv`` writes):
    a field holding a comma, a quote or a newline is quoted, its quotes doubled (a carriage
    return alone is not)."""
    joined = "\x00".join(texts)
    if "," not in joined and '"' not in joined and "\n" not in joined:
        return texts
    return ['"' + t.replace('"', '""') + '"' if ("," in t or '"' in t or "\n" in t) else t for t in texts]


def aligned(columns: list[str], cells: list[list[str]], numeric: list[bool], gap: str = "  ") -> str:
    """A plain aligned table: numeric columns right-aligned, the rest left-aligned."""
    widths = [max([len(columns[i])] + [len(row[i]) for row in cells]) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return gap.join(parts).rstrip()

    return "\n".join([line(columns)] + [line(row) for row in cells])


def cell(value: Any) -> str:
    """A value as a table shows it: missing as '-', newlines as spaces."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return str(value).replace("\n", " ")


def render_rows(rows: list[dict], fmt: str) -> str:
    """Plain rows (the same keys in each) as ``table``, ``csv`` or ``json`` — the text
    :func:`imgexplore.output.render` gives for the DataFrame of those rows."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if not rows:
        return "" if fmt == "csv" else "(no rows)"
    columns = list(rows[0])
    if fmt == "csv":
        lines = [csv_quoted(columns)]
        lines += [csv_quoted(["" if row[c] is None else str(row[c]) for c in columns]) for row in rows]
        return "\n".join(",".join(line) for line in lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose one of table, csv, json")
    numeric = [
        all(isinstance(row[c], (int, float)) and not isinstance(row[c], bool) for row in rows)
        for c in columns
    ]
    return aligned(columns, [[cell(row[c]) for c in columns] for row in rows], numeric)
