"""tar-split (vbatts/tar-split, ``tar/storage``): the metadata an engine keeps so that it can
rebuild, byte for byte, the tar of a layer it has unpacked.

Docker (``layerdb/…/tar-split.json.gz``) and containers-storage (``overlay-layers/*.tar-split.gz``)
store it as gzip'd newline-delimited JSON. Two kinds of record:

* a *segment* (``type`` 2): raw bytes of the tar that are not file contents — headers
  (with their PAX/GNU extension blocks), padding, the end-of-archive blocks — base64'd;
* a *file* (``type`` 1): a name, a size and the CRC-64 (ISO) of the file's contents, which
  the engine keeps in the unpacked directory.

:func:`disassemble` reads a tar stream into records exactly as tar-split's disassembler does;
:func:`assemble` puts the tar back together from records and a directory, checking every
file's size and CRC-64; :func:`encode` writes records as Go's ``encoding/json`` writes them.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import TarSplitError

SEGMENT = 2
FILE = 1
BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_HEADER_ONLY = {b"1", b"2", b"3", b"4", b"5", b"6"}  # link, symlink, char, block, dir, fifo
_META = {b"x", b"L", b"K"}  # PAX, GNU long name, GNU long link: read inside one Next()
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Record:
    """One tar-split entry. ``payload`` is raw tar bytes (segment) or the CRC-64 of the
    file's contents (file; ``None`` for a file with no contents)."""

    type: int
    position: int
    payload: bytes | None = None
    name: bytes | None = None  # file records only, as the tar spells it
    size: int = 0


def _crc64():
    try:
        from fastcrc import crc64
    except ImportError as exc:  # pragma: no cover - a declared dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError(
            "tar-split checksums need the fastcrc package: pip install fastcrc"
        ) from exc
    return crc64.go_iso


def crc64_iso(data: bytes, initial: int | None = None) -> int:
    """CRC-64 with the ISO polynomial, as Go's ``hash/crc64`` (``crc64.ISO``) computes it.

    >>> hex(crc64_iso(b"hello world"))
    '0xb9cf3f572ad9ac3e'
    """
    function = _crc64()
    return function(data) if initial is None else function(data, initial)


# -- reading a tar the way tar-split's fork of Go's archive/tar does --------------------------


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU) for big numbers
        value = int.from_bytes(field[1:], "big") | ((field[0] & 0x7F) << (8 * (len(field) - 1)))
        return value
    text = field.split(b"\0", 1)[0].strip(b" \0")
    return int(text, 8) if text else 0


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    records, rest = {}, data
    while rest:
        length_text, _, _ = rest.partition(b" ")
        try:
            length = int(length_text)
        except ValueError:
            raise TarSplitError("a PAX header record has no length") from None
        line, rest = rest[:length], rest[length:]
        key, _, value = line[len(length_text) + 1 :].rstrip(b"\n").partition(b"=")
        records[key] = value
    return records


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            break
        data += more
    return data


