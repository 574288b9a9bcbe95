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

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

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

DEFAULT_MAX_ENTRIES = 5_000_000
DEFAULT_MAX_HEADER_BYTES = 1 << 20


@dataclass
class TarListing:
    """The columns of a listed tar, plus what was learned about the stream."""

    columns: dict[str, list] = field(default_factory=lambda: {c: [] for c in COLUMNS})
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


def _cstring(field_bytes: bytes) -> str:
    return field_bytes.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


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
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


class _Reader:
    """Buffered reads from the decompressed stream that hash every byte on the way."""

    def __init__(self, stream: BinaryIO, chunk_size: int):
        self._stream = stream
        self._chunk_size = chunk_size
        self._hasher = hashlib.sha256()
        self.buf = b""
        self.pos = 0
        self.consumed = 0  # bytes before buf[0]
        self.eof = False

    def _fill(self) -> bool:
        chunk = self._stream.read(self._chunk_size)
        if not chunk:
            self.eof = True
            return False
        self._hasher.update(chunk)
        rest = self.buf[self.pos :]
        self.consumed += self.pos
        self.buf = rest + chunk if rest else chunk
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
        return "sha256:" + self._hasher.hexdigest()


def list_tar(
    stream: BinaryIO,
    *,
    hash_files: bool = True,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    chunk_size: int = 4 << 20,
) -> TarListing:
    """List every entry of an uncompressed tar stream (see the module docstring).

    The loop only walks the archive (sizes, special headers, content hashes) and keeps each
    512-byte header; the fixed fields of all headers are then decoded at once with numpy."""
    reader = _Reader(stream, chunk_size)
    headers: list[bytes] = []
    offsets: list[int] = []
    hashes: list[str | None] = []
    overrides: dict[int, dict] = {}  # row → PAX/GNU values that replace header fields
    sha256 = hashlib.sha256
    walk = _WALK.unpack_from

    global_pax: dict[str, str] = {}
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None

    while True:
        buf, pos = reader.buf, reader.pos
        if len(buf) - pos >= BLOCK:
            header = buf[pos : pos + BLOCK]
            reader.pos = pos = pos + BLOCK
        else:
            header = reader.take(BLOCK)
            if header is None:
                break  # stream ended without end-of-archive blocks (tolerated, as GNU tar does)
            buf, pos = reader.buf, reader.pos
        if header == ZERO_BLOCK:
            reader.drain()
            break
        size_raw, typeflag = walk(header)
        try:
            size = int(size_raw, 8)
        except ValueError:
            _check_header(header, reader.offset - BLOCK)
            size = _number(header[124:136], "size", reader.offset - BLOCK)
        if size < 0:
            _check_header(header, reader.offset - BLOCK)
            raise ArchiveError(f"tar header at byte {reader.offset - BLOCK}: negative size {size}")
        padded = (size + BLOCK - 1) & ~(BLOCK - 1)

        if typeflag in _SPECIAL:
            offset = reader.offset - BLOCK
            _check_header(header, offset)
            if size > max_header_bytes:
                raise LimitExceededError(
                    f"tar header at byte {offset}: extended header of {size} bytes is over the "
                    f"limit of {max_header_bytes} (max_header_bytes)"
                )
            data = reader.take(padded)
            if data is None:
                raise ArchiveError(f"tar stream is truncated at byte {offset} (extended header)")
            data = data[:size]
            if typeflag == b"x":
                pax.update(_parse_pax(data, offset))
            elif typeflag == b"g":
                global_pax.update(_parse_pax(data, offset))
            elif typeflag == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            else:
                long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue

        row = len(headers)
        if row == 0:
            _check_header(header, reader.consumed + pos - BLOCK)  # "is this a tar at all?"
        elif row >= max_entries:
            raise LimitExceededError(f"layer has more than {max_entries} entries (max_entries)")
        headers.append(header)
        offsets.append(reader.consumed + pos - BLOCK)
        data_size = size
        sparse = False
        if pax or global_pax or long_name is not None or long_link is not None or typeflag == b"S":
            extra, data_size, padded, sparse = _header_extras(
                header, typeflag, {**global_pax, **pax}, long_name, long_link, reader, size, padded
            )
            overrides[row] = extra
            pax = {}
            long_name = long_link = None

        if hash_files and (typeflag == b"0" or typeflag == b"\0" or typeflag == b"7") and not sparse:
            if len(buf) - pos >= padded:
                hashes.append(sha256(buf[pos : pos + data_size]).hexdigest())
                reader.pos = pos + padded
            else:
                file_hasher = sha256()
                reader.skip(padded, file_hasher, data_size)
                hashes.append(file_hasher.hexdigest())
        else:
            hashes.append(None)
            if len(buf) - pos >= padded:
                reader.pos = pos + padded
            else:
                reader.skip(padded)

    listing = TarListing(columns=_decode_headers(headers, offsets, overrides, hashes))
    listing.diff_id = reader.digest()
    listing.size = reader.total
    return listing


# size and typeflag: all the walk needs (checksums are verified for all headers at once)
_WALK = struct.Struct("124x11sx20xc")


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
_POWERS = {}


