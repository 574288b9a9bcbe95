"""The content-addressed blob cache: ``<cache>/blobs/<algorithm>/<hex>``.

Entries are only ever created by renaming a fully written, verified temporary file into
place, so an entry that exists is a verified blob; readers verify again as they stream."""

from __future__ import annotations

import os
import pathlib

from .cache import atomic_writer, cache_root
from .digest import validate_digest, verify_bytes


class BlobStore:
    """Verified blobs by digest."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = pathlib.Path(root) if root is not None else cache_root() / "blobs"

    def path(self, digest: str) -> pathlib.Path:
        algorithm, _, encoded = validate_digest(digest).partition(":")
        return self.root / algorithm / encoded

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        return verify_bytes(self.path(digest).read_bytes(), digest, f"cached blob {digest}")

    def put(self, digest: str, data: bytes) -> pathlib.Path:
        """Store bytes already in memory (verified first)."""
        verify_bytes(data, digest, f"blob {digest}")
        path = self.path(digest)
        with atomic_writer(path) as f:
            f.write(data)
        return path

    def entries(self) -> list[pathlib.Path]:
        """Every complete entry (temporary files excluded)."""
        if not self.root.is_dir():
            return []
        return [
            p
            for p in self.root.glob("*/*")
            if p.is_file() and not p.name.endswith(".partial") and not p.name.startswith(".")
        ]
