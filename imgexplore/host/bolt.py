"""A read-only reader of bbolt files, the key/value store containerd keeps its metadata in
(``ROOT/io.containerd.metadata.v1.bolt/meta.db``: image names, namespaces, leases).

The file is a copy-on-write B+tree of fixed-size pages. Pages 0 and 1 are meta pages; the
valid one (magic, version and FNV-1a checksum right) with the higher transaction id names
the root bucket's page. A page starts with a 16-byte header (id, flags, element count,
overflow pages) and holds 16-byte elements: branch elements point at child pages by key,
leaf elements hold a key and a value. A leaf value flagged as a bucket is a 16-byte bucket
header (root page, sequence); a root of 0 means an inline bucket, whose single leaf page
follows the header inside the value.

Reading never locks the file: containerd holds bbolt's writer lock while it runs, and a
committed tree is never rewritten in place, so the pages of the newest complete meta are
consistent. Anything out of place — a page id past the end, a loop, an element outside its
page — is a :class:`~imgexplore.errors.SourceError` naming the file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from ..errors import SourceError

MAGIC = 0xED0CDAED
VERSION = 2
BRANCH, LEAF, META = 0x01, 0x02, 0x04
BUCKET_FLAG = 0x01
_PAGE = struct.Struct("<QHHI")  # id, flags, count, overflow
# magic, version, page size, flags, root, sequence, freelist, pgid, txid, checksum
_META = struct.Struct("<IIIIQQQQQQ")
_BRANCH = struct.Struct("<IIQ")  # pos, ksize, pgid
_LEAF = struct.Struct("<IIII")  # flags, pos, ksize, vsize
_BUCKET = struct.Struct("<QQ")  # root, sequence
MAX_DEPTH = 64


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


class Bolt:
    """A bbolt file, read whole into memory (containerd's is a few hundred KiB to a few MiB).

    ``bucket(b"v1", b"default", b"images")`` is a :class:`Bucket`, or None if any of the
    names is missing."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        try:
            with open(self.path, "rb") as f:
                self.data = f.read()
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot be read ({exc.strerror})") from None
        self.page_size, self.root_page, self.txid = self._meta()

    def _fail(self, what: str) -> SourceError:
        return SourceError(f"{self.path}: not a bbolt file containerd could open ({what})")

    def _meta(self) -> tuple[int, int, int]:
        """(page size, root bucket page, txid) of the newer valid meta page."""
        first = self._read_meta(0)
        # page 1 sits one page further; page 0 says how long a page is, else bbolt's default
        second = self._read_meta(first[0] if first else 4096)
        valid = [meta for meta in (first, second) if meta is not None]
        if not valid:
            raise self._fail("no valid meta page")
        return max(valid, key=lambda meta: meta[2])

    def _read_meta(self, offset: int) -> tuple[int, int, int] | None:
        if offset + _PAGE.size + _META.size > len(self.data):
            return None
        magic, version, page_size, _, root, _, _, _, txid, checksum = _META.unpack_from(
            self.data, offset + _PAGE.size
        )
        body = self.data[offset + _PAGE.size : offset + _PAGE.size + _META.size - 8]
        if magic != MAGIC or version != VERSION or _fnv64a(body) != checksum:
            return None
        if page_size < 512 or page_size & (page_size - 1):
            return None
        return page_size, root, txid

    def _page(self, page_id: int) -> tuple[int, int, int, int]:
        """(offset, flags, count, end) of a page, its overflow pages included."""
        offset = page_id * self.page_size
        if page_id < 2 or offset + _PAGE.size > len(self.data):
            raise self._fail(f"page {page_id} is outside the file")
        _, flags, count, overflow = _PAGE.unpack_from(self.data, offset)
        end = offset + (overflow + 1) * self.page_size
        if end > len(self.data):
            raise self._fail(f"page {page_id} runs past the end of the file")
        return offset, flags, count, end

    def root(self) -> Bucket:
        return Bucket(self, self.root_page, None)

    def bucket(self, *names: bytes) -> Bucket | None:
        bucket: Bucket | None = self.root()
        for name in names:
            if bucket is None:
                return None
            bucket = bucket.bucket(name)
        return bucket


class Bucket:
    """One bucket: its keys in order, values, and nested buckets."""

    def __init__(self, db: Bolt, root_page: int, inline: bytes | None):
        self.db = db
        self.root_page = root_page
        self.inline = inline  # the inline page's bytes, or None for a bucket with its own pages

    def items(self) -> Iterator[tuple[bytes, bytes, bool]]:
        """Every (key, value, is_bucket) in key order."""
        if self.inline is not None:
            yield from self._leaf(self.inline, 0, len(self.inline))
            return
        yield from self._walk(self.root_page, 0, set())

    def _walk(self, page_id: int, depth: int, seen: set[int]) -> Iterator[tuple[bytes, bytes, bool]]:
        if depth > MAX_DEPTH or page_id in seen:
            raise self.db._fail(f"page {page_id} is reached twice (a loop in the tree)")
        seen.add(page_id)
        data = self.db.data
        offset, flags, count, end = self.db._page(page_id)
        if flags & LEAF:
            yield from self._leaf(data, offset, end)
        elif flags & BRANCH:
            for i in range(count):
                element = offset + _PAGE.size + i * _BRANCH.size
                if element + _BRANCH.size > end:
                    raise self.db._fail(f"page {page_id} has more elements than room")
                _, _, child = _BRANCH.unpack_from(data, element)
                yield from self._walk(child, depth + 1, seen)
        else:
            raise self.db._fail(f"page {page_id} is neither a branch nor a leaf (flags {flags:#x})")

    def _leaf(self, data: bytes, offset: int, end: int) -> Iterator[tuple[bytes, bytes, bool]]:
        if offset + _PAGE.size > end:
            raise self.db._fail("an inline bucket is shorter than its page header")
        _, flags, count, _ = _PAGE.unpack_from(data, offset)
        if count and not flags & LEAF:
            raise self.db._fail("an inline bucket's page is not a leaf")
        for i in range(count):
            element = offset + _PAGE.size + i * _LEAF.size
            if element + _LEAF.size > end:
                raise self.db._fail("a leaf has more elements than room")
            kind, pos, key_size, value_size = _LEAF.unpack_from(data, element)
            start = element + pos
            if start + key_size + value_size > end:
                raise self.db._fail("a key or value runs past its page")
            key = bytes(data[start : start + key_size])
            value = bytes(data[start + key_size : start + key_size + value_size])
            yield key, value, bool(kind & BUCKET_FLAG)

    def get(self, key: bytes) -> bytes | None:
        """The value stored under ``key`` (not a nested bucket), or None."""
        for name, value, is_bucket in self.items():
            if name == key and not is_bucket:
                return value
        return None

    def bucket(self, key: bytes) -> Bucket | None:
        """The nested bucket ``key``, or None."""
        for name, value, is_bucket in self.items():
            if name == key and is_bucket:
                return self._nested(value)
        return None

    def buckets(self) -> Iterator[tuple[bytes, Bucket]]:
        """Every nested bucket, by name, in key order."""
        for name, value, is_bucket in self.items():
            if is_bucket:
                yield name, self._nested(value)

    def _nested(self, value: bytes) -> Bucket:
        if len(value) < _BUCKET.size:
            raise self.db._fail("a bucket value is shorter than a bucket header")
        root, _ = _BUCKET.unpack_from(value)
        if root == 0:
            return Bucket(self.db, 0, value[_BUCKET.size :])
        return Bucket(self.db, root, None)
