"""CSV and JSON text straight from an Arrow table, with Arrow's compute kernels: the same
bytes :func:`imgexplore.output.write` writes for the same table through pandas, without
loading pandas or making a Python object per value. ``imgexplore tree`` uses it for file
tables, where a listing has hundreds of thousands of rows.

Columns may be integers, booleans and text (plain or dictionary-encoded), with nulls:
what a file table holds; :func:`writable` says whether a table is only that (if not, the
caller takes the pandas path)."""

from __future__ import annotations

import collections
import json
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from .filetree.arrowtable import bool_array, text_array
from .filetree.arrowtable import literal as literal_scalar

# the literals the writers join values with, made once (see arrowtable.literal)
_L = {text: literal_scalar(text) for text in ("", ",", "\n", '"', "True", "False", "true", "false", "null")}
_FALSE = bool_array([False])[0]

CHUNK_ROWS = 16_384  # rows converted at once: memory for the text of one chunk, not of the table
_CSV_SPECIAL = '[,"\n]'  # the csv module's minimal quoting with "\n" line ends (rowtext.csv_quoted)
_JSON_SPECIAL = '["\\\\\x00-\x1f]'  # what json.dumps escapes when ensure_ascii is off
_JSON_SPECIAL_BYTES = bytes(range(32)) + b'"\\'


def writable(table: pa.Table) -> bool:
    """Whether every column is of a kind these writers convert exactly."""
    return all(_kind(field.type) is not None for field in table.schema)


def _kind(kind: pa.DataType) -> str | None:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    return None


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def _may_contain(text: pa.Array, marks: bytes) -> bool:
    """False when no value of a string array holds any of the bytes ``marks`` (one memchr
    over its data buffer each, much faster than a regular expression per value); True when
    some might (the buffer may also hold bytes of values sliced away)."""
    data = text.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()  # a copy, still far cheaper than the regular expression
    if len(marks) <= 4:
        return any(raw.find(marks[i : i + 1]) >= 0 for i in range(len(marks)))
    return len(raw.translate(None, marks)) != len(raw)


def _csv_column(column: pa.Array) -> pa.Array:
    kind = _kind(column.type)
    if kind == "bool":
        return pc.if_else(column, _L["True"], _L["False"]).fill_null(_L[""])
    text = _as_text(column).fill_null(_L[""])
    if kind == "int" or not _may_contain(text, b',"\n'):
        return text
    special = pc.match_substring_regex(text, _CSV_SPECIAL)
    if not pc.any(special).as_py():
        return text
    quoted = pc.binary_join_element_wise(_L['"'], pc.replace_substring(text, '"', '""'), _L['"'], _L[""])
    return pc.if_else(special, quoted, text)


def _json_column(column: pa.Array) -> tuple[pa.Array, bool]:
    """The column's JSON texts, and whether they still need quotes around them (text columns
    without nulls leave their quotes to the literals around them: one join fewer)."""
    kind = _kind(column.type)
    if kind == "bool":
        return pc.if_else(column, _L["true"], _L["false"]).fill_null(_L["null"]), False
    text = _as_text(column)
    if kind == "int":
        return text.fill_null(_L["null"]), False
    # the rare value with quotes, backslashes or control characters
    if _may_contain(text, _JSON_SPECIAL_BYTES):
        special = pc.match_substring_regex(text, _JSON_SPECIAL).fill_null(_FALSE)
        escaped = [json.dumps(value, ensure_ascii=False)[1:-1] for value in text.filter(special).to_pylist()]
        text = pc.replace_with_mask(text, special, text_array(escaped))
    if text.null_count == 0:
        return text, True
    return pc.binary_join_element_wise(_L['"'], text, _L['"'], _L[""]).fill_null(_L["null"]), False


def _write_values(values: pa.Array, out: BinaryIO, *, drop_tail: int = 0) -> None:
    """Write a string array's values back to back, straight from its data buffer, less the
    last ``drop_tail`` bytes."""
    values = values.cast(pa.large_string())  # 64-bit offsets, whatever the size
    _, offsets, data = values.buffers()
    positions = memoryview(offsets).cast("q")
    start, end = positions[values.offset], positions[values.offset + len(values)]
    out.write(memoryview(data)[start : end - drop_tail])


def _parts(table: pa.Table, chunk_rows: int):
    """The table's columns, ``chunk_rows`` rows at a time, each as one array."""
    for start in range(0, table.num_rows, chunk_rows):
        part = table.slice(start, chunk_rows).combine_chunks()
        yield [part.column(i).chunk(0) for i in range(part.num_columns)]


def _built_in_order(build, items, ahead: int = 2):
    """``build(item)`` for each item, ``ahead`` at a time on threads of their own (Arrow's
    kernels release the GIL, so both cores build text while this thread writes it), handed
    back in order, never more than ``ahead`` waiting."""
    with ThreadPoolExecutor(ahead, thread_name_prefix="imgexplore-text") as pool:
        waiting: collections.deque = collections.deque()
        for item in items:
            waiting.append(pool.submit(build, item))
            if len(waiting) > ahead:
                yield waiting.popleft().result()
        while waiting:
            yield waiting.popleft().result()


def write_csv(table: pa.Table, out: BinaryIO, *, chunk_rows: int = CHUNK_ROWS) -> None:
    """``table`` as pandas' ``to_csv(index=False)`` writes it, UTF-8, to ``out``."""
    from .rowtext import csv_quoted

    def lines(columns: list[pa.Array]) -> pa.Array:
        pieces = [piece for column in columns for piece in (_L[","], _csv_column(column))]
        return pc.binary_join_element_wise(*pieces[1:], _L["\n"], _L[""])

    out.write((",".join(csv_quoted(list(table.column_names))) + "\n").encode())
    for text in _built_in_order(lines, _parts(table, chunk_rows)):
        _write_values(text, out)


def write_json(table: pa.Table, out: BinaryIO, *, chunk_rows: int = CHUNK_ROWS) -> None:
    """``table`` as ``json.dumps(rows, indent=2, ensure_ascii=False)`` writes it (one object
    per row), UTF-8, to ``out``."""
    if table.num_rows == 0:
        out.write(b"[]\n")
        return
    keys = [json.dumps(name, ensure_ascii=False) for name in table.column_names]

    def objects(columns: list[pa.Array]) -> pa.Array:
        # one join of literals and values: '  {\n    "a": ' v1 ',\n    "b": "' v2 '"\n  }'
        pieces: list = []
        literal = "  {\n"
        for number, (key, column) in enumerate(zip(keys, columns, strict=True)):
            values, quote = _json_column(column)
            literal += ("" if number == 0 else ",\n") + f"    {key}: " + ('"' if quote else "")
            pieces += [literal_scalar(literal), values]
            literal = '"' if quote else ""
        pieces.append(literal_scalar(literal + "\n  },\n"))
        return pc.binary_join_element_wise(*pieces, _L[""])

    out.write(b"[\n")
    for number, text in enumerate(_built_in_order(objects, _parts(table, chunk_rows))):
        if number:
            out.write(b",\n")
        _write_values(text, out, drop_tail=2)  # the last ",\n"
    out.write(b"\n]\n")
