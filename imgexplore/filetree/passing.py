"""List the layers of an image archive while it streams past (``docker save`` output, a
daemon's export): every byte is copied to its destination once, and each layer tar big
enough to be worth it is listed into the file-table cache on the way, so opening the saved
archive afterwards finds its tables instead of reading the layers back.

A layer's table is cached under the digest the archive source names the layer by: an OCI
blob's (``blobs/sha256/<hex>``, checked as it is read, compressed or not), or for a legacy
``<id>/layer.tar`` the digest of its bytes, its diff_id. Anything that cannot be listed here
(not a tar, a wrong digest, over a limit) is simply not cached: reading the archive later
reports it as usual."""

from __future__ import annotations

import logging
import queue
import re
import tarfile
import threading
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..compression import open_checked_tar
from ..digest import VerifyingReader
from ..errors import ArchiveError, ImgExploreError
from ..limits import MAX_UNCOMPRESSED_BYTES
from .arrowtable import TreeCache, list_arrow, origin

log = logging.getLogger(__name__)

LIST_FROM_BYTES = 1 << 20  # smaller layers list faster from the archive than they would here
# layer tars in a docker save archive: <id>/layer.tar (Docker up to 24), blobs/sha256/<hex> (25+)
_LAYER_NAME = re.compile(r"(?:[0-9a-f]{64}/layer\.tar|blobs/sha256/[0-9a-f]{64})")


