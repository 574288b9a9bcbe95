"""Scanning many images at once on Dask: metadata per image, file tables per unique layer
(each layer submitted as soon as the metadata of the first image using it arrives, and
listed from the manifest that metadata was read from).

The output is a Parquet dataset, one folder per table, one file per unit of work:

    DIR/images/       one row per image (its spec, resolved digest, platform, sizes)
    DIR/layers/       one row per layer digest (size, media type, diff_id, tar size once indexed)
    DIR/image_layers/ which image uses which layer at which position (with chain ids)
    DIR/history/      one row per history step
    DIR/files/        per indexed layer: path, type, size (and sha256 with hash_files)
    DIR/layer_sizes/  per indexed layer: diff_id and uncompressed (tar) size
    DIR/chunks/       per layer indexed from an eStargz or zstd:chunked TOC: each piece of file
                      data with its sha256 and its file's (chunk-level deduplication)
    DIR/errors/       images or layers that failed, with the reason

Parts are written atomically (temporary file, then rename): metadata a batch of images at a
time by the scanning process (named after the batch's specs), file tables one per layer as
its task finishes (by the worker itself when it can see the dataset, named after the layer
digest; these are not fsynced, a crash is caught by checking the part's end). An
interrupted scan resumes where it stopped: a rerun skips every image already in the images
table and every layer whose file part is complete, and retries the ones that failed. Only one scan may write a dataset at a time (a lock file, ``DIR/.lock``,
held while it runs, is released by the system even if the scan is killed); a scan removes
the temporary files of an earlier scan that was killed mid-write before it starts."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from ..heap import heap_environment
from ..progress import progress_bar
from ..registry.options import RegistryOptions
from .dispatch import Dispatcher

TABLES = ("images", "layers", "image_layers", "history", "files", "layer_sizes", "chunks", "errors")


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _layer_key(digest: str) -> str:
    return digest.split(":", 1)[1][:32]


def _part(out: str, table: str, key: str) -> str:
    return os.path.join(out, table, f"part-{key}.parquet")


def _write_part(out: str, table: str, key: str, frame, *, durable: bool = True) -> None:
    """Write one part (a DataFrame or an Arrow table) atomically. Parts that are not
    ``durable`` are not fsynced: a crash may leave one short, which :func:`_part_complete`
    notices, so the scan redoes that unit of work."""
    from ..cache import atomic_writer

    path = _part(out, table, key)
    with atomic_writer(path, durable=durable) as f:
        if isinstance(frame, pd.DataFrame):
            frame.to_parquet(f, index=False)
        else:
            import pyarrow.parquet as pq

            pq.write_table(frame, f)


_PARQUET_MAGIC = b"PAR1"


def _part_complete(path: str) -> bool:
    """Whether a part was written to its end: a Parquet file ends with its magic bytes,
    which a file cut short or zero-filled by a crash does not."""
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) < 2 * len(_PARQUET_MAGIC) + 4:
                return False
            f.seek(-len(_PARQUET_MAGIC), os.SEEK_END)
            return f.read() == _PARQUET_MAGIC
    except OSError:
        return False


@contextlib.contextmanager
def _dataset_lock(out: str):
    """Hold ``out/.lock`` exclusively; refuse if another scan holds it."""
    from ..errors import CorpusError
    from ..folders import make_folder

    make_folder(out, "dataset folder")
    with open(os.path.join(out, ".lock"), "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CorpusError(f"another scan is writing {out}; wait for it or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_partials(out: str) -> int:
    """Delete temporary part files left by a scan that was killed mid-write (safe: we hold the lock)."""
    leftovers = glob.glob(os.path.join(glob.escape(out), "*", ".part-*.partial"))
    for path in leftovers:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return len(leftovers)


def read_specs(source: str | os.PathLike | Iterable[str]) -> list[str]:
    """Image specs from a text file (one per line, ``#`` comments) or any iterable of strings
    (a DataFrame column works), without duplicates, in order."""
    if isinstance(source, (str, os.PathLike)):
        from ..errors import CorpusError

        try:
            with open(source, encoding="utf-8") as f:
                lines = [line.split("#", 1)[0].strip() for line in f]
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"cannot read the list of images {os.fspath(source)!r}: {exc}") from None
    else:
        lines = [str(item).strip() for item in source]
    return list(dict.fromkeys(line for line in lines if line))


def registry_specs(host: str, *, page_size: int = 100, registry: RegistryOptions | None = None) -> list[str]:
    """Every ``host/repository:tag`` of a registry, walking ``/v2/_catalog`` and tag lists.
    A repository the catalog names but whose tag list is not found (it holds blobs but no
    tagged manifest: an interrupted push, or every tag deleted) has no image to scan."""
    from ..errors import NotFoundError

    specs = []
    with (registry or RegistryOptions()).client(host) as client:
        for repo in client.list_repositories(page_size):
            try:
                tags = client.list_tags(repo, page_size)
            except NotFoundError:
                continue
            specs += [f"{host}/{repo}:{tag}" for tag in tags]
    return specs


# -- the work (runs on Dask workers) ------------------------------------------------------------


def image_metadata(
    spec: str, platform: str | None = None, registry: RegistryOptions | None = None
) -> dict[str, list[dict]]:
    """Manifest and config of one image, as rows (dicts) of the images, layers,
    image_layers and history tables (or one errors row). Plain rows, not DataFrames: a
    small DataFrame costs more to build than the image costs to fetch."""
    from ..errors import ImgExploreError
    from ..opener import open_image
    from ..rows import layer_row

    started = time.perf_counter()
    try:
        image = open_image(spec, platform, registry=registry)
    except ImgExploreError as exc:
        return {
            "errors": [
                {"key": spec, "stage": "metadata", "error": type(exc).__name__, "message": str(exc)[:500]}
            ]
        }
    layers = [layer_row(layer) for layer in image.layers]  # the rows the layers table shows
    unique = {row["digest"]: row for row in layers}
    images = {
        "spec": spec,
        "digest": image.digest,
        "media_type": image.media_type,
        "platform": str(image.platform) if image.platform else "",
        "layers": len(layers),
        "empty_layers": sum(1 for row in layers if row["empty"]),
        "compressed_size": sum(max(row["size"], 0) for row in unique.values()),
        "history_steps": len(image.history),
        "empty_steps": sum(1 for step in image.history if step.empty_layer),
        "seconds": time.perf_counter() - started,
    }
    return {
        "images": [images],
        "layers": [
            {key: row[key] for key in ("digest", "size", "media_type", "diff_id", "empty")}
            for row in unique.values()
        ],
        "image_layers": [
            {
                "spec": spec,
                "image_digest": image.digest,
                "position": row["index"],
                "digest": row["digest"],
                "diff_id": row["diff_id"],
                "chain_id": row["chain_id"],
                "created_by": row["created_by"],
            }
            for row in layers
        ],  # fmt: skip
        "history": [
            {
                "spec": spec,
                "step": step.step,
                "created": step.created,
                "created_by": step.created_by,
                "empty_layer": step.empty_layer,
                "layer_index": step.layer_index,
            }
            for step in image.history
        ],  # fmt: skip
    }


def images_metadata(
    specs: list[str], platform: str | None = None, registry: RegistryOptions | None = None
) -> list[tuple[str, dict[str, list[dict]]]]:
    """:func:`image_metadata` for several images: one task, one round trip to the scheduler."""
    return [(spec, image_metadata(spec, platform, registry)) for spec in specs]


# the dtypes a table's columns keep whatever rows a part happens to hold
_DTYPES = {
    "images": {"layers": "int64", "empty_layers": "int64", "compressed_size": "int64", "history_steps": "int64",
               "empty_steps": "int64", "seconds": "float64"},
    "layers": {"size": "int64", "empty": "bool"},
    "image_layers": {"position": "int64"},
    "history": {"step": "int64", "empty_layer": "bool", "layer_index": "Int64"},
    "errors": {},
}  # fmt: skip


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype(_DTYPES[table])


def _toc_table(layer):
    """The layer's file table from its lazy-pull TOC, and its chunk rows (None for a TOC
    that records no chunk digests: SOCI); (None, None) if it has no TOC."""
    from ..lazy import lazy_format, read_toc
    from ..lazy.toc import toc_file_table

    if lazy_format(layer) is None:
        return None, None
    toc = read_toc(layer)
    table = toc_file_table(toc)
    table.attrs.update(diff_id=layer.diff_id, tar_size=-1)  # the tar itself was never read
    chunks = None
    if toc.format != "soci":  # a zTOC records no digests
        from ..lazy.dedup import toc_chunks

        chunks = toc_chunks(toc)
        chunks.insert(0, "digest", layer.digest)
    return table, chunks


def index_layer(
    spec: str,
    digest: str,
    hash_files: bool = False,
    platform: str | None = None,
    out: str | None = None,
    registry: RegistryOptions | None = None,
    toc_only: bool = False,
) -> dict:
    """The file table of one layer (found through an image that uses it), reduced to the
    corpus columns, as an Arrow table under ``files``; or an errors row. With ``out`` the table is written into the dataset
    there (by the worker) and only its size comes back. With ``toc_only`` a lazy layer
    (eStargz, zstd:chunked, or covered by a SOCI index) is indexed from its TOC, without
    downloading it; other layers are listed whole."""
    ((_, result),) = index_layers([(spec, digest)], hash_files, platform, out, registry, toc_only)
    return result


def index_layers(
    pairs: list[tuple[str, str]],
    hash_files: bool = False,
    platform: str | None = None,
    out: str | None = None,
    registry: RegistryOptions | None = None,
    toc_only: bool = False,
    pins: dict[str, str] | None = None,
    keep_layers: bool = True,
) -> list[tuple[str, dict]]:
    """:func:`index_layer` for several (image spec, layer digest) pairs, each image opened
    once. ``pins`` maps a spec to the manifest digest its metadata was read from: a registry
    image is then opened by that digest, so the layers listed are the ones recorded even if
    the tag has moved since, and its cached manifest answers without a request. With
    ``keep_layers`` False, a layer blob downloaded here is removed from the local cache once
    it is listed, and its file table is not cached (the dataset keeps its rows)."""
    from ..errors import ImgExploreError
    from ..opener import open_image

    images: dict[str, object] = {}
    results = []
    for spec, digest in pairs:
        if spec not in images:
            try:
                images[spec] = open_image(_pinned(spec, (pins or {}).get(spec), registry), platform)
            except ImgExploreError as exc:
                images[spec] = exc
        image = images[spec]
        if isinstance(image, ImgExploreError):
            results.append((digest, _layer_error(digest, image)))
            continue
        layer = next((layer for layer in image.layers if layer.digest == digest), None)
        try:
            results.append((digest, _index_one(layer, digest, hash_files, out, toc_only, keep_layers)))
        finally:
            if layer is not None and not keep_layers:
                layer.release_blob()
    return results


def _index_task(work: tuple[list[tuple[str, str]], dict[str, str]], **options) -> list[tuple[str, dict]]:
    """One Dask task of a scan: (pairs, pins) for :func:`index_layers`."""
    pairs, pins = work
    return index_layers(pairs, pins=pins, **options)


def _pinned(spec: str, digest: str | None, registry: RegistryOptions | None):
    """The source of ``spec``, a registry reference pinned to ``digest`` when one is given."""
    from ..opener import open_source
    from ..sources.registry import RegistrySource

    source = open_source(spec, registry=registry)
    if digest and isinstance(source, RegistrySource) and not source.reference.digest:
        return RegistrySource(source.reference.with_digest(digest), registry=registry, client=source.client)
    return source


def _layer_error(digest: str, exc: BaseException) -> dict:
    return {
        "errors": pd.DataFrame(
            [{"key": digest, "stage": "files", "error": type(exc).__name__, "message": str(exc)[:500]}]
        )
    }


def _index_one(
    layer, digest: str, hash_files: bool, out: str | None, toc_only: bool, keep_layers: bool = True
) -> dict:
    from ..errors import ImgExploreError, NotInImageError

    try:
        if layer is None:
            raise NotInImageError(f"layer {digest} is no longer in the image")
        listing, chunks = _toc_listing(layer) if toc_only else (None, None)
        if listing is None:
            from ..filetree.arrowtable import layer_arrow

            listing = layer_arrow(layer, hash_files=hash_files, cache=keep_layers)
    except ImgExploreError as exc:
        return _layer_error(digest, exc)
    from ..filetree.arrowtable import origin

    diff_id, tar_size = origin(listing)
    result = {
        "diff_id": diff_id,
        "tar_size": tar_size,
        "files": _corpus_files(listing, digest, diff_id, hash_files),
    }
    if chunks is not None:
        result["chunks"] = chunks
    if out is not None:
        _store_layer(out, digest, result)
        return {"stored": result["files"].num_rows}
    return result


def _toc_listing(layer):
    """:func:`_toc_table` as an Arrow table (the lazy readers build DataFrames)."""
    import pyarrow as pa

    table, chunks = _toc_table(layer)
    if table is None:
        return None, None
    listing = pa.Table.from_pandas(table, preserve_index=False)
    meta = {b"diff_id": (layer.diff_id or "").encode(), b"tar_size": b"-1"}
    return listing.replace_schema_metadata(meta), chunks


def _corpus_files(listing, digest: str, diff_id: str, hash_files: bool):
    """A layer's entries as the files table keeps them (whiteouts and opaque markers left
    out), in Arrow: the worker never builds a DataFrame of a layer's files."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kept = listing.filter(pc.and_(pc.is_null(listing["whiteout"]), pc.invert(listing["opaque"])))
    columns = ["path", "type", "size"] + (["sha256"] if hash_files else [])
    arrays = {
        "digest": pa.repeat(pa.scalar(digest, pa.string()), kept.num_rows),
        "diff_id": pa.repeat(pa.scalar(diff_id, pa.string()), kept.num_rows),
    }
    for name in columns:
        column = kept[name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        arrays[name] = column
    return pa.table(arrays)


def _store_layer(out: str, digest: str, result: dict) -> None:
    # not fsynced: the files part is checked for completeness when a scan resumes
    import pyarrow as pa

    key = _layer_key(digest)
    sizes = pa.table(  # Arrow, not a DataFrame: a one-row DataFrame costs more than the write
        {
            "digest": pa.array([digest], pa.string()),
            "diff_id": pa.array([result["diff_id"]], pa.string()),
            "tar_size": pa.array([result["tar_size"]], pa.int64()),
        }
    )
    _write_part(out, "layer_sizes", key, sizes, durable=False)
    if "chunks" in result:
        _write_part(out, "chunks", key, result["chunks"], durable=False)
    # last: a complete files part marks the layer done
    _write_part(out, "files", key, result["files"], durable=False)


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class ScanReport:
    """What one run of :func:`scan` did."""

    images_done: int = 0
    images_skipped: int = 0
    layers_indexed: int = 0
    layers_skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


def _client(client, scheduler: str | None, workers: int | None):
    if client is not None:
        return client, False
    from distributed import Client

    if scheduler:
        return Client(scheduler), True
    # a worker's heartbeat can race the scheduler's shutdown and log a traceback; task errors
    # come back through their futures, so the logs are kept quiet
    return Client(local_cluster(workers, silence_logs=logging.CRITICAL)), True


def local_cluster(workers: int | None = None, **options):
    """A Dask LocalCluster of ``workers`` single-threaded processes on 127.0.0.1, set up for
    scans: what :func:`scan` starts when given no client (``options`` go to LocalCluster).

    Its workers start without ``MALLOC_TRIM_THRESHOLD_``, which distributed sets by default:
    any value turns off glibc's adaptive mmap threshold, so every 1 MiB read buffer becomes a
    fresh mmap and a big layer lists 2–3× slower in a worker than in a plain process. Start
    workers of your own (``dask worker``) with it unset for the same reason. They start with
    the heap settings of :mod:`imgexplore.heap` instead (``MALLOC_TOP_PAD_``,
    ``MALLOC_MMAP_THRESHOLD_``), which keep room at the top of the heap for those buffers:
    every worker of a scan is a fresh process, whose first big layer would otherwise cost
    ~0.4 s more.

    Its workers import what a scan's tasks use as they start (:mod:`imgexplore.corpus.preload`),
    so the first tasks do not pay for the imports on the scan's clock.

    Its scheduler gives a worker a task only when the worker is free (worker saturation
    1.0; Dask's default, 1.1, rounds up to two tasks per single-threaded worker): a layer
    task can take seconds, and one queued behind a big layer on a busy worker would wait
    while the other worker sits idle."""
    import dask
    from distributed import LocalCluster

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    environ.update(heap_environment())
    settings = {
        "n_workers": workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        "host": "127.0.0.1",
        **options,
    }
    preload = settings.get("preload") or []
    settings["preload"] = [*([preload] if isinstance(preload, str) else preload), WORKER_PRELOAD]
    # the nannies copy these into this process's own environment before they spawn; it is
    # put back as it was, so that programs started from here later do not inherit them
    before = {name: os.environ.get(name) for name in environ}
    try:
        with dask.config.set(
            {"distributed.nanny.pre-spawn-environ": environ, "distributed.scheduler.worker-saturation": 1.0}
        ):
            return LocalCluster(**settings)
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def scan(
    specs: Iterable[str] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    files: bool = False,
    hash_files: bool = False,
    platform: str | None = None,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    workers_write: bool | None = None,
    registry: RegistryOptions | None = None,
    toc_only: bool = False,
    keep_layers: bool = True,
) -> ScanReport:
    """Scan images into the dataset at ``out`` (see the module docstring). A Dask ``client``
    may be given; else ``scheduler`` (an address) is used, else a LocalCluster of
    ``workers`` processes is started and stopped here.

    File tables can hold millions of rows: with ``workers_write`` the workers write them
    into ``out`` themselves instead of sending them to this process. That needs ``out`` to
    be visible to every worker: the default is True for the local cluster started here,
    False for a given ``client`` or ``scheduler`` (pass True when they share a filesystem).

    ``registry`` (a :class:`~imgexplore.RegistryOptions`) travels to every worker. With
    ``toc_only``, lazy layers (eStargz, zstd:chunked, SOCI) are indexed from their TOCs alone.

    Every layer blob a file index downloads is kept in the local cache, as for any image
    opened from a registry: a whole registry's worth of disk. With ``keep_layers`` False each
    one is removed once listed (blobs that were in the cache before stay), and no file table
    is cached; the dataset holds what the scan found either way."""
    out = os.fspath(out)
    if workers_write is None:
        workers_write = client is None and not scheduler
    with _dataset_lock(out):  # one scan of a dataset at a time
        started = time.perf_counter()
        _remove_partials(out)
        for table in TABLES:
            os.makedirs(os.path.join(out, table), exist_ok=True)
        specs = read_specs(specs)
        report = ScanReport()
        done = set(read_table(out, "images").get("spec", pd.Series(dtype=object)))
        earlier = any(name.endswith(".parquet") for name in os.listdir(os.path.join(out, "image_layers")))
        todo = [s for s in specs if s not in done]
        report.images_skipped = len(specs) - len(todo)
        dask_client, owned = _client(client, scheduler, workers)
        dispatcher = Dispatcher(dask_client)
        bar = progress_bar(len(todo), "scanning images", enabled=progress, unit="image")
        batches = [todo[i : i + IMAGES_PER_TASK] for i in range(0, len(todo), IMAGES_PER_TASK)]
        try:
            for batch in batches:
                dispatcher.submit(
                    images_metadata,
                    batch,
                    key=f"meta-{_key(chr(10).join(batch))}",
                    priority=METADATA_PRIORITY,
                    tag=_METADATA,
                    finds=UNKNOWN_SIZE_PRIORITY,  # the highest a layer's can be
                    platform=platform,
                    registry=registry,
                )
            options = {
                "hash_files": hash_files,
                "platform": platform,
                "registry": registry,
                "toc_only": toc_only,
                "keep_layers": keep_layers,
            }
            indexer = (
                _LayerIndexer(out, dispatcher, options, workers_write, report, earlier=earlier)
                if files
                else None
            )
            _collect(dispatcher, _PendingImages(out, report), indexer, bar, progress, len(batches))
        finally:
            dispatcher.cancel()
            if owned:
                cluster = getattr(dask_client, "cluster", None)
                dask_client.close()
                if cluster is not None:
                    cluster.close()
        report.seconds = time.perf_counter() - started
        return report


def _collect(
    dispatcher: Dispatcher, pending: _PendingImages, indexer, bar, progress, metadata_tasks: int
) -> None:
    """Record every task's result as it finishes: images a batch at a time (each batch's new
    layers queued for indexing at once, while the metadata of the rest still comes in), and
    each layer's file table. Once the last image is in, the layers of images an earlier run
    scanned are queued too."""
    layers_bar = None

    def metadata_done() -> None:
        nonlocal layers_bar
        pending.flush()
        bar.close()
        if indexer is not None:
            indexer.add_earlier()
            layers_bar = progress_bar(indexer.submitted, "indexing layers", enabled=progress, unit="layer")
            layers_bar.update(indexer.recorded)

    try:
        if not metadata_tasks:
            metadata_done()
        for tag, results in dispatcher.results():
            if tag is _METADATA:
                if indexer is not None:
                    indexer.add(results)
                dispatcher.fill()  # a free worker starts on them while the rows are written
                for spec, result in results:
                    pending.add(spec, result)
                bar.update(len(results))
                metadata_tasks -= 1
                if not metadata_tasks:
                    metadata_done()
            else:
                indexer.record(results)
                if layers_bar is not None:
                    layers_bar.update(len(results))
    finally:
        pending.flush()  # what finished is kept, even if the scan is interrupted
    if layers_bar is not None:
        layers_bar.close()


WORKER_PRELOAD = "imgexplore.corpus.preload"  # imported by each worker of local_cluster as it starts
IMAGES_PER_TASK = 8  # images a worker fetches per task
METADATA_PRIORITY = 100  # above every layer's (see _priority): every image's layers are known early
_METADATA, _LAYERS = "metadata", "layers"  # task tags
IMAGES_PER_PART = 200  # images whose rows go into one part of each table, at most
SECONDS_PER_PART = 1.0  # and at most this long: an interrupted scan keeps what it finished


class _PendingImages:
    """Rows of finished images, written a batch at a time: one part of each table per
    ``IMAGES_PER_PART`` images or ``SECONDS_PER_PART`` (four small Parquet files per image
    cost more than fetching it). The images part is written last: a spec in the images table
    is done."""

    def __init__(self, out: str, report: ScanReport):
        self.out, self.report = out, report
        self.since = time.monotonic()
        self.specs: list[str] = []
        self.rows: dict[str, list[dict]] = {
            table: [] for table in ("images", "layers", "image_layers", "history")
        }

    def add(self, spec: str, result: dict) -> None:
        key = _key(spec)
        if "errors" in result:
            _write_part(self.out, "errors", key, _frame("errors", result["errors"]))
            self.report.errors += 1
            self.report.failed.append(spec)
            return
        self.specs.append(spec)
        for table, rows in result.items():
            self.rows[table].extend(rows)
        if len(self.specs) >= IMAGES_PER_PART or time.monotonic() - self.since >= SECONDS_PER_PART:
            self.flush()

    def flush(self) -> None:
        self.since = time.monotonic()
        if not self.specs:
            return
        key = _key("\n".join(self.specs))
        for table in ("layers", "image_layers", "history", "images"):  # images last
            frame = _frame(table, self.rows[table])
            if table == "layers":
                frame = frame.drop_duplicates("digest")
            _write_part(self.out, table, key, frame)
        for spec in self.specs:
            error = _part(self.out, "errors", _key(spec))
            if os.path.exists(error):
                os.unlink(error)  # an earlier failure, now retried successfully
        self.report.images_done += len(self.specs)
        self.specs = []
        self.rows = {table: [] for table in self.rows}


class _LayerIndexer:
    """File indexing, each unique layer once: layers are queued as the metadata of their
    images arrives (big ones first, small ones a few to a task), so a scan's big layers start
    while the metadata of the rest is still being fetched; :meth:`add_earlier` queues the
    layers of images done by an earlier run, :meth:`record` keeps each result."""

    def __init__(
        self,
        out: str,
        dispatcher: Dispatcher,
        options: dict,
        workers_write: bool,
        report: ScanReport,
        *,
        earlier: bool = True,
    ):
        """``earlier``: whether the dataset held image rows before this run began (a fresh
        dataset's are all this run's, queued as their metadata comes: nothing to read back)."""
        self.out, self.dispatcher, self.report = out, dispatcher, report
        self.earlier = earlier
        self.options = {**options, "out": out if workers_write else None}
        self.handled: set[str] = set()  # layer digests submitted or found done in this run
        self.submitted = 0  # layers in the tasks submitted
        self.recorded = 0  # layers whose results are recorded

    def add(self, results: list[tuple[str, dict]]) -> None:
        """Queue the layers of finished images that no earlier image brought."""
        pairs, sizes, pins = [], {}, {}
        for spec, result in results:
            if "errors" in result:
                continue
            sizes.update((row["digest"], row["size"]) for row in result["layers"])
            for row in result["image_layers"]:
                pins[spec] = row["image_digest"]
                pairs.append((spec, row["digest"]))
        self._submit(pairs, sizes, pins)

    def add_earlier(self) -> None:
        """Queue the layers of images an earlier run scanned (those not indexed yet)."""
        if not self.earlier:  # every image is this run's, and its layers are queued already
            return
        uses = read_table(self.out, "image_layers")
        if uses.empty:
            return
        layers = read_table(self.out, "layers")
        sizes = dict(zip(layers["digest"], layers["size"], strict=True)) if len(layers) else {}
        pins = dict(zip(uses["spec"], uses["image_digest"], strict=True))
        first_use = uses.drop_duplicates("digest")
        self._submit(list(zip(first_use["spec"], first_use["digest"], strict=True)), sizes, pins)

    def record(self, results: list[tuple[str, dict]]) -> None:
        """Keep one task's results: each layer's file table (unless its worker wrote it) or error."""
        for digest, result in results:
            if "errors" in result:
                _write_part(self.out, "errors", f"layer-{_layer_key(digest)}", result["errors"])
                self.report.errors += 1
                self.report.failed.append(digest)
            else:
                if "stored" not in result:
                    _store_layer(self.out, digest, result)
                self.report.layers_indexed += 1
        self.recorded += len(results)

    def _submit(self, pairs: list[tuple[str, str]], sizes: dict, pins: dict[str, str]) -> None:
        todo = []
        for spec, digest in pairs:
            if digest in self.handled:
                continue
            self.handled.add(digest)
            if _part_complete(_part(self.out, "files", _layer_key(digest))):
                self.report.layers_skipped += 1
            else:
                todo.append((spec, digest))
        self.submitted += len(todo)
        # the biggest first, so that a big layer whose image came late still starts before
        # the small ones queued earlier (a scan takes at least as long as its biggest layer)
        for task in _layer_tasks(todo, sizes):
            self.dispatcher.submit(
                _index_task,
                (task, {spec: pins[spec] for spec, _ in task}),
                key=f"files-{_key(chr(10).join(digest for _, digest in task))}",
                priority=_priority(task, sizes),
                tag=_LAYERS,
                **self.options,
            )


UNKNOWN_SIZE_PRIORITY = 64  # a layer task of unknown size: above any known size's (bytes' bit length)
SMALL_LAYER = 4 << 20  # layers under this many compressed bytes are indexed several per task
SMALL_PER_TASK = 8


def _layer_tasks(todo: list[tuple[str, str]], sizes: dict) -> list[list[tuple[str, str]]]:
    """(image spec, layer digest) pairs per task: small layers several to a task (each costs
    less to list than a task costs to schedule; an image's together, so it is opened once),
    every big layer on its own, the biggest first (an unknown size counts as big)."""
    big = [[pair] for pair in todo if not 0 <= sizes.get(pair[1], -1) < SMALL_LAYER]
    big.sort(key=lambda task: _task_bytes(task, sizes), reverse=True)
    small = sorted((pair for pair in todo if 0 <= sizes.get(pair[1], -1) < SMALL_LAYER), key=lambda p: p[0])
    return big + [small[i : i + SMALL_PER_TASK] for i in range(0, len(small), SMALL_PER_TASK)]


def _task_bytes(task: list[tuple[str, str]], sizes: dict) -> float:
    """The compressed bytes a task lists; a layer of unknown size counts as endless."""
    return sum(sizes[digest] if sizes.get(digest, -1) >= 0 else float("inf") for _, digest in task)


def _priority(task: list[tuple[str, str]], sizes: dict) -> int:
    """The task's place in the scan's queue: one step per doubling of its bytes (higher runs first)."""
    size = _task_bytes(task, sizes)
    return UNKNOWN_SIZE_PRIORITY if size == float("inf") else int(size).bit_length()


def read_table(out: str | os.PathLike, table: str) -> pd.DataFrame:
    """One table of a scan's dataset (an empty DataFrame if nothing was written)."""
    folder = os.path.join(os.fspath(out), table)
    parts = sorted(p for p in os.listdir(folder) if p.endswith(".parquet")) if os.path.isdir(folder) else []
    if not parts:
        return pd.DataFrame()
    frames = [pd.read_parquet(os.path.join(folder, p)) for p in parts]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