def _octal_fields(matrix: np.ndarray, start: int, width: int, offsets, what: str) -> np.ndarray:
    """Decode one numeric field of every header at once. Rows in the standard form (octal
    digits, then NUL/space padding, optionally after leading spaces) are decoded by numpy;
    any other row (GNU base-256, odd padding) goes through the careful scalar decoder."""
    field_bytes = matrix[:, start : start + width]
    is_digit = (field_bytes >= 48) & (field_bytes <= 55)
    is_pad = (field_bytes == 0) | (field_bytes == 32)
    # standard: every byte is a digit or padding, and no digit follows the first trailing pad
    digits_seen = np.cumsum(is_digit, axis=1)
    after_digits = (digits_seen > 0) & ~is_digit
    ended = np.cumsum(after_digits, axis=1) > 0
    standard = np.all(is_digit | is_pad, axis=1) & ~np.any(ended & is_digit, axis=1)
    values = np.zeros(len(matrix), dtype=np.int64)
    for j in range(width):
        column = is_digit[:, j]
        values = np.where(column, values * 8 + (field_bytes[:, j].astype(np.int64) - 48), values)
    for row in np.flatnonzero(~standard):
        values[row] = _number(bytes(field_bytes[row]), what, offsets[row])
    return values


def _strings(matrix: np.ndarray, start: int, width: int, rows=None) -> list[str]:
    block = np.ascontiguousarray(
        matrix[:, start : start + width] if rows is None else matrix[rows, start : start + width]
    )
    cache: dict[bytes, str] = {}
    out = []
    for raw in block.view(f"S{width}").ravel().tolist():
        text = cache.get(raw)
        if text is None:
            text = cache[raw] = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        out.append(text)
    return out


def _decode_headers(headers, offsets, overrides, hashes) -> dict[str, list]:
    n = len(headers)
    if n == 0:
        return {c: [] for c in COLUMNS}
    matrix = np.frombuffer(b"".join(headers), dtype=np.uint8).reshape(n, BLOCK)
    computed = matrix.sum(axis=1, dtype=np.int64) - matrix[:, 148:156].sum(axis=1, dtype=np.int64) + 8 * 32
    bad = np.flatnonzero(_octal_fields(matrix, 148, 8, offsets, "checksum") != computed)
    if len(bad):
        raise ArchiveError(
            f"tar header at byte {offsets[bad[0]]} has a bad checksum: the layer is corrupt or not a tar archive"
        )
    types = _TYPE_BY_BYTE[matrix[:, 156]]
    sizes = _octal_fields(matrix, 124, 12, offsets, "size")
    modes = _octal_fields(matrix, 100, 8, offsets, "mode") & 0o7777
    uids = _octal_fields(matrix, 108, 8, offsets, "uid")
    gids = _octal_fields(matrix, 116, 8, offsets, "gid")
    mtimes = _octal_fields(matrix, 136, 12, offsets, "mtime")

    names = [text for text in matrix[:, 0:100].copy().view("S100").ravel().tolist()]
    prefixed = np.flatnonzero(
        (matrix[:, 257:263] == np.frombuffer(b"ustar\x00", np.uint8)).all(axis=1) & (matrix[:, 345] != 0)
    )
    prefixes = dict(zip(prefixed.tolist(), _strings(matrix, 345, 155, prefixed), strict=True))
    paths = []
    for row, raw in enumerate(names):
        name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if row in prefixes:
            name = f"{prefixes[row]}/{name}"
        paths.append(name)
    unames = _strings(matrix, 265, 32)
    gnames = _strings(matrix, 297, 32)
    is_link = np.isin(matrix[:, 156], (ord("1"), ord("2")))
    linknames = [""] * n
    link_rows = np.flatnonzero(is_link)
    for row, text in zip(link_rows.tolist(), _strings(matrix, 157, 100, link_rows), strict=True):
        linknames[row] = text

    sizes = sizes.tolist()
    xattrs: list[str | None] = [None] * n
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
        if "uname" in extra:
            unames[row] = extra["uname"]
        if "gname" in extra:
            gnames[row] = extra["gname"]
        xattrs[row] = extra.get("xattrs")

    whiteouts: list[str | None] = [None] * n
    opaque = [False] * n
    for row, name in enumerate(paths):
        if (
            name.startswith(("/", "./"))
            or "//" in name
            or "/./" in name
            or name.endswith(("/", "/."))
            or name == "."
        ):
            name = paths[row] = normalize_path(name)
        if ".wh." in name:
            base = name.rpartition("/")[2]
            if base == OPAQUE_MARKER:
                opaque[row] = True
            elif base.startswith(WHITEOUT_PREFIX):
                whiteouts[row] = name[: len(name) - len(base)] + base[len(WHITEOUT_PREFIX) :]
    file_rows = types == "file"
    sizes = [s if f else 0 for s, f in zip(sizes, file_rows.tolist(), strict=True)]
    return {
        "path": paths,
        "type": types.tolist(),
        "size": sizes,
        "mode": modes.tolist(),
        "uid": uids.tolist(),
        "gid": gids.tolist(),
        "uname": unames,
        "gname": gnames,
        "mtime": mtimes.tolist(),
        "linkname": linknames,
        "whiteout": whiteouts,
        "opaque": opaque,
        "sha256": hashes,
        "xattrs": xattrs,
    }
