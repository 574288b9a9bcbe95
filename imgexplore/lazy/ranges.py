"""Parts of a blob, wherever it lives: HTTP Range requests against a registry, seeks in a
local file. Every request is counted, so that what a lazy read costs can be shown."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LimitExceededError


@dataclass
class RangeReader:
    """Reads byte ranges of one blob of ``source``; ``requests`` lists (start, length)."""

    source: object
    digest: str
    size: int
    requests: list[tuple[int, int]] = field(default_factory=list)

    def read(self, start: int, length: int, *, limit: int, what: str) -> bytes:
        """``length`` bytes from ``start``; refused when over ``limit`` or outside the blob."""
        if length > limit:
            raise LimitExceededError(f"{what}: {length:,} bytes claimed, over the limit of {limit:,}")
        if start < 0 or length < 0 or start + length > self.size:
            from ..errors import ManifestError

            raise ManifestError(
                f"{what}: bytes {start}..{start + length} lie outside the {self.size:,}-byte blob {self.digest}"
            )
        self.requests.append((start, length))
        client = getattr(self.source, "client", None)
        if client is not None and hasattr(client, "get_blob_range"):
            return client.get_blob_range(self.source.repository, self.digest, start, length)
        with self.source.open_blob(self.digest) as blob:
            if hasattr(blob, "seek") and blob.seekable():
                blob.seek(start)
                return blob.read(length)
            blob.read(start)
            return blob.read(length)

    def tail(self, length: int, *, what: str) -> bytes:
        """The last ``length`` bytes (the whole blob if it is shorter)."""
        length = min(length, self.size)
        return self.read(self.size - length, length, limit=length, what=what)
