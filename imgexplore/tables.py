"""Tables that fit a notebook screen: what the notebooks display instead of raw DataFrames.

:func:`show` keeps the data as it is (``table.frame``) and formats only what is drawn:
digests shortened with the whole value on hover, byte counts in the units ``docker images``
uses (exact count on hover), modes in octal, times as UTC dates, ratios as percentages,
long commands cut with the whole text on hover, and one marker for what has no value.
:func:`summary` shows a dict of results (``files.waste()``'s, say) the same way.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .digest import short
from .present import human_bytes

UNKNOWN = "unknown"  # a value the image should record but does not (schema 1 sizes: -1)
NONE = "—"  # nothing to show: a metadata-only step has no layer, a file no link target

_DIGEST = re.compile(r"^(sha256|sha512):[0-9a-f]{32,}$|^[0-9a-f]{64}$")
_RATIO_WORDS = ("share", "ratio", "efficiency", "fraction", "percent")
_TIME_COLUMNS = {"created", "mtime", "modified"}
_LAYER_VALUES = {"diff_id", "chain_id", "size", "uncompressed_size"}


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _is_bytes_column(name: str) -> bool:
    name = name.lower()
    return (
        name in {"size", "bytes"}
        or name.endswith(("_size", "_bytes", "bytes_saved"))
        or ("bytes" in name and not name.endswith(("files", "count")))
        or name.startswith(("wasted_compressed", "size_"))
    )


def _is_ratio_column(name: str, values: pd.Series) -> bool:
    if not any(word in name.lower() for word in _RATIO_WORDS):
        return False
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return len(numbers) > 0 and bool(((numbers >= 0) & (numbers <= 1)).all())


def short_media_type(media_type: str) -> str:
    """A media type short enough for a table column; the whole one goes on hover.

    >>> short_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip")
    'docker tar.gzip'
    >>> short_media_type("application/vnd.oci.image.layer.v1.tar+zstd")
    'oci tar+zstd'
    """
    text = media_type.removeprefix("application/vnd.")
    for long, brief in (
        ("docker.image.rootfs.diff.", "docker "),
        ("docker.image.rootfs.foreign.diff.", "docker foreign "),
        ("oci.image.layer.nondistributable.v1.", "oci foreign "),
        ("oci.image.layer.v1.", "oci "),
        ("docker.distribution.manifest.", "docker manifest "),
        ("oci.image.", "oci "),
    ):
        if text.startswith(long):
            return brief + text[len(long) :]
    return text


class Table:
    """A DataFrame formatted for reading. ``frame`` holds the data unchanged; ``cells`` the text
    drawn; ``titles`` the whole value of every cell that was shortened (shown on hover)."""

    def __init__(self, frame: pd.DataFrame, cells: pd.DataFrame, titles: pd.DataFrame, note: str = ""):
        self.frame = frame
        self.cells = cells
        self.titles = titles
        self.note = note

    def _repr_html_(self) -> str:
        numeric = {c for c in self.frame.columns if pd.api.types.is_numeric_dtype(self.frame[c])}
        head = "".join(
            f"<th style='text-align:{'right' if c in numeric else 'left'}'>{html.escape(str(c))}</th>"
            for c in self.cells.columns
        )
        rows = []
        for (_, drawn), (_, whole) in zip(self.cells.iterrows(), self.titles.iterrows(), strict=True):
            tds = []
            for column in self.cells.columns:
                title = whole[column]
                attribute = f" title='{html.escape(title)}'" if title else ""
                align = "right" if column in numeric else "left"
                tds.append(f"<td style='text-align:{align}'{attribute}>{html.escape(drawn[column])}</td>")
            rows.append("<tr>" + "".join(tds) + "</tr>")
        note = f"<div style='font-size:90%;color:#555'>{html.escape(self.note)}</div>" if self.note else ""
        return (
            "<div class='imgexplore-table'><table style='white-space:nowrap'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}</div>"
        )

    def __repr__(self) -> str:
        text = self.cells.to_string(index=False) if len(self.cells.columns) else "(no columns)"
        return text + (f"\n{self.note}" if self.note else "")

    def __len__(self) -> int:
        return len(self.frame)


def _format_column(name: str, values: pd.Series, max_text: int) -> tuple[list[str], list[str]]:
    """The drawn text and the hover text of each value of one column."""
    drawn: list[str] = []
    whole: list[str] = []
    as_bytes = _is_bytes_column(name) and pd.api.types.is_numeric_dtype(values)
    as_ratio = _is_ratio_column(name, values)
    as_mode = name.lower() == "mode" and pd.api.types.is_numeric_dtype(values)
    as_time = name.lower() in _TIME_COLUMNS
    for value in values.tolist():
        if _is_missing(value):
            drawn.append(NONE)
            whole.append("")
        elif isinstance(value, bool):
            drawn.append("yes" if value else "no")
            whole.append("")
        elif as_bytes:
            drawn.append(human_bytes(value) if value >= 0 else UNKNOWN)
            whole.append(f"{int(value):,} bytes" if value >= 0 else "not recorded by this image")
        elif as_ratio:
            drawn.append(f"{value:.1%}")
            whole.append(repr(value))
        elif as_mode:
            drawn.append(f"{int(value):04o}")
            whole.append("")
        elif as_time:
            drawn.append(_time_text(value))
            whole.append(str(value))
        elif isinstance(value, str) and _DIGEST.match(value):
            drawn.append(short(value) if ":" in value else value[:12])
            whole.append(value)
        elif isinstance(value, str) and value.startswith("application/"):
            drawn.append(short_media_type(value))
            whole.append(value)
        elif isinstance(value, float):
            drawn.append(f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}")
            whole.append(repr(value))
        elif isinstance(value, int):
            drawn.append(str(value))
            whole.append("")
        else:
            text = " ".join(str(value).split())  # commands with newlines and runs of spaces
            drawn.append(text if len(text) <= max_text else text[: max_text - 1] + "…")
            whole.append(str(value) if len(text) > max_text else "")
    return drawn, whole


def _time_text(value: Any) -> str:
    """A UTC date and time from epoch seconds or an RFC 3339 string; the text itself if neither."""
    try:
        if isinstance(value, (int, float)):
            moment = _dt.datetime.fromtimestamp(value, tz=_dt.UTC)
        else:
            moment = pd.Timestamp(value)
            moment = moment.tz_convert("UTC") if moment.tzinfo else moment
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError, TypeError):
        return str(value)


def show(frame: pd.DataFrame, *, max_rows: int = 20, max_text: int = 48, index: bool = False) -> Table:
    """``frame`` formatted to fit a 1280 px notebook: at most ``max_rows`` rows (the count of
    the rest said below), text cut at ``max_text`` characters with the whole value on hover.

    >>> t = show(pd.DataFrame({"digest": ["sha256:" + "ab" * 32], "size": [18047], "mode": [493]}))
    >>> print(t)
                 digest    size mode
    sha256:abababababab 18.0 kB 0755
    """
    if isinstance(frame, Mapping):
        return summary(frame, max_text=max_text)
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    shown = frame.reset_index() if index else frame
    head = shown.head(max_rows)
    cells, titles = {}, {}
    for column in head.columns:
        drawn, whole = _format_column(str(column), head[column], max_text)
        cells[column], titles[column] = drawn, whole
    cells_frame = pd.DataFrame(cells, columns=head.columns, index=range(len(head)))
    titles_frame = pd.DataFrame(titles, columns=head.columns, index=range(len(head)))
    if "digest" in head.columns:  # a row with a layer blob: its missing values are unknown, not absent
        has_blob = head["digest"].notna().to_numpy()
        for column in _LAYER_VALUES.intersection(head.columns):
            unknown = has_blob & head[column].isna().to_numpy()
            cells_frame.loc[unknown, column] = UNKNOWN
            titles_frame.loc[unknown, column] = "not recorded in the manifest or not computed yet"
    if time_columns := [c for c in head.columns if str(c).lower() in _TIME_COLUMNS]:
        cells_frame = cells_frame.rename(columns={c: f"{c} (UTC)" for c in time_columns})
        titles_frame = titles_frame.rename(columns={c: f"{c} (UTC)" for c in time_columns})
    notes = []
    if len(shown) > max_rows:
        notes.append(f"… {len(shown) - max_rows:,} more rows of {len(shown):,} (the whole table: .frame)")
    flat = cells_frame.to_numpy().ravel().tolist()
    if UNKNOWN in flat:
        notes.append(f"{UNKNOWN}: not recorded in this image's manifest, or not computed yet")
    if NONE in flat:
        notes.append(f"{NONE}: nothing there (a step that made no layer, a field that is not set)")
    return Table(frame, cells_frame, titles_frame, " · ".join(notes))


def summary(results: Mapping[str, Any], *, max_text: int = 100) -> Table:
    """A dict of results as a two-column table (name, value), formatted as :func:`show` does:
    bytes for names that hold bytes, percentages for ratios and efficiencies.

    >>> print(summary({"wasted_bytes": 45649, "efficiency": 0.4957}))
            what   value
    wasted_bytes 45.6 kB
      efficiency   49.6%
    """
    cells, titles = [], []
    for name, value in results.items():
        drawn, whole = _format_column(str(name), pd.Series([value]), max_text)
        cells.append((str(name), drawn[0]))
        titles.append(("", whole[0]))
    frame = pd.DataFrame(list(results.items()), columns=["what", "value"])
    return Table(
        frame,
        pd.DataFrame(cells, columns=["what", "value"]),
        pd.DataFrame(titles, columns=["what", "value"]),
    )
