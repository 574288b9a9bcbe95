"""A layer's file table as an Arrow table, and the cache that keeps it by diff_id.

This is the form a listing takes before anything else: the pandas tables of
:mod:`.layertable` are made from it, and the command line writes CSV and JSON straight from
it (:mod:`imgexplore.arrowtext`) without loading pandas. The cache holds each table as an
Arrow IPC file compressed with LZ4: read back in milliseconds (a 200,000-entry table in
~7 ms, where Parquet took ~250 ms in a fresh process). zstd makes files half the size
(8 MB against 16 MB for that table) but takes twice as long to write and three times as
long to read; a cache is there to be fast. Files an earlier version wrote with zstd are
read as they are.
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import threading
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pyarrow as pa

from ..cache import atomic_writer, cache_root
from ..digest import short, validate_digest
from ..errors import ArchiveError, InvalidDigestError
from ..limits import MAX_UNCOMPRESSED_BYTES
from .tarlist import CODED, COLUMNS, DEFAULT_MAX_ENTRIES, TarBatches, hex_digests

if TYPE_CHECKING:
    from ..image import Layer

log = logging.getLogger(__name__)

INT_COLUMNS = ("size", "mode", "uid", "gid", "mtime")
#: text columns with few distinct values, kept dictionary-encoded (one copy of "file", "root")
DICTIONARY_COLUMNS = ("type", "uname", "gname")
_TEXT = pa.string()
SCHEMA = pa.schema(
    [
        (name, pa.int64())
        if name in INT_COLUMNS
        else (name, pa.bool_())
        if name == "opaque"
        else (name, pa.dictionary(pa.int32(), _TEXT))
        if name in DICTIONARY_COLUMNS
        else (name, _TEXT)
        for name in COLUMNS
    ]
)
CACHE_FORMAT = "v2"


def arrow_from_listing(columns: dict[str, np.ndarray], *, diff_id: str = "", tar_size: int = -1) -> pa.Table:
    """The listing's columns (see :data:`~imgexplore.filetree.tarlist.COLUMNS`) as an Arrow
    table of :data:`SCHEMA`; ``diff_id`` and ``tar_size`` ride along in its metadata."""
    return with_origin(pa.Table.from_batches([_record_batch(columns)], schema=SCHEMA), diff_id, tar_size)


def _record_batch(columns: dict[str, np.ndarray], *, raw_digests: bool = False) -> pa.RecordBatch:
    """One batch of listed columns in Arrow; ``raw_digests``: the ``sha256`` column holds
    raw digests, as :class:`~imgexplore.filetree.tarlist.TarBatches` yields them."""
    arrays = []
    coded = columns.get(CODED, {})
    for field in SCHEMA:
        values = columns[field.name]
        if field.name in coded:
            arrays.append(coded_array(*coded[field.name]))
        elif field.name == "sha256" and raw_digests:
            arrays.append(digest_array(values))
        elif field.type == pa.int64():
            arrays.append(int_array(values))
        elif field.type == pa.bool_():
            arrays.append(bool_array(values))
        elif pa.types.is_dictionary(field.type):
            arrays.append(dictionary_array(values))
        else:
            arrays.append(text_array(values))
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


# Arrays and scalars are built from their buffers, not with pa.array() or pa.scalar(): those
# ask pandas whether the values are pandas objects, which imports pandas (~0.15 s and ~40 MB)
# into a command that never uses it.


def int_array(values: np.ndarray) -> pa.Array:
    """int64 values (no nulls) as an Arrow array."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def bool_array(values: np.ndarray) -> pa.Array:
    """Booleans (no nulls) as an Arrow array (bit-packed, least significant bit first)."""
    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def digest_array(digests: np.ndarray) -> pa.Array:
    """Raw sha256 digests (b"" for none) as an Arrow string array of hex digests, nulls for
    none, built from one hex text of them all."""
    text, lengths = hex_digests(digests)
    return _string_array(text, lengths, lengths == 0)