class _Tee:
    """A readable stream over ``chunks`` that writes every byte it hands out to ``out``.

    Two helper threads run ahead of the reader, up to ``ahead`` chunks: one receives, one
    writes (socket reads and file writes release the GIL, and on a virtual machine writing
    fresh pages of the page cache costs as much as receiving). The sender is never kept
    waiting while a layer is listed, which matters when the sender is a daemon sharing the
    machine's cores. An error from ``chunks`` or from writing is kept and raised again on
    every later read: the readers in between (tarfile, the lister) may take it for a damaged
    member, the copy must not end as if the stream had."""

    _DONE = object()

    def __init__(self, chunks: Iterable[bytes], out: BinaryIO, ahead: int = 32):
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._writes: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._write_error: BaseException | None = None
        self.received = 0  # bytes of the stream so far
        self.zeros_at_end = 0  # how many of them, at its end, are zero bytes
        # the writer first: the receiver waits for it at the end
        self._writer = threading.Thread(
            target=self._write, args=(out,), daemon=True, name="imgexplore-export-write"
        )
        self._receiver = threading.Thread(
            target=self._receive, args=(iter(chunks),), daemon=True, name="imgexplore-export-receive"
        )
        self._writer.start()
        self._receiver.start()
        self._rest = memoryview(b"")
        self.failed: BaseException | None = None

    def _receive(self, chunks: Iterator[bytes]) -> None:
        item: object = self._DONE
        try:
            for chunk in chunks:
                if self._write_error is not None:
                    raise self._write_error
                self.received += len(chunk)
                if chunk and chunk[-1] == 0:
                    kept = len(chunk.rstrip(b"\0"))
                    self.zeros_at_end = self.zeros_at_end + len(chunk) if not kept else len(chunk) - kept
                elif chunk:
                    self.zeros_at_end = 0
                if not (self._put(self._writes, chunk) and self._put(self._queue, chunk)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, raised there
            item = exc
        self._put(self._writes, self._DONE)
        if item is self._DONE:
            # the reader learns of the end only once every byte is written
            self._writer.join()
            if self._write_error is not None:
                item = self._write_error
        self._put(self._queue, item)

    def _write(self, out: BinaryIO) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._writes.get(timeout=0.1)
            except queue.Empty:
                continue
            if chunk is self._DONE:
                return
            try:
                out.write(chunk)
            except BaseException as exc:  # noqa: BLE001 - raised in the reading thread
                self._write_error = exc
                self._put(self._queue, exc)
                return

    def _put(self, into: queue.Queue, item: object) -> bool:
        while not self._stop.is_set():
            try:
                into.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read(self, size: int = -1) -> bytes:
        if self.failed is not None:
            raise self.failed
        if not self._rest:
            item = self._queue.get()
            if isinstance(item, BaseException):
                self.failed = item
                raise item
            if item is self._DONE:
                self._queue.put(item)  # every later read sees the end too
                return b""
            chunk = item
            if size < 0 or size >= len(chunk):  # the usual case: a whole chunk, not copied
                return chunk
            self._rest = memoryview(chunk)
        taken = self._rest if size < 0 else self._rest[:size]
        self._rest = self._rest[len(taken) :]
        return bytes(taken)

    def drain(self) -> None:
        """Copy whatever the reader left."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        """Wait for the helper threads; stop them first if the reader gave up early."""
        self._stop.set()
        self._receiver.join()
        self._writer.join()


def copy_and_list(
    chunks: Iterable[bytes],
    out: BinaryIO,
    store: TreeCache | None = None,
    *,
    min_bytes: int | None = None,
    whole: bool = False,
) -> int:
    """Write ``chunks`` (an image archive) to ``out``; list each layer tar of at least
    ``min_bytes`` (default :data:`LIST_FROM_BYTES`) into ``store`` (default: the cache's) as
    it passes. Returns the number of layers listed.

    With ``whole``, an archive that does not end where a tar ends (its end-of-archive block
    where the next header is due, and nothing but zero bytes after it) raises
    :class:`ArchiveError` once it is copied: a stream that stopped early, whose end
    nothing else marks (an HTTP/1.0 answer ends when the connection closes)."""
    store = store or TreeCache()
    min_bytes = LIST_FROM_BYTES if min_bytes is None else min_bytes
    tee = _Tee(chunks, out)
    listed = 0
    end = None  # where the tar's end-of-archive block is, once the walk reached it
    try:
        try:
            with tarfile.open(fileobj=tee, mode="r|", bufsize=1 << 20) as archive:
                for member in archive:
                    if (
                        member.isfile()
                        and min_bytes <= member.size <= MAX_UNCOMPRESSED_BYTES
                        and _LAYER_NAME.fullmatch(member.name)
                    ):
                        listed += _list_member(archive.extractfile(member), member.name, store)
                end = archive.offset
        except tarfile.TarError as exc:  # the archive is read properly later, which says what is wrong
            log.debug("not listing the rest of the archive as it passes: %s", exc)
        tee.drain()
    finally:
        tee.close()
    # tarfile also ends its walk quietly where the data stops at a header, or where a
    # header is not one: only zero bytes from a full block at ``end`` to the end mark a tar's end
    after_end = -1 if end is None else tee.received - end
    if whole and not (after_end >= tarfile.BLOCKSIZE and tee.zeros_at_end >= after_end):
        raise ArchiveError(f"the archive stops after {tee.received} bytes, before a tar's end")
    return listed


def _list_member(stream: BinaryIO, name: str, store: TreeCache) -> int:
    blob_digest = "sha256:" + name.rpartition("/")[2] if name.startswith("blobs/") else None
    try:
        if blob_digest is not None:  # an OCI blob: named by its digest, which is checked as it is read
            stream = VerifyingReader(stream, blob_digest, what=name)
        tar, tar_digest = open_checked_tar(stream, what=name)
        table = list_arrow(tar, hash_files=True, stream_digest=tar_digest)
    except ImgExploreError as exc:  # not a layer tar after all, or a hostile one: left for later
        log.debug("%s not listed as it passed: %s", name, exc)
        return 0
    try:
        # the archive source names a layer by its blob digest; a legacy layer.tar's is its diff_id
        store.put(table, blob_digest or origin(table)[0])
    except OSError as exc:  # a read-only or full cache costs time later, not correctness
        log.warning("could not cache the file table of %s: %s", name, exc)
        return 0
    return 1
