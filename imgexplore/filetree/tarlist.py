"""A fast, streaming tar lister for layer tars: one row per entry, nothing written to disk.

It reads POSIX ustar, PAX (``x``/``g`` records, including ``SCHILY.xattr.*`` and PAX sparse
files) and GNU (long names ``L``/``K``, old-style sparse ``S``) headers. While it walks the
archive it hashes the whole stream (the layer's diff_id) and, when asked, each regular
file's content (sha256), so one pass answers "what is in this layer" and "is it what the
config says". Memory stays bounded by the read chunk, whatever the layer's size.

Python's ``tarfile`` builds an object per member and is several times slower; this parser
keeps each field in a column list instead.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import json
import queue
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

import numpy as np

from .. import limits
from ..errors import ArchiveError, LimitExceededError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

TYPE_NAMES = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",  # contiguous file
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "char",
    b"4": "block",
    b"5": "dir",
    b"6": "fifo",
    b"S": "file",  # GNU old-style sparse file
}
COLUMNS = [
    "path", "type", "size", "mode", "uid", "gid", "uname", "gname", "mtime", "linkname",
    "whiteout", "opaque", "sha256", "xattrs",
]  # fmt: skip

DEFAULT_MAX_ENTRIES = limits.MAX_ENTRIES
DEFAULT_MAX_HEADER_BYTES = limits.MAX_HEADER_BYTES
DECODE_BATCH = 16384  # entries whose headers are decoded into columns at once


@dataclass
class TarListing:
    """The columns of a listed tar, plus what was learned about the stream."""

    columns: dict[str, np.ndarray] = field(
        default_factory=lambda: {c: np.array([], dtype=object) for c in COLUMNS}
    )
    #: sha256 of every byte of the (uncompressed) stream: the layer's diff_id
    diff_id: str = ""
    #: number of uncompressed bytes in the stream
    size: int = 0

    def __len__(self) -> int:
        return len(self.columns["path"])


def _number(field_bytes: bytes, what: str, offset: int) -> int:
    """An octal ASCII number, or GNU base-256 when the high bit of the first byte is set."""
    if field_bytes and field_bytes[0] & 0x80:
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:  # negative base-256
            value -= 1 << (8 * (len(field_bytes) - 1))
        elif field_bytes[0] != 0x80:
            value += (field_bytes[0] & 0x7F) << (8 * (len(field_bytes) - 1))
        return value
    text = field_bytes.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ArchiveError(f"tar header at byte {offset}: {what} field {text[:20]!r} is not octal") from None


# Tar names are bytes. UTF-8 ones (nearly all) become text as they are; any other byte is
# shown as \xNN, the escape Python itself prints, so that every name can be displayed, stored
# in Arrow, Parquet and JSON, and compared — surrogate escapes could do none of these.
NAME_ERRORS = "backslashreplace"


def shown_name(name: str) -> str:
    """A name as Python's ``tarfile`` decodes it (other bytes as surrogate escapes), in the
    form imgexplore's tables use."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", NAME_ERRORS)


def _cstring(field_bytes: bytes) -> str:
    return field_bytes.split(b"\0", 1)[0].decode("utf-8", NAME_ERRORS)


def _pax_number(meta: dict[str, str], key: str, offset: int) -> int:
    try:
        return int(float(meta[key])) if key == "mtime" else int(meta[key])
    except (ValueError, OverflowError):
        raise ArchiveError(
            f"tar PAX header at byte {offset}: {key} {meta[key]!r:.30} is not a number"
        ) from None


def normalize_path(name: str) -> str:
    """Tar member name → image path without leading ``./`` or ``/`` and without a trailing
    ``/``. ``..`` components are kept, so hostile names stay visible in listings."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _parse_pax(data: bytes, offset: int) -> dict[str, str]:
    """PAX extended header records: ``"%d %s=%s\\n"``."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ArchiveError(f"tar PAX header at byte {offset}: malformed record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ArchiveError(f"tar PAX header at byte {offset}: malformed record length") from None
        if length <= 0 or pos + length > len(data):
            raise ArchiveError(f"tar PAX header at byte {offset}: record length {length} out of range")
        record = data[space + 1 : pos + length - 1]
        key, sep, value = record.partition(b"=")
        if not sep:
            raise ArchiveError(f"tar PAX header at byte {offset}: record without '='")
        records[key.decode("utf-8", NAME_ERRORS)] = value.decode("utf-8", NAME_ERRORS)
        pos += length
    return records