def _string_array(data: bytes, lengths: np.ndarray, missing: np.ndarray) -> pa.Array:
    """An Arrow string array from its values' bytes back to back, each value's byte length
    and where a value is null."""
    wide = len(data) >= 1 << 31  # 32-bit offsets (Arrow's string) hold up to 2 GiB
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64 if wide else np.int32)
    np.cumsum(lengths, out=offsets[1:])
    null_count = int(missing.sum())
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if null_count else None
    array = pa.Array.from_buffers(
        pa.large_string() if wide else _TEXT, len(lengths),
        [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=null_count,
    )  # fmt: skip
    return array.cast(_TEXT) if wide else array


def literal(text: str) -> pa.Scalar:
    """A string scalar for compute functions (which would make one with pa.scalar())."""
    return text_array([text])[0]


def dictionary_array(values) -> pa.Array:
    """Python strings, None for null, as a dictionary-encoded Arrow array (what
    ``text_array(values).dictionary_encode()`` gives), made from the distinct values when
    they are few (types, user and group names) without encoding every value."""
    values = list(values)
    distinct = dict.fromkeys(values)  # in first-seen order, as dictionary_encode orders them
    if None in distinct or len(distinct) > 1024:
        return text_array(values).dictionary_encode()
    codes = {value: code for code, value in enumerate(distinct)}
    indices = np.fromiter(map(codes.__getitem__, values), dtype=np.int32, count=len(values))
    return coded_array(indices, list(distinct))


def coded_array(codes: np.ndarray, distinct: list[str]) -> pa.Array:
    """int32 ``codes`` into the strings ``distinct`` as a dictionary-encoded Arrow array."""
    codes = np.ascontiguousarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), len(codes), [None, pa.py_buffer(codes)]), text_array(distinct)
    )


