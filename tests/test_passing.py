"""Layers listed while an archive streams past (what docker-daemon: does with a daemon's
export): the copy is byte-for-byte, and opening the copy finds each listed layer's table in
the cache, equal to listing it from the copy."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

import imgexplore
from imgexplore.filetree.arrowtable import TreeCache, layer_arrow
from imgexplore.filetree.passing import copy_and_list

ROOT = __import__("conftest").ROOT


def chunked(data: bytes, size: int):
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("archive", ["teaching", "multiarch"])
@pytest.mark.parametrize("chunk", [1 << 20, 4093])  # whole reads, and pieces that split headers
def test_listed_as_it_passes_and_found_when_opened(archive, chunk, tmp_path):
    data = (ROOT / "data" / archive / "docker-save.tar").read_bytes()
    store = TreeCache(tmp_path / "cache")
    out = io.BytesIO()
    listed = copy_and_list(chunked(data, chunk), out, store, min_bytes=0)
    assert out.getvalue() == data
    copy = tmp_path / "copy.tar"
    copy.write_bytes(out.getvalue())
    platforms = imgexplore.list_platforms(str(copy))
    images = [
        imgexplore.open_image(str(copy), p or None) for p in platforms["platform"] if p != "unknown/unknown"
    ]
    layers = [layer for image in images for layer in image.layers if not layer.empty]
    assert listed == len({layer.digest for layer in layers}) == {"teaching": 6, "multiarch": 3}[archive]
    for layer in layers:
        assert store.diff_id_for(layer.digest) == layer.diff_id  # found by the blob digest the source names
        cached = layer_arrow(layer, cache=store)
        fresh = layer_arrow(layer, cache=False)
        assert cached.equals(fresh) and cached.num_rows > 0


def test_what_is_not_a_layer_tar_is_copied_and_left_alone(tmp_path):
    """A blob named like a layer that is not a tar, a truncated archive: the copy is still
    exact, nothing wrong is cached."""
    blob = json.dumps({"not": "a tar", "pad": "x" * 5000}).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("blobs/sha256/" + "ab" * 32)
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    data = raw.getvalue()
    store = TreeCache(tmp_path / "cache")
    for stream in (data, data[: len(data) // 2 + 7]):
        out = io.BytesIO()
        assert copy_and_list(chunked(stream, 1000), out, store, min_bytes=0) == 0
        assert out.getvalue() == stream
    assert not list(store.root.rglob("*.arrow"))


def test_a_failed_copy_is_not_hidden(tmp_path):
    """An error from the stream itself (the daemon hanging up) reaches the caller, so the
    half-written export is discarded rather than kept as a short archive."""
    path = ROOT / "data" / "teaching" / "docker-save.tar"
    data = path.read_bytes()
    with tarfile.open(path) as tar:  # cut in the middle of the first layer, while it is listed
        first = next(m for m in tar.getmembers() if m.name.endswith("/layer.tar") and m.size > 4096)
    cut = first.offset_data + first.size // 2

    def broken():
        yield from chunked(data[:cut], 1000)
        raise ConnectionResetError("the daemon hung up")

    with pytest.raises(ConnectionResetError):
        copy_and_list(broken(), io.BytesIO(), TreeCache(tmp_path / "cache"), min_bytes=0)


def test_a_listing_that_fails_stops_the_copying_thread(tmp_path):
    """The copy runs ahead of the lister in a thread of its own; when the lister fails with
    something the pass does not expect, the error reaches the caller and the thread ends,
    although it was blocked handing on chunks nobody will read."""
    import threading

    class Broken(TreeCache):
        def put(self, table, digest):
            raise RuntimeError("the store broke")

    data = (ROOT / "data" / "teaching" / "docker-save.tar").read_bytes()
    with pytest.raises(RuntimeError, match="the store broke"):
        copy_and_list(chunked(data, 1000), io.BytesIO(), Broken(tmp_path / "cache"), min_bytes=0)
    assert not [t for t in threading.enumerate() if t.name.startswith("imgexplore-export-")]


def test_a_failed_write_is_not_hidden_and_the_threads_end(tmp_path):
    """Writing happens in a thread of its own; a full disk there reaches the caller as the
    OSError it is (the half-written export is then discarded), and both threads end."""
    import errno
    import threading

    class Full(io.BytesIO):
        def write(self, data):
            if self.tell() + len(data) > 50_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    data = (ROOT / "data" / "teaching" / "docker-save.tar").read_bytes()
    assert len(data) > 100_000
    with pytest.raises(OSError, match="No space left"):
        copy_and_list(chunked(data, 1000), Full(), TreeCache(tmp_path / "cache"), min_bytes=0)
    assert not [t for t in threading.enumerate() if t.name.startswith("imgexplore-export-")]


def _cut_points(data: bytes) -> dict[str, int]:
    """Where a real ``docker save`` archive can stop: at a header (every member before it
    whole, which tarfile alone takes for the end), inside a header, inside a layer's bytes,
    and after the first of its two end-of-archive blocks."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        end = tar.offset
    layer = next(m for m in members if m.name.endswith("/layer.tar") and m.size > 4096)
    last = members[-1]
    return {
        "at the last header": last.offset,
        "inside a header": last.offset + 100,
        "inside a layer": layer.offset_data + layer.size // 2,
        "at the end-of-archive block": end,
        "after one end block": end + 512,
    }


@pytest.mark.parametrize(
    "cut", ["at the last header", "inside a header", "inside a layer", "at the end-of-archive block"]
)
def test_an_archive_that_stops_early_is_told_from_a_whole_one(cut, tmp_path):
    """An export read until the connection closes has no length to check: ``whole`` checks
    the tar's own end instead, and a stream that stopped anywhere before it is an error once
    it is copied, even where every member before the cut is whole."""
    from imgexplore.errors import ArchiveError

    data = (ROOT / "data" / "teaching" / "docker-save.tar").read_bytes()
    stop = _cut_points(data)[cut]
    out = io.BytesIO()
    with pytest.raises(ArchiveError, match=f"stops after {stop} bytes"):
        copy_and_list(chunked(data[:stop], 4093), out, TreeCache(tmp_path / "cache"), min_bytes=0, whole=True)
    assert out.getvalue() == data[:stop]  # copied as it came: the caller discards it


def test_a_whole_archive_passes_the_check_and_trailing_bytes_do_not(tmp_path):
    """The whole archive, and one that lost only its second end block, are whole (every
    member is there); bytes other than zeros after the end block are not a tar's end."""
    from imgexplore.errors import ArchiveError

    data = (ROOT / "data" / "teaching" / "docker-save.tar").read_bytes()
    store = TreeCache(tmp_path / "cache")
    assert copy_and_list(chunked(data, 4093), io.BytesIO(), store, min_bytes=0, whole=True) == 6
    one_block = data[: _cut_points(data)["after one end block"]]
    copy_and_list(chunked(one_block, 1000), io.BytesIO(), store, min_bytes=0, whole=True)
    padded = data + bytes(10240)  # padded to a record, as some writers do
    copy_and_list(chunked(padded, 1000), io.BytesIO(), store, min_bytes=0, whole=True)
    with pytest.raises(ArchiveError):
        copy_and_list(chunked(data + b"garbage", 1000), io.BytesIO(), store, min_bytes=0, whole=True)