class _Counting:
    """A stream that counts the bytes read from it."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.offset = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.offset += len(data)
        return data


WINDOW = 32 * 1024  # Go's flate decoder hands out its output at least at every 32 KiB


def disassemble(stream: BinaryIO, *, reads: str = "gzip") -> Iterator[Record]:
    """Records of the tar read from ``stream`` (uncompressed), in tar-split's order.

    Bytes after the end-of-archive blocks are stored one segment per read tar-split made of
    its input, so their split depends on what fed it. ``reads="gzip"``: as an engine reading
    a layer through Go's gzip reader sees them, cut at every 32 KiB of the stream, with an
    empty segment only when nothing follows the end of the archive (the last read of a gzip
    stream returns its data with the end-of-file); ``reads="file"``: as ``tar-split disasm``
    reading a file, the rest in one segment, then an empty one."""
    if reads not in ("gzip", "file"):
        raise ValueError("reads is 'gzip' or 'file'")
    position = 0
    stream = _Counting(stream)
    raw = bytearray()  # bytes read since the last record: padding, headers

    def emit(record_type: int, **fields) -> Record:
        nonlocal position
        record = Record(record_type, position, **fields)
        position += 1
        return record

    while True:
        block = _read_exact(stream, BLOCK)
        raw += block
        if len(block) < BLOCK:
            if block:
                raise TarSplitError("the tar ends inside a header block")
            break
        if block == _ZERO_BLOCK:
            second = _read_exact(stream, BLOCK)
            raw += second
            if second and second != _ZERO_BLOCK:
                raise TarSplitError("a zero block followed by a header: not a tar")
            break
        name, size, typeflag = _header(block)
        long_name = None
        pax: dict[bytes, bytes] = {}
        while typeflag in _META:  # extension blocks belong to the header that follows
            data = _read_exact(stream, size + (-size % BLOCK))
            raw += data
            if typeflag == b"x":
                pax.update(_pax_records(data[:size]))
            elif typeflag == b"L":
                long_name = data[:size].split(b"\0", 1)[0]
            block = _read_exact(stream, BLOCK)
            raw += block
            if len(block) < BLOCK:
                raise TarSplitError("the tar ends after an extension header")
            name, size, typeflag = _header(block)
        if typeflag == b"S":
            raise TarSplitError("GNU sparse files are not supported by tar-split's reassembly")
        if typeflag == b"g":  # a global PAX header is its own entry; its data is metadata
            data = _read_exact(stream, size + (-size % BLOCK))
            raw += data
            size = 0
        name = pax.get(b"path", long_name if long_name is not None else name)
        if b"size" in pax:
            size = int(pax[b"size"])
        if raw:
            yield emit(SEGMENT, payload=bytes(raw))
            raw.clear()
        contents = 0 if typeflag in _HEADER_ONLY else size
        checksum = None
        if size > 0:
            crc = None
            left = contents
            while left:
                chunk = stream.read(min(_CHUNK, left))
                if not chunk:
                    raise TarSplitError(f"the tar ends inside {name.decode(errors='replace')}")
                crc = crc64_iso(chunk, crc)
                left -= len(chunk)
            checksum = (crc if crc is not None else 0).to_bytes(8, "big")
        yield emit(FILE, name=name, size=size, payload=checksum)
        padding = -contents % BLOCK
        if padding:
            raw += _read_exact(stream, padding)
    if raw:
        yield emit(SEGMENT, payload=bytes(raw))
    if reads == "file":
        rest = bytearray()
        while chunk := stream.read(_CHUNK):
            rest += chunk
        if rest:
            yield emit(SEGMENT, payload=bytes(rest))
        yield emit(SEGMENT, payload=b"")
        return
    pieces = 0
    while True:
        chunk = stream.read(WINDOW - stream.offset % WINDOW)
        if not chunk:
            break
        pieces += 1
        yield emit(SEGMENT, payload=chunk)
    if not pieces:
        yield emit(SEGMENT, payload=b"")


def _header(block: bytes) -> tuple[bytes, int, bytes]:
    """(name, size, typeflag) of a header block; USTAR's prefix joined to the name."""
    stored = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if _octal(block[148:156]) != stored:
        raise TarSplitError("a tar header's checksum does not match: not a tar, or a damaged one")
    name = block[0:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\x00":  # POSIX ustar/pax: a prefix field (GNU's has none)
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name, _octal(block[124:136]), block[156:157] or b"0"


# -- writing records as Go's encoding/json does ----------------------------------------------


def _go_string(text: str) -> str:
    """A JSON string as Go's encoding/json writes it: HTML characters and U+2028/2029 escaped,
    other control characters as \\u00XX except \\n \\r \\t (Go before 1.22, as Debian's
    Docker 20.10 and tar-split are built)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode(record: Record) -> bytes:
    """One record as tar-split's JSON packer writes it (one line, newline included)."""
    parts = [f'{{"type":{record.type}']
    if record.type == FILE:
        try:
            parts.append(f',"name":{_go_string(record.name.decode("utf-8"))}')
        except UnicodeDecodeError:  # not UTF-8: kept as bytes, base64'd
            parts.append(f',"name_raw":"{base64.b64encode(record.name).decode()}"')
        if record.size:
            parts.append(f',"size":{record.size}')
    payload = "null" if record.payload is None else f'"{base64.b64encode(record.payload).decode()}"'
    parts.append(f',"payload":{payload},"position":{record.position}}}\n')
    return "".join(parts).encode("utf-8")


def decode(line: bytes | str) -> Record:
    """One JSON line back into a :class:`Record`."""
    try:
        entry = json.loads(line)
        name = entry.get("name")
        raw_name = base64.b64decode(entry["name_raw"]) if entry.get("name_raw") else None
        payload = entry.get("payload")
        return Record(
            type=int(entry["type"]),
            position=int(entry["position"]),
            payload=None if payload is None else base64.b64decode(payload),
            name=raw_name if raw_name is not None else (name.encode("utf-8") if name is not None else None),
            size=int(entry.get("size") or 0),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TarSplitError(f"not a tar-split record: {str(line)[:80]!r}") from exc


def write(records: Iterable[Record], path: str | os.PathLike, *, mtime: int = 0) -> None:
    """Write records as a gzip'd ``tar-split.json.gz``."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=mtime) as out:
        for record in records:
            out.write(encode(record))


def read(path: str | os.PathLike) -> Iterator[Record]:
    """The records of a ``tar-split.json.gz`` (or an uncompressed one)."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as lines:
            for line in lines:
                if line.strip():
                    yield decode(line)
    except (OSError, EOFError) as exc:
        raise TarSplitError(f"{os.fspath(path)}: not a readable tar-split file ({exc})") from exc


def tar_size(records: Iterable[Record]) -> int:
    """The size of the tar the records describe."""
    return sum(len(r.payload or b"") if r.type == SEGMENT else r.size for r in records)


_SIZE = re.compile(rb'"size":(\d+)')
_SEGMENT_START = b'{"type":2,"payload":"'
_FILE_START = b'{"type":1,'


def file_tar_size(path: str | os.PathLike) -> int:
    """The size of the tar a ``tar-split.json.gz`` describes, read without decoding its
    records: what a source needs to describe a layer before anyone reads it.

    File sizes come from the ``"size"`` keys, segment lengths from the length of their
    base64 (4 characters for 3 bytes, each ``=`` one byte fewer). Both keys can be found
    by a plain byte search: inside a JSON string a quote is escaped, so ``"size":`` only
    ever starts a key. A file whose lines are not the Go encoder's is decoded properly."""
    total = records = lines = 0
    try:
        with open(path, "rb") as raw:
            data = raw.read()
        for text, start, end in _whole_lines(_inflated(data)):
            counts = _line_sizes(text, start, end)
            total, records, lines = total + counts[0], records + counts[1], lines + counts[2]
    except (OSError, EOFError, ValueError) as exc:
        raise TarSplitError(f"{os.fspath(path)}: not a readable tar-split file ({exc})") from exc
    if records != lines:
        return tar_size(read(path))  # written by something else (or empty segments): decode it
    return total


def _inflated(data: bytes, piece: int = 1 << 18) -> Iterator[bytes]:
    """``data`` decompressed (every gzip member of it) in pieces of at most ``piece`` bytes
    (small enough to stay in a core's cache while they are scanned), or as it is when it is
    not gzip."""
    from isal import isal_zlib  # a third of zlib's time on the 20 MB of JSON a 20,000-file layer has

    while data[:2] == b"\x1f\x8b":
        inflater = isal_zlib.decompressobj(31)
        try:
            out = inflater.decompress(data, piece)
            while out:
                yield out
                out = inflater.decompress(inflater.unconsumed_tail, piece)
        except isal_zlib.error as exc:
            raise ValueError(str(exc)) from None
        if not inflater.eof:
            raise EOFError("the gzip stream is cut short")
        data = inflater.unused_data
    if data:
        yield data


def _whole_lines(pieces: Iterable[bytes]) -> Iterator[tuple[bytes, int, int]]:
    """``pieces`` of a text as spans ``(data, start, end)`` of whole lines: each piece's
    lines where they lie (no copy, scanned while the piece is in the CPU's cache), a line cut
    between pieces joined in a small copy of its own, the last line given its newline when
    the text has none."""
    partial = b""
    for piece in pieces:
        first = piece.find(b"\n") + 1
        if not first:
            partial += piece
            continue
        head = partial + piece[:first]
        yield head, 0, len(head)
        last = piece.rfind(b"\n") + 1
        yield piece, first, last
        partial = piece[last:]
    if partial:
        partial += b"\n"
        yield partial, 0, len(partial)


def _line_sizes(data: bytes, start: int, end: int) -> tuple[int, int, int]:
    """For the whole lines of tar-split JSON in ``data[start:end]``: the tar bytes they
    stand for, how many are records of one of the two forms below, and how many lines
    there are. Neither form can occur inside a JSON string (its quotes are escaped); any
    other line means another writer.

    Segment payloads (base64 tar headers) are nine tenths of the text: each is measured
    from its opening to its closing quote, and only the text between them (file records,
    line ends) is searched for sizes, records and lines, in one joined copy."""
    segments, total, find, at, skip = 0, 0, data.find, start, len(_SEGMENT_START)
    between, after_last = [], start
    while (at := find(_SEGMENT_START, at, end)) >= 0:
        between.append(data[after_last:at])
        at += skip
        payload_start, at = at, find(b'"', at, end)
        if at < 0 or find(b"\n", payload_start, at) >= 0:  # no closing quote on its line
            after_last = payload_start - skip  # the line is left to the counts, which then disagree
            break
        padding = (data[at - 1] == 0x3D) + (data[at - 2] == 0x3D)  # '='
        total += (at - payload_start) * 3 // 4 - padding
        segments += 1
        after_last = at
    between.append(data[after_last:end])
    rest = b"".join(between)
    total += sum(map(int, _SIZE.findall(rest)))
    return total, segments + rest.count(_FILE_START), rest.count(b"\n")


def iter_tar(records: Iterable[Record], root: str | os.PathLike) -> Iterator[bytes]:
    """The tar the records describe, in chunks, file contents read from ``root`` and checked
    (size and CRC-64) as they pass."""
    for record in records:
        if record.type == SEGMENT:
            if record.payload:
                yield record.payload
            continue
        if record.type != FILE:
            raise TarSplitError(f"record {record.position}: unknown type {record.type}")
        if not record.payload:
            continue
        yield from _file_chunks(record, root)


def _file_chunks(record: Record, root: str | os.PathLike) -> Iterator[bytes]:
    path = os.path.join(os.fsencode(root), record.name.lstrip(b"/"))
    crc, left = None, record.size
    try:
        source = open(path, "rb")
    except OSError as exc:
        raise TarSplitError(
            f"{os.fsdecode(record.name)}: cannot be read from {os.fspath(root)} ({exc.strerror})"
        ) from exc
    with source:
        while left:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                break
            crc = crc64_iso(chunk, crc)
            left -= len(chunk)
            yield chunk
    if left or (crc or 0).to_bytes(8, "big") != record.payload:
        raise TarSplitError(
            f"{os.fsdecode(record.name)} in {os.fspath(root)} is not the file the tar-split "
            "records describe (size or CRC-64 differs): the layer was changed after it was unpacked"
        )


class AssembledStream(io.RawIOBase):
    """The rebuilt tar as a readable stream (nothing held in memory but one chunk)."""

    def __init__(self, records: Iterable[Record], root: str | os.PathLike):
        self._chunks = iter_tar(records, root)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def assemble(records: Iterable[Record], root: str | os.PathLike, out: BinaryIO) -> int:
    """Write the tar the records describe to ``out``, file contents read from ``root`` (an
    unpacked layer: Docker's ``diff/``). Every file's size and CRC-64 is checked. Returns the
    number of bytes written."""
    written = 0
    for chunk in iter_tar(records, root):
        out.write(chunk)
        written += len(chunk)
    return written