def text_array(values) -> pa.Array:
    """Python strings, None for null, as an Arrow string array."""
    texts = np.empty(len(values), dtype=object)
    texts[:] = values
    missing = np.equal(texts, None)
    if missing.any():
        if missing.all():  # whiteout and xattrs columns, most of the time
            return pa.nulls(len(texts), _TEXT)
        texts[missing] = ""
    data = "".join(texts).encode("utf-8", "surrogateescape")
    if not data:  # every value empty (link targets, most of the time)
        return _string_array(data, np.zeros(len(texts), dtype=np.int64), missing)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if len(data) != int(lengths.sum()):  # some character takes more than one byte: count bytes
        encoded = [text.encode("utf-8", "surrogateescape") for text in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return _string_array(data, lengths, missing)


def list_arrow(
    stream: BinaryIO,
    *,
    hash_files: bool = True,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    stream_digest: str | None = None,
) -> pa.Table:
    """List an uncompressed tar stream straight into an Arrow table, each batch of entries
    converted as soon as it is decoded: memory holds the Arrow form (~150 bytes an entry)
    and one batch of Python values, never every entry's Python objects at once.
    ``stream_digest``: see :class:`~imgexplore.filetree.tarlist.TarBatches`."""
    batches = TarBatches(stream, hash_files=hash_files, max_entries=max_entries, stream_digest=stream_digest)
    table = pa.Table.from_batches(
        [_record_batch(columns, raw_digests=True) for columns in batches], schema=SCHEMA
    )
    # one dictionary per column, as an IPC file (the cache) requires
    return with_origin(table.unify_dictionaries(), batches.diff_id, batches.size)


def with_origin(table: pa.Table, diff_id: str, tar_size: int) -> pa.Table:
    return table.replace_schema_metadata({b"diff_id": diff_id.encode(), b"tar_size": str(tar_size).encode()})


def origin(table: pa.Table) -> tuple[str, int]:
    """(diff_id, tar_size) recorded with a table."""
    meta = table.schema.metadata or {}
    return meta.get(b"diff_id", b"").decode(), int(meta.get(b"tar_size", b"-1"))


class TreeCache:
    """Layer tables as Arrow IPC files named by diff_id (``<root>/filetree/<hex>.v2.arrow``),
    found through ``by-digest/<hex>`` files: the diff_id that listing the blob of that
    digest gave (a table is only ever looked up through the blob it was listed from)."""

    def __init__(self, root: str | pathlib.Path | None = None):
        self.root = pathlib.Path(root) if root is not None else cache_root() / "filetree"

    def _path(self, diff_id: str) -> pathlib.Path:
        return self.root / f"{validate_digest(diff_id).split(':', 1)[1]}.{CACHE_FORMAT}.arrow"

    def _alias(self, digest: str) -> pathlib.Path:
        return self.root / "by-digest" / validate_digest(digest).split(":", 1)[1]

    def diff_id_for(self, digest: str) -> str | None:
        try:
            text = self._alias(digest).read_bytes().decode("ascii").strip()
            return validate_digest(text)
        except (OSError, UnicodeDecodeError, InvalidDigestError):  # none yet, or a damaged one
            return None

    def has_table_for(self, digest: str) -> bool:
        """Whether a table listed from the blob ``digest`` is kept (not read or checked)."""
        diff_id = self.diff_id_for(digest)
        return diff_id is not None and self._path(diff_id).is_file()

    def get(self, diff_id: str) -> pa.Table | None:
        """The table listed for ``diff_id``, or None (a damaged entry is dropped, with a warning)."""
        path = self._path(diff_id)
        if not path.is_file():
            return None
        try:
            with pa.OSFile(str(path), "rb") as f:
                table = pa.ipc.open_file(f).read_all()
            if table.schema.remove_metadata() != SCHEMA or origin(table)[0] != diff_id:
                raise ValueError("not a file table of this version")
        except Exception as exc:  # noqa: BLE001 - a damaged cache entry is dropped, never fatal
            log.warning("dropping unreadable cache entry %s (%s)", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return table

    def put(self, table: pa.Table, digest: str | None = None) -> None:
        """Keep ``table`` (listed from the blob ``digest``). The files are renamed into place
        complete but not fsynced: a crash may leave a short one, which :meth:`get` drops and
        the next listing remakes, so the cost of a flush to disk stays off every listing."""
        diff_id, _ = origin(table)
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with (
            atomic_writer(self._path(diff_id), durable=False) as f,
            pa.ipc.new_file(f, table.schema, options=options) as writer,
        ):
            writer.write_table(table)
        for older in self.root.glob(f"{diff_id.split(':', 1)[1]}.*"):  # earlier formats' files
            if older != self._path(diff_id) and older.suffix in (".parquet", ".arrow"):
                with contextlib.suppress(OSError):
                    older.unlink()
        if digest:
            with atomic_writer(self._alias(digest), durable=False) as f:
                f.write(diff_id.encode())


def layer_arrow(
    layer: Layer,
    *,
    cache: TreeCache | bool = True,
    hash_files: bool = True,
    max_uncompressed_bytes: int | None = MAX_UNCOMPRESSED_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    write_behind: bool = False,
) -> pa.Table:
    """One row per entry of the layer's tar, as an Arrow table of :data:`SCHEMA`.

    A cached table is found by the layer's blob digest (the diff_id recorded when that blob
    was last listed), never by the diff_id the config claims, so a config that lies about a
    layer cannot be served another layer's table. Otherwise the blob is streamed once: its
    digest is verified, and the diff_id computed on the way is recorded on the layer
    (:meth:`~imgexplore.image.Layer.record_diff_id`, which refuses one the config contradicts).

    ``write_behind``: hand a fresh table to the cache in a background thread and return at
    once (Arrow compresses and writes it without the GIL, beside whatever the caller does
    next); :func:`wait_for_cache_writes` waits for every such write."""
    store = TreeCache() if cache is True else (cache or None)
    if store is not None:
        computed = store.diff_id_for(layer.digest)
        cached = store.get(computed) if computed else None
        if cached is not None:
            layer.record_diff_id(computed)
            return cached
    try:
        stream, tar_digest = layer.open_tar_checked(max_uncompressed_bytes=max_uncompressed_bytes)
        with stream:
            table = list_arrow(
                stream, hash_files=hash_files, max_entries=max_entries, stream_digest=tar_digest
            )
    except ArchiveError as exc:
        where = f"layer {layer.index} ({short(layer.digest)}, {layer.media_type})"
        if str(exc).startswith("layer "):
            raise
        raise type(exc)(f"{where}: {exc}") from None
    layer.record_diff_id(origin(table)[0])
    if store is not None and hash_files:
        if write_behind:
            writer = threading.Thread(
                target=_put_in_cache, args=(store, table, layer.digest), name="imgexplore-cache-write"
            )
            with _WRITES_LOCK:
                _WRITES.append(writer)
            writer.start()
        else:
            _put_in_cache(store, table, layer.digest)
    return table


# cache writes started by layer_arrow(write_behind=True) and not yet waited for; the threads
# are not daemons, so an interpreter that exits still finishes them first
_WRITES: list[threading.Thread] = []
_WRITES_LOCK = threading.Lock()


def _put_in_cache(store: TreeCache, table: pa.Table, digest: str) -> None:
    try:
        store.put(table, digest)
    except OSError as exc:  # a read-only or full disk must not stop the analysis
        log.warning("could not cache the file table of layer %s: %s", short(digest), exc)


def wait_for_cache_writes() -> None:
    """Return once every file table handed to the cache in the background is written (or
    its write has failed, with a warning)."""
    while True:
        with _WRITES_LOCK:
            if not _WRITES:
                return
            writer = _WRITES.pop()
        writer.join()
