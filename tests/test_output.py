"""The CSV and JSON writers convert a column at a time; what they write must be exactly what
pandas' ``to_csv`` and ``json.dumps(rows, indent=2)`` write (``output.render``, the reference),
for every kind of value the tables hold."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from imgexplore.output import render, write


def _same(table: pd.DataFrame) -> None:
    for fmt in ("csv", "json"):
        written = io.StringIO()
        write(table, fmt, written, chunk_rows=3)
        assert written.getvalue() == render(table, fmt) + "\n", fmt


def test_every_kind_of_value_is_written_as_pandas_and_json_write_it():
    table = pd.DataFrame(
        {
            "text": pd.Series(
                ["plain", "a,b", 'say "hi"', "two\nlines", "car\rriage", "", None, "caf\udce9", "\u2028"],
                dtype=object,
            ),
            "number": np.arange(9, dtype=np.int64) * -7,
            "ratio": [0.5, 1e-05, float("nan"), 1e16, 123456789012.0, -0.0, 2.0, float("inf"), 1 / 3],
            "flag": [True, False] * 4 + [True],
            "mixed": pd.Series(
                [1, "x", None, 2.5, np.int64(4), np.float64(0.1), True, np.bool_(False), float("nan")],
                dtype=object,
            ),
            "nested": pd.Series(
                [[1, 2], {"a": "b"}, [], {}, None, ["x,y"], {"k": [1]}, "s", 0], dtype=object
            ),
            "maybe": pd.array(["a", None, "b,c", None, "d", "e", "f", "g", "h"], dtype="string"),
            "small": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9], dtype="Int64"),
        }
    )
    _same(table)
    _same(table[["text", "number"]].iloc[:0])  # empty
    _same(table[["number", "flag"]])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
            st.integers(-(2**40), 2**40),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_text_is_written_as_pandas_writes_it(rows):
    table = pd.DataFrame(rows, columns=["path", "size", "opaque"])
    _same(table.astype({"path": object}))
    _same(table)


def test_plain_rows_render_as_their_dataframe_does():
    """`imgexplore cache` prints its rows without pandas: the same text for every format."""
    from imgexplore.rowtext import render_rows

    rows = [
        {"part": "blobs", "files": 281, "bytes": 42626428, "note": None},
        {"part": 'file "tables", etc', "files": 0, "bytes": 0, "note": "two\nlines"},
    ]
    for fmt in ("table", "csv", "json"):
        assert render_rows(rows, fmt) == render(pd.DataFrame(rows), fmt), fmt
