"""Writing a large file around the page cache (``O_DIRECT``), for copies that are kept but
not read back soon: a daemon's image export streaming into the cache.

A buffered write copies every byte into freshly allocated page-cache pages; for hundreds of
megabytes that is most of the copy's CPU time, and on a virtual machine whose host hands
back memory the guest has freed, touching those fresh pages costs several times more again.
With ``O_DIRECT`` the bytes go from one reused, page-aligned buffer straight to the disk.
Where the file system refuses it (tmpfs on older kernels, some network and FUSE file
systems) the writer quietly writes as usual."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import stat
from typing import BinaryIO

ALIGN = 4096  # covers every logical block size O_DIRECT may ask offsets and lengths to be a multiple of
BLOCK = 4 << 20  # the staging buffer: large writes, still small in memory


class UncachedWriter:
    """Writes to ``file`` (opened for writing, at offset 0, nothing buffered yet) with
    ``O_DIRECT`` where possible. Call :meth:`finish` once everything is written: it writes
    the last partial block and leaves ``file`` as an ordinary file object again."""

    def __init__(self, file: BinaryIO):
        file.flush()
        self._file = file
        self._fd = file.fileno()
        self._direct = _at_start_of_regular_file(self._fd) and self._set_direct(True)
        self._buffer = mmap.mmap(-1, BLOCK) if self._direct else None  # page-aligned
        self._staged = memoryview(self._buffer) if self._buffer is not None else None
        self._used = 0

    @property
    def direct(self) -> bool:
        """Whether writes still go around the page cache."""
        return self._direct

    def write(self, data: bytes) -> int:
        if not self._direct:
            return self._file.write(data)
        view = memoryview(data).cast("B")
        while view:
            n = min(len(view), BLOCK - self._used)
            self._staged[self._used : self._used + n] = view[:n]
            self._used += n
            view = view[n:]
            if self._used == BLOCK:
                self._flush_blocks()
                if not self._direct:  # refused: the rest as a plain write
                    self._file.write(view)
                    break
        return len(data)

    def finish(self) -> None:
        """Write what is staged and turn ``O_DIRECT`` off again."""
        if self._direct:
            self._flush_blocks()
            self._set_direct(False)
            self._direct = False
            _write_all(self._fd, self._staged[: self._used])
            self._used = 0
        if self._buffer is not None:
            self._staged.release()
            self._buffer.close()
            self._buffer = self._staged = None

    def _flush_blocks(self) -> None:
        """Write the staged whole blocks; what is left over moves to the buffer's start."""
        whole = self._used // ALIGN * ALIGN
        done = 0
        while done < whole:
            try:
                written = os.write(self._fd, self._staged[done:whole])
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                written = 0  # the file system does not take O_DIRECT after all
            if written <= 0 or written % ALIGN:
                # refused, or a short write that leaves the offset unaligned: carry on as usual
                self._set_direct(False)
                self._direct = False
                _write_all(self._fd, self._staged[done + max(written, 0) : self._used])
                self._used = 0
                return
            done += written
        rest = self._used - whole
        self._staged[:rest] = self._staged[whole : self._used]
        self._used = rest

    def _set_direct(self, on: bool) -> bool:
        try:
            flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
        except OSError:
            return False
        return True


def _at_start_of_regular_file(fd: int) -> bool:
    try:
        return (
            hasattr(os, "O_DIRECT")
            and stat.S_ISREG(os.fstat(fd).st_mode)
            and os.lseek(fd, 0, os.SEEK_CUR) == 0
        )
    except OSError:
        return False


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


@contextlib.contextmanager
def uncached(file: BinaryIO):
    """:class:`UncachedWriter` over ``file`` for the block, finished at its end (also when
    it fails, so ``file`` is an ordinary file object again for whoever cleans up)."""
    writer = UncachedWriter(file)
    try:
        yield writer
    finally:
        writer.finish()
