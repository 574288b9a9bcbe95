"""Small stream wrappers shared by the sources and the layer readers."""

from __future__ import annotations

import io
from typing import BinaryIO

from .errors import ArchiveError, ImgExploreError, LimitExceededError


class RawWrapper(io.RawIOBase):
    """A readable raw stream over another one, closing it when closed."""

    def __init__(self, raw: BinaryIO):
        super().__init__()
        self._raw = raw

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class GuardedReader(RawWrapper):
    """Turns any foreign exception raised while reading (zlib, zstandard, tarfile, OS errors)
    into an :class:`ArchiveError` that names ``what`` is being read."""

    def __init__(self, raw: BinaryIO, what: str, kind: str = "stream"):
        super().__init__(raw)
        self._what, self._kind = what, kind

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(len(buffer))
        except ImgExploreError:
            raise
        except EOFError:
            raise ArchiveError(f"{self._what}: {self._kind} is truncated") from None
        except Exception as exc:  # noqa: BLE001 - zlib, gzip, zstandard, tarfile and OS errors alike
            raise ArchiveError(f"{self._what}: corrupt {self._kind} ({exc})") from None
        buffer[: len(data)] = data
        return len(data)


class LimitedReader(RawWrapper):
    """Raises :class:`LimitExceededError` once more than ``limit`` bytes have been read."""

    def __init__(self, raw: BinaryIO, limit: int, what: str, setting: str):
        super().__init__(raw)
        self._limit, self._what, self._setting, self._count = limit, what, setting, 0

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        self._count += len(data)
        if self._count > self._limit:
            raise LimitExceededError(
                f"{self._what} is larger than {self._limit} bytes ({self._setting}); "
                "raise the limit if the input is genuine"
            )
        buffer[: len(data)] = data
        return len(data)


class PeekableReader(RawWrapper):
    """Adds ``peek`` to a plain readable object."""

    def __init__(self, raw: BinaryIO):
        super().__init__(raw)
        self._head = b""

    def peek(self, n: int = 1) -> bytes:
        while len(self._head) < n:
            more = self._raw.read(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def buffered(raw: BinaryIO, size: int = 1 << 20) -> io.BufferedReader:
    """A BufferedReader over ``raw`` (which gains ``peek``)."""
    return io.BufferedReader(raw if isinstance(raw, io.RawIOBase) else PeekableReader(raw), size)