class _Reader:
    """Buffered reads from the decompressed stream that hash every byte on the way.

    A helper thread reads (which decompresses and verifies the blob) and hashes ahead of
    the parser; zlib/ISA-L, zstd and hashlib release the GIL while they work, so on a
    multi-core machine the parser runs alongside them, as GNU tar runs beside gzip."""

    _DONE = object()

    def __init__(
        self, stream: BinaryIO, chunk_size: int, prefetch: int = 8, stream_digest: str | None = None
    ):
        self._chunk_size = chunk_size
        self._stream_digest = stream_digest  # checked by the stream itself: not hashed again
        self._hasher = hashlib.sha256()
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(stream,), daemon=True, name="imgexplore-tar-reader"
        )
        self._thread.start()
        self.buf = b""
        self.pos = 0
        self.consumed = 0  # bytes before buf[0]
        self.eof = False

    def _produce(self, stream: BinaryIO) -> None:
        try:
            while not self._stop.is_set():
                chunk = stream.read(self._chunk_size)
                if not chunk:
                    break
                if self._stream_digest is None:
                    self._hasher.update(chunk)
                self._queue.put(chunk)
            self._queue.put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the parser thread, raised there
            self._queue.put(exc)

    def close(self) -> None:
        """Stop the helper thread (used when parsing ends early with an error)."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)

    def _fill(self) -> bool:
        if self.eof:
            return False
        item = self._queue.get()
        if item is self._DONE:
            self.eof = True
            return False
        if isinstance(item, BaseException):
            self.eof = True
            raise item
        rest = self.buf[self.pos :]
        self.consumed += self.pos
        self.buf = rest + item if rest else item
        self.pos = 0
        return True

    def available(self) -> int:
        return len(self.buf) - self.pos

    def take(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or None at a clean end of stream."""
        while len(self.buf) - self.pos < n:
            if not self._fill():
                if self.available() == 0:
                    return None
                raise ArchiveError(
                    f"tar stream is truncated at byte {self.offset + self.available()} "
                    f"(needed {n - self.available()} more bytes)"
                )
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def skip(self, n: int, file_hasher=None, take: int | None = None) -> None:
        """Skip ``n`` bytes; feed the first ``take`` of them to ``file_hasher``."""
        take = n if take is None else take
        while n > 0:
            if self.available() == 0 and not self._fill():
                raise ArchiveError(
                    f"tar stream is truncated at byte {self.offset} (a member's data is cut short)"
                )
            step = min(n, self.available())
            if file_hasher is not None and take > 0:
                h = min(step, take)
                file_hasher.update(memoryview(self.buf)[self.pos : self.pos + h])
                take -= h
            self.pos += step
            n -= step

    def drain(self) -> None:
        """Read (and hash) whatever follows the end-of-archive blocks."""
        self.pos = len(self.buf)
        while self._fill():
            self.pos = len(self.buf)

    @property
    def offset(self) -> int:
        return self.consumed + self.pos

    @property
    def total(self) -> int:
        return self.consumed + len(self.buf)

    def digest(self) -> str:
        return self._stream_digest or "sha256:" + self._hasher.hexdigest()


def list_tar(
    stream: BinaryIO,
    *,
    hash_files: bool = True,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    chunk_size: int = 1 << 20,
) -> TarListing:
    """List every entry of an uncompressed tar stream (see the module docstring).

    The loop only walks the archive (sizes, special headers, content hashes) and keeps each
    512-byte header; the fixed fields of a batch of headers are then decoded at once with
    numpy (:class:`TarBatches` hands over the batches as they are decoded)."""
    batches = TarBatches(
        stream,
        hash_files=hash_files,
        max_entries=max_entries,
        max_header_bytes=max_header_bytes,
        chunk_size=chunk_size,
    )
    parts = list(batches)
    for part in parts:
        part.pop(CODED, None)
    columns = (
        parts[0] if len(parts) == 1 else {name: np.concatenate([p[name] for p in parts]) for name in COLUMNS}
    )
    text, lengths = hex_digests(columns["sha256"])
    hex_text = text.decode("ascii")
    starts = np.cumsum(lengths) - lengths
    columns["sha256"] = np.array(
        [
            hex_text[start : start + length] if length else None
            for start, length in zip(starts.tolist(), lengths.tolist(), strict=True)
        ],
        dtype=object,
    )
    return TarListing(columns=columns, diff_id=batches.diff_id, size=batches.size)


