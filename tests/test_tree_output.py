"""``imgexplore tree --layer all|N --format csv|json`` writes file tables straight from
Arrow (imgexplore.arrowtext), without pandas. Its bytes must be exactly what the pandas
writer (imgexplore.output.write, itself checked against pandas and json.dumps) writes for
the same rows, hostile names included."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tarmaker import write_layout

import imgexplore
from imgexplore import arrowtext
from imgexplore.cli import TREE_COLUMNS
from imgexplore.filetree.arrowtable import arrow_from_listing
from imgexplore.filetree.layertable import frame_from_arrow
from imgexplore.filetree.tarlist import COLUMNS
from imgexplore.output import write

HOSTILE_NAMES = [
    "plain.txt",
    "comma,name",
    'say "hi".txt',
    "two\nlines",
    "car\rriage",
    "back\\slash",
    "tab\there",
    "bell\x07",
    "caf\udce9",  # the byte 0xe9 alone: not UTF-8
    "unicode-ünï-✓-\u2028",
    "' single",
]


def _hostile_tar(names: list[str], *, whiteout: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for number, name in enumerate(names):
            info = tarfile.TarInfo(f"d/{name}")
            data = name.encode("utf-8", "surrogateescape") * (number + 1)
            info.size, info.mtime, info.uname, info.gname = len(data), 1700000000 + number, "", "staff"
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo('d/link,"x"')
        link.type, link.linkname = tarfile.SYMTYPE, "target\nwith newline"
        tar.addfile(link)
        if whiteout:
            tar.addfile(tarfile.TarInfo(whiteout))
    return buf.getvalue()


@pytest.fixture(scope="module")
def hostile_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-tree")
    layers = [
        _hostile_tar(HOSTILE_NAMES),
        _hostile_tar(HOSTILE_NAMES[:3], whiteout="d/.wh.two\nlines"),
        _hostile_tar([], whiteout="d/.wh..wh..opq"),
    ]
    return write_layout(root / "oci", layers)


def _cli(argv: list[str], cache: str) -> tuple[bytes, list[str]]:
    """Run the command in a fresh interpreter: its stdout bytes, and the heavy modules it
    imported."""
    code = (
        "import sys\nfrom imgexplore.cli import main\n"
        "code = main(sys.argv[1:])\nsys.stdout.flush()\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'dask') if m in sys.modules), file=sys.stderr)\n"
        "sys.exit(code)"
    )
    env = {"IMGEXPLORE_CACHE": cache, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return out.stdout, json.loads(out.stderr.decode().strip().splitlines()[-1].replace("'", '"'))


def _pandas_reference(layout: str, fmt: str, layer: int | None, path: str | None = None) -> bytes:
    files = imgexplore.open_image(layout).files(cache=False)
    if layer is None:
        table = files.all_layers()[TREE_COLUMNS]
    else:
        table = files.layer(layer).assign(layer=layer % 3)[TREE_COLUMNS]
    if path:
        table = table[(table["path"] == path) | table["path"].str.startswith(path + "/")]
    text = io.StringIO()
    write(table, fmt, text)
    return text.getvalue().encode()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_tree_writes_hostile_names_as_the_pandas_writer_does_and_never_loads_pandas(
    hostile_layout, fmt, tmp_path
):
    cache = str(tmp_path / "cache")
    cases = [(["--layer", "all"], None, None), (["--layer", "1"], 1, None), (["--layer", "2"], 2, None)]
    cases.append((["--layer", "all", "--path", "d/comma,name"], None, "d/comma,name"))
    for round_ in ("fresh", "cached"):
        for extra, layer, path in cases:
            written, heavy = _cli(["tree", hostile_layout, "--format", fmt, *extra], cache)
            assert heavy == [], (round_, extra)
            assert written == _pandas_reference(hostile_layout, fmt, layer, path), (round_, extra)
    rows = json.loads(written) if fmt == "json" else None
    if rows is not None:  # the --path case: exactly that file, in both layers that add it
        assert [(row["layer"], row["path"]) for row in rows] == [(0, "d/comma,name"), (1, "d/comma,name")]
    everything, _ = _cli(["tree", hostile_layout, "--format", fmt, "--layer", "all"], cache)
    if fmt == "json":
        rows = json.loads(everything)
        assert (
            len(rows) == 12 + 5 + 2
        )  # names and a symlink; three, a symlink, a whiteout; a symlink, the marker
        assert {row["path"] for row in rows} >= {"d/car\rriage", "d/caf\\xe9", "d/two\nlines"}
        assert [row["whiteout"] for row in rows if row["whiteout"]] == ["d/two\nlines"]
        assert [row["path"] for row in rows if row["opaque"]] == ["d/.wh..wh..opq"]


_text = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",)), max_size=10))
_row = st.fixed_dictionaries(
    {
        "path": st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
        "type": st.sampled_from(["file", "dir", "symlink", "hardlink", "char", "fifo"]),
        "size": st.integers(0, 2**40),
        "mode": st.integers(0, 0o7777),
        "uid": st.integers(0, 2**32),
        "gid": st.integers(0, 2**32),
        "uname": _text,
        "gname": st.sampled_from(["root", "", "a,b", 'q"q']),
        "mtime": st.integers(-(2**33), 2**33),
        "linkname": _text,
        "whiteout": _text,
        "opaque": st.booleans(),
        "sha256": st.one_of(st.none(), st.just("ab" * 32)),
        "xattrs": _text,
    }
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_row, max_size=12), st.integers(1, 5))
def test_any_file_table_is_written_as_the_pandas_writer_writes_it(rows, chunk_rows):
    columns = {
        name: np.array(
            [row[name] for row in rows], dtype=object if name not in ("size", "mode") else np.int64
        )
        for name in COLUMNS
    }
    for name in ("uid", "gid", "mtime"):
        columns[name] = columns[name].astype(np.int64)
    columns["opaque"] = columns["opaque"].astype(bool)
    table = arrow_from_listing(columns)
    frame = frame_from_arrow(table)
    plain = table.cast(
        pa.schema(
            [f.with_type(pa.string()) if f.name in ("type", "uname", "gname") else f for f in table.schema]
        )
    )
    for fmt, writer in (("csv", arrowtext.write_csv), ("json", arrowtext.write_json)):
        expected = io.StringIO()
        write(frame, fmt, expected)
        for arrow in (table, plain):
            written = io.BytesIO()
            writer(arrow, written, chunk_rows=chunk_rows)
            assert written.getvalue() == expected.getvalue().encode(), fmt


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(), st.sampled_from(["root", "", "file", "dir", "ünïcode", "a,b"]), st.text(max_size=6)
        ),
        max_size=60,
    )
)
def test_text_columns_built_from_few_values_equal_arrows_own_encoding(values):
    """Dictionary columns are made from their distinct values and an all-null column at
    once; both must equal what Arrow's own encoding of every value gives."""
    from imgexplore.filetree.arrowtable import dictionary_array, text_array

    expected = pa.array(values, type=pa.string())
    assert text_array(values).equals(expected)
    assert dictionary_array(values).equals(expected.dictionary_encode())
    assert text_array([None] * len(values)).equals(pa.array([None] * len(values), type=pa.string()))


