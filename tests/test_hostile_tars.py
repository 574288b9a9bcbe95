"""Hostile layer tars: each lists without harm or ends in imgexplore's own error, and
extraction never writes outside its target folder."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random

import pytest
import zstandard
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore import ArchiveError, DigestMismatchError, LimitExceededError
from imgexplore.extract import extract, read_file
from imgexplore.filetree.tarlist import list_tar


def set_field(raw: bytes, header_offset: int, start: int, value: bytes) -> bytes:
    """Overwrite a header field and fix the checksum, as a crafted tar would."""
    block = bytearray(raw[header_offset : header_offset + 512])
    block[start : start + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return raw[:header_offset] + bytes(block) + raw[header_offset + 512 :]


def image_of(tmp_path, entries):
    return imgexplore.open_image(write_layout(tmp_path / "oci", [tar_bytes(entries)]))


def test_traversal_and_absolute_paths_are_listed_and_never_extracted_outside(tmp_path):
    image = image_of(
        tmp_path,
        [
            {"name": "../../escaped", "data": b"x"},
            {"name": "/etc/shadow", "data": b"root:*:"},
            {"name": "ok.txt", "data": b"fine"},
        ],
    )
    table = image.files(cache=False).layer(0)
    assert table["path"].tolist() == ["../../escaped", "etc/shadow", "ok.txt"]
    dest = tmp_path / "out" / "dest"
    report = extract(image, "/", dest)
    assert sorted(report.written) == ["etc/shadow", "ok.txt"]
    assert [p for p, _ in report.skipped] == ["../../escaped"]
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out" / "escaped").exists()
    assert (dest / "etc" / "shadow").read_bytes() == b"root:*:"


def test_symlink_escape_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    image = image_of(
        tmp_path,
        [
            {"name": "evil", "type": "symlink", "linkname": str(outside)},
            {"name": "evil/pwned", "data": b"gotcha"},
            {"name": "up", "type": "symlink", "linkname": "../../.."},
            {"name": "up/pwned2", "data": b"gotcha"},
        ],
    )
    report = extract(image, "", tmp_path / "dest")
    assert sorted(p for p, _ in report.skipped) == ["evil/pwned", "up/pwned2"]
    assert list(outside.iterdir()) == []
    assert os.path.islink(tmp_path / "dest" / "evil")  # the link itself is harmless


def test_hardlink_to_outside_and_device_nodes_are_skipped(tmp_path):
    image = image_of(
        tmp_path,
        [
            {"name": "link", "type": "hardlink", "linkname": "../../etc/passwd"},
            {"name": "null", "type": "char"},
            {"name": "pipe", "type": "fifo"},
            {"name": "suid", "data": b"#!", "mode": 0o4755},
        ],
    )
    report = extract(image, "", tmp_path / "dest")
    assert sorted(p for p, _ in report.skipped) == ["link", "null", "pipe"]
    assert oct(os.stat(tmp_path / "dest" / "suid").st_mode & 0o7777) == "0o755"  # set-uid dropped


def test_size_limit_on_extraction_and_cat(tmp_path):
    image = image_of(tmp_path, [{"name": "big", "data": b"x" * 5000}])
    with pytest.raises(LimitExceededError, match="max_file_size"):
        extract(image, "big", tmp_path / "dest", max_file_size=1000)
    assert not (tmp_path / "dest" / "big").exists()
    with pytest.raises(LimitExceededError, match="max_bytes"):
        read_file(image, "big", max_bytes=1000)
    assert read_file(image, "big") == b"x" * 5000


def test_symlink_loop(tmp_path):
    image = image_of(
        tmp_path,
        [
            {"name": "a", "type": "symlink", "linkname": "b"},
            {"name": "b", "type": "symlink", "linkname": "/a"},
        ],
    )
    with pytest.raises(imgexplore.ImgExploreError, match="more than 40 symlinks"):
        read_file(image, "a")


def test_negative_size():
    raw = tar_bytes([{"name": "f", "data": b"abc"}], fmt=0)  # ustar
    raw = set_field(raw, 0, 124, b"\xff" * 12)  # base-256 -1
    with pytest.raises(ArchiveError, match="negative size"):
        list_tar(io.BytesIO(raw))


def test_absurd_size_is_a_truncation():
    raw = tar_bytes([{"name": "f", "data": b"abc"}], fmt=0)
    raw = set_field(raw, 0, 124, b"77777777777\0")
    with pytest.raises(ArchiveError, match="truncated"):
        list_tar(io.BytesIO(raw))


def test_bad_checksum():
    raw = bytearray(tar_bytes([{"name": "f", "data": b"abc"}, {"name": "g", "data": b"d"}], fmt=0))
    raw[512 * 2 + 1] ^= 0x20  # second header's name
    with pytest.raises(ArchiveError, match="bad checksum"):
        list_tar(io.BytesIO(bytes(raw)))


def test_not_a_tar():
    with pytest.raises(ArchiveError, match="bad checksum|not octal"):
        list_tar(io.BytesIO(os.urandom(4096)))


def test_oversized_pax_header():
    raw = tar_bytes([{"name": "f", "data": b"x", "pax_headers": {"comment": "y" * 5000}}])
    with pytest.raises(LimitExceededError, match="max_header_bytes"):
        list_tar(io.BytesIO(raw), max_header_bytes=1000)


def test_entry_count_cap():
    raw = tar_bytes([{"name": f"f{i}", "data": b""} for i in range(50)])
    with pytest.raises(LimitExceededError, match="more than 10 entries"):
        list_tar(io.BytesIO(raw), max_entries=10)


def test_gzip_bomb_is_stopped(tmp_path):
    bomb = tar_bytes([{"name": "zeros", "data": bytes(32 * 1024 * 1024)}])
    image = imgexplore.open_image(write_layout(tmp_path / "oci", [bomb]))
    assert image.layers[0].size < 100_000  # 32 MiB of zeros gzip to ~32 KB
    from imgexplore.filetree.layertable import layer_table

    with pytest.raises(LimitExceededError, match="max_uncompressed_bytes"):
        layer_table(image.layers[0], cache=False, max_uncompressed_bytes=1024 * 1024)


@pytest.mark.parametrize(
    "compress", [gzip.compress, zstandard.ZstdCompressor().compress], ids=["gzip", "zstd"]
)
def test_truncated_streams(tmp_path, compress):
    raw = tar_bytes([{"name": "f", "data": os.urandom(20000)}])
    image = imgexplore.open_image(write_layout(tmp_path / "oci", [raw], compress=compress))
    blob = tmp_path / "oci/blobs/sha256" / image.layers[0].digest.split(":")[1]
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    with pytest.raises((ArchiveError, DigestMismatchError)):
        image.files(cache=False).layer(0)


def test_pax_and_gnu_long_names_and_xattrs(tmp_path):
    import tarfile

    long = "d/" + "x" * 150
    pax = tar_bytes([{"name": long, "data": b"1", "pax_headers": {"SCHILY.xattr.user.note": "hi"}}])
    gnu = tar_bytes(
        [{"name": long, "data": b"1"}, {"name": "l", "type": "symlink", "linkname": "t" * 150}],
        fmt=tarfile.GNU_FORMAT,
    )
    pax_table = list_tar(io.BytesIO(pax)).columns
    assert pax_table["path"] == [long]
    assert pax_table["xattrs"] == ['{"user.note": "hi"}']
    gnu_table = list_tar(io.BytesIO(gnu)).columns
    assert list(gnu_table["path"]) == [long, "l"]
    assert list(gnu_table["linkname"]) == ["", "t" * 150]


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_sparse_file(tmp_path, fmt):
    """A real sparse file archived by GNU tar --sparse: listed with its apparent size."""
    import subprocess

    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse.img", "wb") as f:
        for i in range(1, 11):  # ten data segments: the old GNU format needs extension blocks
            f.seek(i * 512 * 1024)
            f.write(b"data")
        f.seek(5 * 1024 * 1024)
        f.write(b"end")
    (src / "after.txt").write_bytes(b"listed after the sparse file")
    archive = tmp_path / "s.tar"
    subprocess.run(
        [
            "tar",
            "--sparse",
            f"--format={fmt}",
            "-cf",
            str(archive),
            "-C",
            str(src),
            "sparse.img",
            "after.txt",
        ],
        check=True,
    )
    with open(archive, "rb") as f:
        listing = list_tar(f)
    assert list(listing.columns["path"]) == ["sparse.img", "after.txt"]
    assert list(listing.columns["size"]) == [os.path.getsize(src / "sparse.img"), 28]
    import hashlib

    assert listing.columns["sha256"][1] == hashlib.sha256(b"listed after the sparse file").hexdigest()
    assert os.path.getsize(archive) < 100_000


@pytest.mark.parametrize("batch", [None, 7], ids=["one batch", "batches of 7"])
def test_fast_and_careful_paths_agree_with_tarfile(tmp_path, batch, monkeypatch):
    """Runs of plain entries take the vectorised path, extension headers the careful one;
    a mixed archive must list exactly as Python's tarfile reads it — also when the headers
    are decoded a few entries at a time (PAX values then land in later batches)."""
    import random
    import tarfile

    from imgexplore.filetree import tarlist

    if batch is not None:
        monkeypatch.setattr(tarlist, "DECODE_BATCH", batch)

    rng = random.Random(7)
    entries = []
    for i in range(3000):
        kind = rng.random()
        name = f"d{i % 17}/" + ("n" * rng.randrange(90, 160) if kind < 0.05 else f"f{i}")
        if kind < 0.1:
            entries.append(
                {
                    "name": name,
                    "data": os.urandom(rng.randrange(0, 3000)),
                    "pax_headers": {"comment": "x" * rng.randrange(1, 50)},
                }
            )
        elif kind < 0.15:
            entries.append(
                {"name": name + "-link", "type": "symlink", "linkname": "t" * rng.randrange(1, 150)}
            )
        elif kind < 0.2:
            entries.append({"name": name + "-dir", "type": "dir"})
        else:
            entries.append({"name": name, "data": os.urandom(rng.randrange(0, 5000))})
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        raw = tar_bytes(entries, fmt=fmt)
        listing = list_tar(io.BytesIO(raw), chunk_size=64 * 1024).columns
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            members = tar.getmembers()
            expected_hashes = [
                hashlib.sha256(tar.extractfile(m).read()).hexdigest() if m.isfile() else None for m in members
            ]
        assert list(listing["path"]) == [m.name for m in members]
        assert list(listing["size"]) == [m.size if m.isfile() else 0 for m in members]
        assert list(listing["linkname"]) == [m.linkname if m.issym() else "" for m in members]
        assert list(listing["sha256"]) == expected_hashes
        assert list(listing["mtime"]) == [int(m.mtime) for m in members]
        assert list(listing["type"]) == [
            "symlink" if m.issym() else "dir" if m.isdir() else "file" for m in members
        ]


def test_names_are_normalised_row_by_row_when_odd_ones_sit_side_by_side():
    """Only names with a leading "/" or "./", a trailing "/" or "/.", "//" or "/./" (or ".")
    are rewritten, each in its own row, whatever its neighbours are."""
    odd = ["x/", "/b", "./c", "d//e", "f/./g", "h/.", ".", "/", "k/", "./l/", "plain"]
    entries = [{"name": f"run/{i}", "data": b"z"} for i in range(80)]  # enough for the fast path
    for name in odd:
        entries.append({"name": name, "type": "dir" if name.endswith(("/", ".")) else "file"})
        entries.append({"name": f"after-{len(entries)}", "data": b"y"})
    listing = list_tar(io.BytesIO(tar_bytes(entries))).columns
    expected = [e["name"].strip("/") if e["name"].startswith("run/") else e["name"] for e in entries]
    expected = ["/".join(p for p in name.split("/") if p not in ("", ".")) for name in expected]
    assert list(listing["path"]) == expected
    assert expected[80:92:2] == ["x", "b", "c", "d/e", "f/g", "h"]


def test_random_names_of_slashes_and_dots_are_normalised_as_one_by_one():
    """Which names need normalising is found by one search over a whole batch's names; on
    3,000 random names of "/", "." and "a" (up to the 100 bytes a plain header holds) the
    listing gives what normalising each name by itself gives."""
    from imgexplore.filetree.tarlist import normalize_path

    rng = random.Random(7)
    names = ["".join(rng.choice("/.a") for _ in range(rng.randrange(1, 100))) for _ in range(3000)]
    raw = bytearray()
    for number, name in enumerate(names):  # raw ustar headers: tarfile would tidy the names
        header = bytearray(512)
        header[: len(name)] = name.encode()
        for start, value in ((100, "0000644"), (108, "0000000"), (116, "0000000"), (124, "00000000000")):
            header[start : start + len(value)] = value.encode()
        header[136:147] = b"%011o" % (1_700_000_000 + number)
        header[156] = ord("0")
        header[257:265] = b"ustar\x0000"
        header[148:156] = b" " * 8
        header[148:155] = b"%06o\0" % sum(header)
        raw += header
    raw += bytes(1024)
    listing = list_tar(io.BytesIO(bytes(raw))).columns
    assert list(listing["path"]) == [normalize_path(name) for name in names]
    assert sum(normalize_path(name) != name for name in names) > 2500  # most of them are odd


def test_a_read_chunk_holding_more_headers_than_a_batch_lists_the_same():
    """With a large read size one pass of the vectorised walk can take more entries than a
    decoding batch holds (20,000 in one 32 MiB chunk); the batch's header rows then grow."""
    import tarfile

    entries = [{"name": f"d{i % 50}/f{i}", "data": bytes([i % 251])} for i in range(20_000)]
    raw = tar_bytes(entries)
    big = list_tar(io.BytesIO(raw), chunk_size=32 << 20)
    usual = list_tar(io.BytesIO(raw))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        names = tar.getnames()
    assert list(big.columns["path"]) == names == list(usual.columns["path"])
    assert list(big.columns["sha256"]) == list(usual.columns["sha256"])
    assert big.columns["sha256"][12_345] == hashlib.sha256(bytes([12_345 % 251])).hexdigest()
    assert big.diff_id == usual.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