class TarBatches:
    """The entries of an uncompressed tar stream, a batch of decoded columns at a time (up to
    :data:`DECODE_BATCH` entries each; at least one batch, maybe empty): for callers that
    convert each batch at once and keep memory to the converted form. The ``sha256`` column
    holds raw digests (see :func:`hex_digests`); a batch with entries also holds, under
    :data:`CODED`, its ``type``, ``uname`` and ``gname`` columns as :class:`Coded`. Once
    iterated to the end, ``diff_id`` and ``size`` describe the whole stream.
    ``stream_digest``: the sha256 the stream itself checks its bytes against, raising at its
    end if they differ (an uncompressed blob read through its verifier), which is then the
    diff_id, without hashing the bytes again."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        hash_files: bool = True,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        chunk_size: int = 1 << 20,
        stream_digest: str | None = None,
    ):
        self._stream, self._chunk_size, self._stream_digest = stream, chunk_size, stream_digest
        self._options = (hash_files, max_entries, max_header_bytes)
        self.diff_id = ""
        self.size = 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        reader = _Reader(self._stream, self._chunk_size, stream_digest=self._stream_digest)
        try:
            yield from _walk(reader, *self._options)
            self.diff_id, self.size = reader.digest(), reader.total
        finally:
            reader.close()


def _walk(
    reader: _Reader, hash_files: bool, max_entries: int, max_header_bytes: int
) -> Iterator[dict[str, np.ndarray]]:
    # The entries of the current batch: each 512-byte header back to back, its offset, its
    # content hash, and PAX/GNU values that replace header fields (by row in the batch). A
    # full batch is decoded into columns and dropped, so memory grows with the decoded
    # columns (~200 bytes an entry), not with the headers (512 bytes and more).
    headers = _HeaderRows()
    offsets: list[int] = []
    hashes: list[bytes] | None = [] if hash_files else None  # raw sha256 digests, b"" for none
    overrides: dict[int, dict] = {}
    done_rows = 0  # entries in the batches handed over
    sha256 = hashlib.sha256
    walk = _WALK.unpack_from
    file_types = (b"0", b"\0", b"7")

    global_pax: dict[str, str] = {}
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None

    # buf/pos are kept in locals on the fast path and handed back to the reader whenever it
    # has to read more (reader.pos = pos; …; buf, pos = reader.buf, reader.pos)
    buf, pos = reader.buf, reader.pos
    run = _FastRun(hash_files)
    while True:
        if len(offsets) >= DECODE_BATCH:
            yield _decode_headers(headers.rows(), offsets, overrides, hashes)
            done_rows += len(offsets)
            headers.clear()
            offsets.clear()
            overrides.clear()
            if hashes is not None:
                hashes.clear()
        if (done_rows or offsets) and not (
            pax or global_pax or long_name is not None or long_link is not None
        ):
            pos = run.walk(buf, pos, reader.consumed, headers, offsets, hashes, max_entries - done_rows)
        if len(buf) - pos >= BLOCK:
            header = buf[pos : pos + BLOCK]
            pos += BLOCK
        else:
            reader.pos = pos
            header = reader.take(BLOCK)
            if header is None:
                break  # stream ended without end-of-archive blocks (tolerated, as GNU tar does)
            buf, pos = reader.buf, reader.pos
        if header == ZERO_BLOCK:
            reader.pos = pos
            reader.drain()
            break
        offset = reader.consumed + pos - BLOCK
        size_raw, typeflag = walk(header)
        try:
            size = int(size_raw, 8)
        except ValueError:
            _check_header(header, offset)
            size = _number(header[124:136], "size", offset)
        if size < 0:
            _check_header(header, offset)
            raise ArchiveError(f"tar header at byte {offset}: negative size {size}")
        padded = (size + BLOCK - 1) & ~(BLOCK - 1)

        if typeflag in _SPECIAL:
            _check_header(header, offset)
            if size > max_header_bytes:
                raise LimitExceededError(
                    f"tar header at byte {offset}: extended header of {size} bytes is over the "
                    f"limit of {max_header_bytes} (max_header_bytes)"
                )
            reader.pos = pos
            data = reader.take(padded)
            buf, pos = reader.buf, reader.pos
            if data is None:
                raise ArchiveError(f"tar stream is truncated at byte {offset} (extended header)")
            data = data[:size]
            if typeflag == b"x":
                pax.update(_parse_pax(data, offset))
            elif typeflag == b"g":
                global_pax.update(_parse_pax(data, offset))
            elif typeflag == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", NAME_ERRORS)
            else:
                long_link = data.split(b"\0", 1)[0].decode("utf-8", NAME_ERRORS)
            continue

        row = len(offsets)
        if row + done_rows == 0:
            _check_header(header, offset)  # "is this a tar at all?"
        elif row + done_rows >= max_entries:
            raise LimitExceededError(f"layer has more than {max_entries} entries (max_entries)")
        headers.append(header)
        offsets.append(offset)
        data_size = size
        sparse = False
        if pax or global_pax or long_name is not None or long_link is not None or typeflag == b"S":
            reader.pos = pos
            extra, data_size, padded, sparse = _header_extras(
                header, typeflag, {**global_pax, **pax}, long_name, long_link, reader, size, padded
            )
            buf, pos = reader.buf, reader.pos
            overrides[row] = extra
            pax = {}
            long_name = long_link = None

        if hashes is not None:
            if typeflag in file_types and not sparse:
                if len(buf) - pos >= padded:
                    hashes.append(sha256(buf[pos : pos + data_size]).digest())
                    pos += padded
                    continue
                file_hasher = sha256()
                reader.pos = pos
                reader.skip(padded, file_hasher, data_size)
                buf, pos = reader.buf, reader.pos
                hashes.append(file_hasher.digest())
                continue
            hashes.append(b"")
        if len(buf) - pos >= padded:
            pos += padded
        else:
            reader.pos = pos
            reader.skip(padded)
            buf, pos = reader.buf, reader.pos

    if offsets or not done_rows:
        yield _decode_headers(headers.rows(), offsets, overrides, hashes)


_SIMPLE_TYPES = np.zeros(256, dtype=bool)
_SIMPLE_TYPES[[ord(c) for c in "01234567"] + [0]] = True
_SIZE_POWERS = 8 ** np.arange(10, -1, -1, dtype=np.int64)
_FILE_TYPES = np.zeros(256, dtype=bool)  # typeflags of regular files (with content to hash)
_FILE_TYPES[[ord("0"), 0, ord("7")]] = True


def _octal_form(matrix: np.ndarray, start: int, width: int, ndigits: int) -> np.ndarray:
    """For each header (a row of 512 bytes), whether its numeric field at ``start`` is
    ``ndigits`` octal digits then NUL or space padding, the form every common writer uses.

    The fields start on 4-byte boundaries, so each is tested 4 bytes at a time: a digit
    ``0``-``7`` (0x30-0x37) is the byte with 0x30 under the mask 0xF8, padding (0x00 or
    0x20) the byte with nothing under 0xDF; a fraction of the work of testing byte by byte.

    >>> headers = np.zeros((3, BLOCK), dtype=np.uint8)
    >>> for row, field in enumerate([b"0000644\\0", b"000644 \\0", b"0000694\\0"]):
    ...     headers[row, 100:108] = np.frombuffer(field, dtype=np.uint8)
    >>> _octal_form(headers, 100, 8, 7).tolist(), _octal_form(headers, 100, 8, 6).tolist()
    ([True, False, False], [False, True, False])
    """
    words = matrix.view("<u4")[:, start // 4 : (start + width) // 4]
    form = None
    for word in range(width // 4):
        mask = expected = 0
        for byte in range(4):
            digit = 4 * word + byte < ndigits
            mask |= (0xF8 if digit else 0xDF) << (8 * byte)
            expected |= (0x30 if digit else 0) << (8 * byte)
        test = (words[:, word] & mask) == expected
        form = test if form is None else form & test
    return form


class _HeaderRows:
    """The 512-byte headers of the current batch, one row each, in an array kept from one
    batch to the next (rows are copied in once, not appended to a growing bytes object)."""

    def __init__(self, capacity: int = DECODE_BATCH + 2048):
        self._array = np.empty((capacity, BLOCK), dtype=np.uint8)
        self._count = 0

    def _room(self, more: int) -> None:
        if self._count + more > len(self._array):
            bigger = np.empty((max(2 * len(self._array), self._count + more), BLOCK), dtype=np.uint8)
            bigger[: self._count] = self._array[: self._count]
            self._array = bigger

    def append(self, header: bytes) -> None:
        self._room(1)
        self._array[self._count] = np.frombuffer(header, dtype=np.uint8)
        self._count += 1

    def extend(self, matrix: np.ndarray, rows: np.ndarray) -> None:
        """Copy ``matrix[rows]`` in (mode="clip": the rows are in range, and numpy then
        writes straight into the array instead of through a buffer)."""
        self._room(len(rows))
        np.take(matrix, rows, axis=0, out=self._array[self._count : self._count + len(rows)], mode="clip")
        self._count += len(rows)

    def rows(self) -> np.ndarray:
        """The headers as an (entries, 512) array: a view, valid until :meth:`clear`."""
        return self._array[: self._count]

    def clear(self) -> None:
        self._count = 0


class _FastRun:
    """Walks runs of plain entries (no PAX or GNU extension headers) at numpy speed: for
    every 512-byte block of the buffer it works out, at once, where the next header would
    be if that block were a header, and then follows that chain from the current header by
    pointer doubling (a handful of array lookups, however many entries the buffer holds).
    Anything unusual (an extension header, an odd size field, a zero block, data running
    past the buffer) ends the run, and the careful per-entry loop takes over for that entry."""

    def __init__(self, hash_files: bool):
        self.hash_files = hash_files
        self._key: tuple[int, int] | None = None

    def _prepare(self, buf: bytes, base: int) -> None:
        count = (len(buf) - base) // BLOCK
        matrix = np.frombuffer(buf, dtype=np.uint8, count=count * BLOCK, offset=base).reshape(count, BLOCK)
        standard = _octal_form(matrix, 124, 12, 11)  # the size field: 11 digits, NUL or space
        sizes = (matrix[:, 124:135].astype(np.int64) - 48) @ _SIZE_POWERS
        plain = standard & _SIMPLE_TYPES[matrix[:, 156]] & (matrix[:, 0] != 0)
        following = np.arange(count) + 1 + (sizes + BLOCK - 1) // BLOCK
        # a block the run may take: a plain header whose data ends inside the buffer
        self.takes = plain & (following <= count)
        # where the chain goes from each block; block ``count`` (past the end) is where it
        # stops, and a block the run may not take leads there too
        self.jumps = [np.append(np.where(self.takes, following, count), count)]
        self.following = following
        self.matrix = matrix
        self.sizes = sizes
        self.is_file = _FILE_TYPES[matrix[:, 156]]
        self.count = count
        self._key = (id(buf), base)
        self._buf = buf  # keeps id(buf) meaningful

    def _chain(self, block: int, limit: int) -> np.ndarray:
        """The blocks the run takes from ``block`` on, at most ``limit`` of them."""
        chain = np.array([block])
        level = 0
        # after each round, chain holds the first 2**(level+1) steps from block
        while chain[-1] != self.count and len(chain) <= limit:
            if level == len(self.jumps):
                self.jumps.append(self.jumps[-1][self.jumps[-1]])
            chain = np.concatenate((chain, self.jumps[level][chain]))
            level += 1
        chain = chain[: int(np.searchsorted(chain, self.count))]  # increasing up to the end marker
        if len(chain) and not self.takes[chain[-1]]:
            chain = chain[:-1]  # the unusual block that ended the run
        return chain[:limit]

    def walk(
        self,
        buf: bytes,
        pos: int,
        consumed: int,
        headers: _HeaderRows,
        offsets: list,
        hashes: list | None,
        max_entries: int,
    ) -> int:
        if self._key is None or self._key[0] != id(buf) or pos < self._key[1]:
            if len(buf) - pos < 64 * BLOCK:
                return pos  # too little left to be worth it
            self._prepare(buf, pos)
        base = self._key[1]
        block = (pos - base) // BLOCK
        if block >= self.count:
            return pos
        rows = self._chain(block, max_entries - len(offsets))
        if not len(rows):
            return pos
        headers.extend(self.matrix, rows)
        offsets.extend((consumed + base + BLOCK * rows).tolist())
        if hashes is not None:
            sha256, data = hashlib.sha256, memoryview(buf)
            starts = (base + BLOCK * (rows + 1)).tolist()
            ends = (base + BLOCK * (rows + 1) + self.sizes[rows]).tolist()
            hashes.extend(
                [
                    sha256(data[start:end]).digest() if is_file else b""
                    for start, end, is_file in zip(starts, ends, self.is_file[rows].tolist(), strict=True)
                ]
            )
        return base + BLOCK * int(self.following[rows[-1]])


# size and typeflag: all the walk needs (checksums are verified for all headers at once)
_WALK = struct.Struct("124x11sx20xc")


def marker_columns(paths: list[str], *, any_marker: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For each path, what it deletes if it is a whiteout (``dir/.wh.name`` → ``dir/name``)
    and whether it is an opaque marker (``dir/.wh..wh..opq``)."""
    whiteouts = np.full(len(paths), None, dtype=object)
    opaque = np.zeros(len(paths), dtype=bool)
    if any_marker:
        for row, name in enumerate(paths):
            if WHITEOUT_PREFIX not in name:
                continue
            base = name.rpartition("/")[2]
            if base == OPAQUE_MARKER:
                opaque[row] = True
            elif base.startswith(WHITEOUT_PREFIX):
                whiteouts[row] = name[: len(name) - len(base)] + base[len(WHITEOUT_PREFIX) :]
    return whiteouts, opaque


