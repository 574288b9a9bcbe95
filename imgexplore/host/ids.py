"""The random names Docker gives what it writes: cache-ids (moby ``stringid.GenerateRandomID``:
32 random bytes in hex, never all digits in the 12 characters ``docker ps`` shows) and
overlay2's short link names (26 characters of base32 of 26 random bytes)."""

from __future__ import annotations

import base64
import random
import secrets

LINK_LENGTH = 26


class IdSource:
    """Random ids as Docker draws them; ``seed`` makes them reproducible (tests, lessons)."""

    def __init__(self, seed: int | None = None):
        self._random = random.Random(seed) if seed is not None else None

    def _bytes(self, n: int) -> bytes:
        return self._random.randbytes(n) if self._random is not None else secrets.token_bytes(n)

    def cache_id(self) -> str:
        """64 hex characters.

        >>> IdSource(seed=1).cache_id() == IdSource(seed=1).cache_id()
        True
        """
        while True:
            value = self._bytes(32).hex()
            if not value[:12].isdigit():  # moby retries ids whose short form parses as a number
                return value

    def link_id(self) -> str:
        """26 characters of ``A-Z2-7``.

        >>> len(IdSource(seed=1).link_id())
        26
        """
        return base64.b32encode(self._bytes(LINK_LENGTH)).decode()[:LINK_LENGTH]
