"""Uniform read access to a folder or a tar file, by relative path."""

from __future__ import annotations

import os
from typing import BinaryIO

from ..errors import BlobNotFoundError, LimitExceededError, SourceError
from .tarindex import TarIndex


class FolderFiles:
    """Files below a folder."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def _path(self, name: str) -> str:
        path = os.path.normpath(os.path.join(self.root, name))
        if not path.startswith(self.root + os.sep):
            raise SourceError(f"path {name!r} leaves {self.root}")
        return path

    def exists(self, name: str) -> bool:
        return os.path.isfile(self._path(name))

    def size(self, name: str) -> int | None:
        path = self._path(name)
        return os.path.getsize(path) if os.path.isfile(path) else None

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self._path(name), "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"{self.root}: no file {name}") from None
        except OSError as exc:
            raise SourceError(f"{self.root}: cannot read {name} ({exc.strerror})") from None

    def read(self, name: str, max_bytes: int) -> bytes:
        with self.open(name) as f:
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise LimitExceededError(f"{self.root}/{name} is over {max_bytes} bytes")
        return data

    def close(self) -> None:
        pass


class TarFiles:
    """Members of a tar file."""

    def __init__(self, path: str):
        self.root = path
        self._index = TarIndex(path)

    def exists(self, name: str) -> bool:
        return name in self._index

    def size(self, name: str) -> int | None:
        return self._index.size(name)

    def open(self, name: str) -> BinaryIO:
        return self._index.open(name)

    def read(self, name: str, max_bytes: int) -> bytes:
        return self._index.read(name, max_bytes)

    def close(self) -> None:
        self._index.close()


def open_files(path: str) -> FolderFiles | TarFiles:
    """A folder or a tar file at ``path``."""
    if os.path.isdir(path):
        return FolderFiles(path)
    if os.path.isfile(path):
        return TarFiles(path)
    raise SourceError(f"{path}: no such file or folder")