def _check_header(header: bytes, offset: int) -> None:
    """Raise a clear error if one header's checksum is wrong (used when a header looks odd)."""
    stored = _number(header[148:156], "checksum", offset)
    if stored != sum(header) - sum(header[148:156]) + 8 * 32:
        raise ArchiveError(
            f"tar header at byte {offset} has a bad checksum: the layer is corrupt or not a tar archive"
        )


_SPECIAL = frozenset({b"x", b"g", b"L", b"K"})


def _header_extras(header, typeflag, meta, long_name, long_link, reader, size, padded):
    """Values from PAX records, GNU long names and sparse headers for one entry."""
    offset = reader.offset - BLOCK
    extra: dict = {}
    data_size = size
    sparse = False
    if long_name is not None:
        extra["path"] = long_name
    elif "path" in meta:
        extra["path"] = meta["path"]
    if long_link is not None:
        extra["linkname"] = long_link
    elif "linkpath" in meta:
        extra["linkname"] = meta["linkpath"]
    if typeflag == b"S":
        sparse = True
        extra["size"] = _number(header[483:495], "realsize", offset)
        if header[482]:  # the sparse map continues in extension blocks, before the data
            while True:
                ext = reader.take(BLOCK)
                if ext is None:
                    raise ArchiveError(f"tar stream is truncated at byte {offset} (sparse map)")
                if not ext[504]:
                    break
    if "GNU.sparse.realsize" in meta or "GNU.sparse.size" in meta:
        sparse = True
        key = "GNU.sparse.realsize" if "GNU.sparse.realsize" in meta else "GNU.sparse.size"
        extra["size"] = _pax_number(meta, key, offset)
        if "GNU.sparse.name" in meta:
            extra["path"] = meta["GNU.sparse.name"]
    if "size" in meta and typeflag != b"S":
        data_size = _pax_number(meta, "size", offset)
        if data_size < 0:
            raise ArchiveError(f"tar PAX header at byte {offset}: negative size")
        padded = (data_size + BLOCK - 1) & ~(BLOCK - 1)
        if not sparse:
            extra["size"] = data_size
    for key in ("uid", "gid", "mtime"):
        if key in meta:
            extra[key] = _pax_number(meta, key, offset)
    for key in ("uname", "gname"):
        if key in meta:
            extra[key] = meta[key]
    xattrs = {k[13:]: v for k, v in meta.items() if k.startswith("SCHILY.xattr.")}
    if xattrs:
        extra["xattrs"] = json.dumps(xattrs, sort_keys=True)
    return extra, data_size, padded, sparse


