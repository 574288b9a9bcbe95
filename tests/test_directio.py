"""The export copy written around the page cache: the same bytes as a plain write, whatever
the pieces, and a plain write wherever O_DIRECT is refused."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import random

import pytest

from imgexplore import directio
from imgexplore.directio import ALIGN, BLOCK, uncached


def _pieces(rng: random.Random, total: int) -> list[bytes]:
    sizes = [1, ALIGN - 1, ALIGN, ALIGN + 1, BLOCK, BLOCK + 7, 3 * BLOCK // 2, 0, 65_536]
    out, left = [], total
    while left > 0:
        n = min(left, rng.choice(sizes) or rng.randrange(1, 2 * BLOCK))
        out.append(rng.randbytes(n))
        left -= n
    return out


@pytest.mark.parametrize("total", [0, 100, ALIGN, BLOCK, 3 * BLOCK + 12_345])
def test_the_file_holds_exactly_what_was_written(tmp_path, total):
    pieces = _pieces(random.Random(total), total)
    path = tmp_path / "export.tar"
    with open(path, "wb") as f:
        with uncached(f) as writer:
            for piece in pieces:
                assert writer.write(piece) == len(piece)
            if total:  # on this machine's ext4 the copy does go around the page cache
                assert writer.direct
                assert fcntl.fcntl(f.fileno(), fcntl.F_GETFL) & os.O_DIRECT
        # finished: the same file object is an ordinary one again
        assert not fcntl.fcntl(f.fileno(), fcntl.F_GETFL) & os.O_DIRECT
    data = path.read_bytes()
    assert len(data) == total
    assert hashlib.sha256(data).digest() == hashlib.sha256(b"".join(pieces)).digest()


def test_a_file_system_that_refuses_o_direct_gets_a_plain_write(tmp_path, monkeypatch):
    """No file system here refuses O_DIRECT (ext4 and tmpfs both take it), so os.write is
    made to answer EINVAL as such a file system would, once the flag is set."""
    real_write = os.write

    def refusing(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(directio.os, "write", refusing)
    pieces = _pieces(random.Random(1), 2 * BLOCK + 999)
    path = tmp_path / "export.tar"
    with open(path, "wb") as f, uncached(f) as writer:
        for piece in pieces:
            writer.write(piece)
        assert not writer.direct
    assert path.read_bytes() == b"".join(pieces)


def test_a_pipe_or_a_file_not_at_its_start_is_written_plainly(tmp_path):
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as f, uncached(f) as writer:
        assert not writer.direct  # O_DIRECT on a pipe would make it a packet pipe
        writer.write(b"through the pipe")
    with os.fdopen(read_end, "rb") as f:
        assert f.read() == b"through the pipe"
    path = tmp_path / "appended"
    path.write_bytes(b"head ")
    with open(path, "ab") as f, uncached(f) as writer:
        assert not writer.direct
        writer.write(b"tail")
    assert path.read_bytes() == b"head tail"
