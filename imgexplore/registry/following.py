"""Reading a blob while it downloads: a reader follows the download's file as it is written.

A registry layer used to be read only once its whole blob was in the cache: listing it then
started when the download ended. With a :class:`Download` the downloading side reports how
much of its temporary file is written and how it ended; a :class:`FollowingReader` hands out
those bytes as they land, waits for more, and at the end either reports the end of the blob
(the download verified every byte against its digest and put the file in the cache) or
raises the download's error. A reader that follows a download therefore never sees the end
of a blob that did not verify."""

from __future__ import annotations

import io
import os
import threading

from ..errors import ArchiveError, ImgExploreError

HELD_BACK = 64 << 10  # bytes at the end of what is written that a reader gets only once verified


class DownloadStopped(ImgExploreError):
    """A download ended on purpose because nobody reads it any more (one of the library's
    own errors, so that it stays one wherever it is met)."""


class Download:
    """The state of one blob download, shared between the thread that downloads and the
    readers that follow it. ``for_readers``: it was started for its readers alone, and
    stops (at its next chunk) once the last of them has left before the end."""

    def __init__(self, *, for_readers: bool = False) -> None:
        self._for_readers = for_readers
        self._readers = 0
        self._changed = threading.Condition()
        self._partial: str | None = None  # the temporary file, once created
        self._written = 0  # bytes of it on disk, from its start
        self._final: str | None = None  # the cache file, once verified
        self._error: BaseException | None = None
        self._done = False
        self._stop = threading.Event()

    # the downloading side
    def created(self, partial: str) -> None:
        with self._changed:
            self._partial = partial

    def wrote(self, written: int) -> None:
        """``written`` bytes from the start of the temporary file are on disk (fewer than
        before when the download started over)."""
        with self._changed:
            self._written = written
            self._changed.notify_all()

    def finished(self, final: str | None = None, error: BaseException | None = None) -> None:
        """The download ended: verified into ``final`` (which another download may have
        written: the whole file counts as written), or failed with ``error``."""
        with self._changed:
            if not self._done:
                self._final, self._error, self._done = final, error, True
                if final is not None:
                    self._written = os.path.getsize(final)
            self._changed.notify_all()

    def check(self, _received: int = 0) -> None:
        """A progress callback for the download: raises :class:`DownloadStopped` once
        :meth:`stop` was called."""
        if self._stop.is_set():
            raise DownloadStopped("nobody reads this download any more")

    def stop(self) -> None:
        """Ask the download to end at its next chunk."""
        self._stop.set()

    # the reading side
    def joined(self) -> None:
        with self._changed:
            self._readers += 1

    def left(self) -> None:
        with self._changed:
            self._readers -= 1
            if self._for_readers and not self._readers and not self._done:
                self._stop.set()

    def wait_past(self, offset: int) -> tuple[int, bool]:
        """Block until more than ``offset`` bytes are written or the download has ended;
        return (bytes written, ended). Raises the download's error if it failed."""
        with self._changed:
            while self._written <= offset and not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            return self._written, self._done

    def wait_end(self) -> None:
        """Block until the download has ended; raises its error if it failed."""
        with self._changed:
            while not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error

    def path(self) -> str | None:
        """Where the bytes are: the cache file once verified, else the temporary file."""
        with self._changed:
            return self._final or self._partial


class FollowingReader(io.RawIOBase):
    """The bytes of a :class:`Download` as they are written; end of stream only once the
    download has verified them, its error (as it was raised) otherwise. ``what`` names the
    blob in the error of a file that cannot be read."""

    def __init__(self, download: Download, what: str):
        super().__init__()
        self._download = download
        self._what = what
        self._fd: int | None = None
        self._offset = 0
        download.joined()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # the last bytes wait for the digest: a decoder's own end-of-stream checks (a gzip
        # trailer's CRC) then come after it, and a corrupt download is named as such
        written, ended = self._download.wait_past(self._offset + HELD_BACK)
        if not ended:
            written -= HELD_BACK
        if written <= self._offset:
            return 0  # ended, verified, and everything was read
        view = memoryview(buffer).cast("B")
        try:
            data = os.pread(self._open(), min(len(view), written - self._offset), self._offset)
        except OSError as exc:
            raise ArchiveError(
                f"{self._what}: the download cannot be read back ({exc.strerror or exc})"
            ) from None
        view[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def _open(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self._download.path(), os.O_RDONLY)
            except FileNotFoundError:  # renamed into the cache (or removed) in between
                self._download.wait_end()
                self._fd = os.open(self._download.path(), os.O_RDONLY)
        return self._fd

    def close(self) -> None:
        if not self.closed:
            self._download.left()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        super().close()