_TYPE_BY_BYTE = np.array([TYPE_NAMES.get(bytes([b]), "other") for b in range(256)], dtype=object)
_TYPE_LIST = list(dict.fromkeys(_TYPE_BY_BYTE.tolist()))  # each type name once
_TYPE_CODE_BY_BYTE = np.array([_TYPE_LIST.index(name) for name in _TYPE_BY_BYTE], dtype=np.int32)
_IS_FILE_BY_BYTE = _TYPE_BY_BYTE == "file"

#: the key under which a decoded batch also holds its ``type``, ``uname`` and ``gname``
#: columns as :class:`Coded` (what a dictionary-encoded Arrow column is made of)
CODED = "coded"


class Coded(NamedTuple):
    """A text column as int32 codes into its distinct values, listed in the order they
    first occur (the order Arrow's ``dictionary_encode`` gives them)."""

    codes: np.ndarray
    values: list[str]

    def decoded(self) -> np.ndarray:
        """The column as an object array of strings."""
        return np.array(self.values, dtype=object)[self.codes]


def _first_seen(codes: np.ndarray, values: list[str]) -> Coded:
    """``codes`` into ``values`` re-coded so the values used are listed in first-seen order."""
    count = len(codes)
    first = np.full(len(values), count, dtype=np.int64)  # the first row of each value
    np.minimum.at(first, codes, np.arange(count))
    used = np.flatnonzero(first < count)
    order = used[np.argsort(first[used], kind="stable")]
    recode = np.zeros(len(values), dtype=np.int32)
    recode[order] = np.arange(len(order), dtype=np.int32)
    return Coded(recode[codes], [values[code] for code in order.tolist()])