def test_a_column_of_many_distinct_values_is_dictionary_encoded_the_same():
    from imgexplore.filetree.arrowtable import dictionary_array

    values = [f"user{i % 1500}" for i in range(4000)]
    encoded = dictionary_array(values)
    assert encoded.equals(pa.array(values).dictionary_encode())
    assert len(encoded.dictionary) == 1500


@pytest.mark.parametrize("batch", [None, 3])
def test_type_user_and_group_columns_are_read_as_tarfile_reads_them(batch, monkeypatch):
    """A listing codes its type, uname and gname columns straight from the header bytes
    (at once when every header holds the same name). Names differing row to row, names set
    only by PAX records (one of them first seen there, before any header holds it) and
    several decoding batches must still give tarfile's values, in the dictionary order
    Arrow's own encoding of those values gives."""
    from tarmaker import tar_bytes

    from imgexplore.filetree import tarlist
    from imgexplore.filetree.arrowtable import list_arrow

    if batch is not None:
        monkeypatch.setattr(tarlist, "DECODE_BATCH", batch)
    long_name = "builder-" + "x" * 40  # longer than the 32-byte field: a PAX record
    owners = [
        ("", ""), ("temp", "root"), (long_name, "wheel"), ("root", "staff"),
        ("daemon", "root"), (long_name, "grüppe"), ("root", "root"), ("nobody", "wheel"),
    ]  # fmt: skip
    kinds = ["dir", "file", "symlink", "file", "hardlink", "file", "dir", "file"]
    entries = []
    for number, ((uname, gname), kind) in enumerate(zip(owners, kinds, strict=True)):
        entry = {"name": f"e{number}", "type": kind, "uname": uname, "gname": gname}
        if number == 1:  # the header says "temp"; a PAX record says "root", which row 3's header holds
            entry["pax_headers"] = {"uname": "root"}
        if kind in ("symlink", "hardlink"):
            entry["linkname"] = "e1"
        elif kind == "file":
            entry["data"] = b"x" * number
        entries.append(entry)
    raw = tar_bytes(entries, fmt=tarfile.PAX_FORMAT)
    table = list_arrow(io.BytesIO(raw))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
    kind_of = {
        tarfile.DIRTYPE: "dir",
        tarfile.REGTYPE: "file",
        tarfile.SYMTYPE: "symlink",
        tarfile.LNKTYPE: "hardlink",
    }
    expected = {
        "uname": [m.uname for m in members],
        "gname": [m.gname for m in members],
        "type": [kind_of[m.type] for m in members],
    }
    assert expected["uname"][1:3] == ["root", long_name] and expected["gname"][5] == "grüppe"
    for name, values in expected.items():
        column = table.column(name).combine_chunks()
        assert column.to_pylist() == values
        assert column.dictionary.to_pylist() == list(dict.fromkeys(values))
    listed = tarlist.list_tar(io.BytesIO(raw)).columns
    assert {name: list(listed[name]) for name in expected} == expected
    assert tarlist.CODED not in listed