def _coded_text(matrix: np.ndarray, start: int, width: int) -> Coded:
    """A NUL-terminated text field of every header, coded (see :class:`Coded`): at once
    when every header holds the same bytes there (user and group names, nearly always)."""
    field_bytes = matrix[:, start : start + width]
    if (field_bytes == field_bytes[0]).all():
        return Coded(np.zeros(len(matrix), dtype=np.int32), [_cstring(bytes(field_bytes[0]))])
    texts = _text_column(matrix, start, width)
    index: dict[str, int] = {}
    codes = np.fromiter(
        (index.setdefault(text, len(index)) for text in texts), dtype=np.int32, count=len(texts)
    )
    return Coded(codes, list(index))


def _overridden(column: Coded, overrides: dict[int, str]) -> Coded:
    """``column`` with the values of some rows replaced."""
    values = list(column.values)
    index = {value: code for code, value in enumerate(values)}
    codes = column.codes.copy()
    for row, value in overrides.items():
        if value not in index:
            index[value] = len(values)
            values.append(value)
        codes[row] = index[value]
    return _first_seen(codes, values)  # a value may now be unused, or first seen elsewhere


def _octal_fields(matrix: np.ndarray, start: int, width: int, offsets, what: str) -> np.ndarray:
    """Decode one numeric field of every header at once.

    Fast path: the zero-padded forms every common writer uses (``width - 1`` or ``width - 2``
    octal digits, then NUL or space padding: checksums are written as six digits, NUL,
    space), decoded with a matrix product. Rows in any other form (leading spaces, GNU
    base-256, …) go through the careful scalar decoder."""
    field_bytes = matrix[:, start : start + width]
    for ndigits in (width - 1, width - 2):  # every row in one form (the usual case): no masks
        if _octal_form(matrix, start, width, ndigits).all():
            digits = field_bytes[:, :ndigits]
            # integers, not floats: a float product would go to BLAS, whose idle threads
            # then spin on the core the decompressing thread needs
            powers = 8 ** np.arange(ndigits - 1, -1, -1, dtype=np.int64)
            return digits.astype(np.int64) @ powers - 48 * int(powers.sum())
    is_digit = (field_bytes >= 48) & (field_bytes <= 55)
    is_pad = (field_bytes == 0) | (field_bytes == 32)
    values = np.zeros(len(matrix), dtype=np.int64)
    pending = np.ones(len(matrix), dtype=bool)
    for ndigits in (width - 1, width - 2):
        fits = pending & is_digit[:, :ndigits].all(axis=1) & is_pad[:, ndigits:].all(axis=1)
        if fits.any():
            powers = 8 ** np.arange(ndigits - 1, -1, -1, dtype=np.int64)
            values[fits] = (field_bytes[fits, :ndigits].astype(np.int64) - 48) @ powers
            pending &= ~fits
    for row in np.flatnonzero(pending):
        values[row] = _number(bytes(field_bytes[row]), what, offsets[row])
    return values


def _text_column(matrix: np.ndarray, start: int, width: int) -> list[str]:
    """A NUL-terminated text field of every header, decoded in one call: the fields are
    joined with NUL (which no field can contain before its terminator) and split again."""
    raw = np.ascontiguousarray(matrix[:, start : start + width]).view(f"S{width}").ravel().tolist()
    joined = b"\0".join(raw)
    texts = joined.decode("utf-8", NAME_ERRORS).split("\0")
    if len(texts) != len(raw):  # bytes after a terminator: decode field by field
        texts = [r.split(b"\0", 1)[0].decode("utf-8", NAME_ERRORS) for r in raw]
    return texts


def _names(matrix: np.ndarray) -> list[str]:
    """Member names (the 100-byte field, with the ustar prefix where one is set)."""
    names = _text_column(matrix, 0, 100)
    ustar = (matrix[:, 257:263] == np.frombuffer(b"ustar\x00", np.uint8)).all(axis=1) & (matrix[:, 345] != 0)
    for row in np.flatnonzero(ustar).tolist():
        names[row] = f"{_cstring(bytes(matrix[row, 345:500]))}/{names[row]}"
    return names


def _odd_path_rows(joined: bytes, count: int) -> list[int]:
    """The rows whose name needs :func:`normalize_path`, among names joined (UTF-8) with a
    NUL before each and after the last: a leading ``/`` or ``./``, a trailing ``/`` or
    ``/.``, ``//`` or ``/./`` inside, or ``.`` alone. Looked for with a few whole-array
    tests on the bytes (a ``/`` or NUL next to a ``/``, a ``.`` between two of them),
    which costs a tenth of searching the text once for each mark."""
    text = np.frombuffer(joined, dtype=np.uint8)
    slash, nul = text == 0x2F, text == 0
    edge = slash | nul
    odd = np.zeros(len(text), dtype=bool)
    odd[:-1] = (slash[:-1] & edge[1:]) | (nul[:-1] & slash[1:])  # "//", "/" + NUL, NUL + "/"
    odd[1:-1] |= (text[1:-1] == 0x2E) & edge[:-2] & edge[2:]  # "/./", "./" first, "/." last, "."
    marks = np.flatnonzero(odd)
    if not len(marks):
        return []
    # the NUL before each name is where it starts; a mark belongs to the last name starting at or before it
    starts = np.flatnonzero(nul)
    if len(starts) != count + 1:  # a NUL inside a name (from a PAX record): look at every row
        return list(range(count))
    # a set, not np.unique: numpy 2's unique imports numpy.ma (~12 ms) on first use
    return sorted(set((np.searchsorted(starts, marks, side="right") - 1).tolist()))


def _digest_column(hashes: list[bytes] | None, n: int) -> np.ndarray:
    """The content hashes of a batch as one object array of raw 32-byte sha256 digests, b""
    where an entry has none (not a regular file, or files not hashed); :func:`hex_digests`
    turns them into the hex strings a table shows, without a Python string per entry."""
    if hashes is None:
        return np.full(n, b"", dtype=object)
    column = np.empty(n, dtype=object)
    column[:] = hashes
    return column


def hex_digests(column: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The hex form of a digest column: every present digest's 64 hex characters back to
    back (ASCII), and each entry's length in that text (64, or 0 where it has none)."""
    lengths = np.fromiter(map(len, column), dtype=np.int64, count=len(column)) * 2
    return binascii.hexlify(b"".join(column)), lengths


def _decode_headers(matrix: np.ndarray, offsets, overrides, hashes) -> dict[str, np.ndarray]:
    """A batch's columns from its headers (an (entries, 512) uint8 array, which the columns
    never share memory with: it is reused for the next batch)."""
    n = len(offsets)
    if n == 0:
        return {c: np.array([], dtype=object) for c in COLUMNS}
    # uint32 holds any header's byte sum (at most 512 * 255) and sums twice as fast as int64
    byte_sums = matrix.sum(axis=1, dtype=np.uint32) - matrix[:, 148:156].sum(axis=1, dtype=np.uint32)
    computed = byte_sums.astype(np.int64) + 8 * 32
    bad = np.flatnonzero(_octal_fields(matrix, 148, 8, offsets, "checksum") != computed)
    if len(bad):
        raise ArchiveError(
            f"tar header at byte {offsets[bad[0]]} has a bad checksum: the layer is corrupt or not a tar archive"
        )
    typeflags = matrix[:, 156]
    types = _first_seen(_TYPE_CODE_BY_BYTE[typeflags], _TYPE_LIST)
    sizes = _octal_fields(matrix, 124, 12, offsets, "size")
    modes = _octal_fields(matrix, 100, 8, offsets, "mode") & 0o7777
    uids = _octal_fields(matrix, 108, 8, offsets, "uid")
    gids = _octal_fields(matrix, 116, 8, offsets, "gid")
    mtimes = _octal_fields(matrix, 136, 12, offsets, "mtime")
    paths = _names(matrix)
    unames = _coded_text(matrix, 265, 32)
    gnames = _coded_text(matrix, 297, 32)
    named: dict[str, dict[int, str]] = {"uname": {}, "gname": {}}
    is_link = (typeflags == ord("1")) | (typeflags == ord("2"))
    linknames = np.full(n, "", dtype=object)
    if is_link.any():
        linknames[is_link] = np.array(_text_column(matrix[is_link], 157, 100), dtype=object)
    xattrs = np.full(n, None, dtype=object)

    for row, extra in overrides.items():
        if "path" in extra:
            paths[row] = extra["path"]
        if "linkname" in extra and is_link[row]:
            linknames[row] = extra["linkname"]
        if "size" in extra:
            sizes[row] = extra["size"]
        for key, column in (("uid", uids), ("gid", gids), ("mtime", mtimes)):
            if key in extra:
                column[row] = extra[key]
        for key in ("uname", "gname"):
            if key in extra:
                named[key][row] = extra[key]
        xattrs[row] = extra.get("xattrs")

    # normalise the few names that need it (leading "/" or "./", "//", trailing "/"); one
    # look over all names joined decides which rows need it
    joined = b"\0" + "\0".join(paths).encode("utf-8", "surrogatepass") + b"\0"
    for row in _odd_path_rows(joined, n):
        paths[row] = normalize_path(paths[row])
    whiteouts, opaque = marker_columns(paths, any_marker=WHITEOUT_PREFIX.encode() in joined)
    if named["uname"]:
        unames = _overridden(unames, named["uname"])
    if named["gname"]:
        gnames = _overridden(gnames, named["gname"])
    sizes = np.where(_IS_FILE_BY_BYTE[typeflags], sizes, 0)
    return {
        "path": np.array(paths, dtype=object),
        "type": types.decoded(),
        "size": sizes,
        "mode": modes,
        "uid": uids,
        "gid": gids,
        "uname": unames.decoded(),
        "gname": gnames.decoded(),
        "mtime": mtimes,
        "linkname": linknames,
        "whiteout": whiteouts,
        "opaque": opaque,
        "sha256": _digest_column(hashes, n),
        "xattrs": xattrs,
        CODED: {"type": types, "uname": unames, "gname": gnames},
    }
