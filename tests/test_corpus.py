"""Corpus mode against the real local registry, filled with a generated corpus: 210 images on
three shared bases, 20 extra tags naming existing manifests. Expectations (reference
counts, the duplicate-file ratio) are computed here from the generator's own data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from corpusgen import BASES, EXTRA_TAGS, IMAGES, push_corpus

from imgexplore.corpus import file_duplication, layer_sharing, load, scan
from imgexplore.corpus.scan import read_table

ROOT = __import__("conftest").ROOT


@pytest.fixture(scope="module")
def corpus(registry, tmp_path_factory):
    """Push the generated corpus; return (specs, bases, images)."""
    os.environ.setdefault("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
    return push_corpus(registry.host)


def test_scan_sharing_and_duplication(corpus, tmp_path, isolated_cache):
    specs, bases, images = corpus
    broken = [specs[0].rsplit(":", 1)[0] + ":missing", "127.0.0.1:1/nothing:here"]
    report = scan(specs + broken, tmp_path / "ds", files=True, hash_files=True, workers=2, progress=False)
    assert report.images_done == IMAGES + EXTRA_TAGS and report.errors == 2
    tables = load(tmp_path / "ds")
    assert tables["images"]["digest"].nunique() == IMAGES  # the alias tags name the same manifests
    assert sorted(tables["errors"]["key"]) == sorted(broken)

    sharing = layer_sharing(tables).set_index("digest")
    per_base = [sum(1 for b, _ in images if b == base) for base in range(BASES)]
    base_counts = sorted(sharing["images"][sharing["images"] > 1].tolist())
    assert base_counts == sorted(per_base * 2)  # both base layers of each base, once per image
    assert (sharing["images"] == 1).sum() == IMAGES  # every top layer is its own

    # duplicate files, computed from the generator: all regular files of the unique layers
    unique_layers = [f for base in bases for f in base] + [top for _, top in images]
    contents = [data for files in unique_layers for data in files.values()]
    expected = len(set(contents)) / len(contents)
    dup = file_duplication(tables)
    assert dup["files"] == len(contents)
    assert dup["unique_ratio"] == pytest.approx(expected)
    assert dup["bytes_saved_by_file_dedup"] == sum(map(len, contents)) - sum(map(len, set(contents)))


def test_resume_after_kill(corpus, tmp_path, isolated_cache):
    """Kill the CLI halfway, run it again: the same final tables, and nothing done twice."""
    specs, _, _ = corpus
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(specs[:IMAGES]) + "\n")
    out = tmp_path / "ds"
    env = {**os.environ, "IMGEXPLORE_CACHE": str(isolated_cache)}
    command = [
        sys.executable,
        "-m",
        "imgexplore",
        "corpus",
        "scan",
        str(listing),
        "--out",
        str(out),
        "--workers",
        "1",
        "--quiet",
    ]
    first = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    # a part per batch of images finished, at most a second apart: killed as soon as the first
    # is there, the scan has a second's work left to lose (waiting for two parts let a fast
    # scan finish all 210 images first)
    parts = out / "images"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not parts.exists() or not list(parts.glob("*.parquet"))):
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = len(read_table(out, "images"))
    assert 0 < done_before < IMAGES
    # A kill mid-write may leave a hidden temporary file, never a visible half-written part.
    for part in out.rglob("*.parquet"):
        pd.read_parquet(part)

    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"images: {IMAGES - done_before} scanned, {done_before} already done" in second
    assert not list(out.rglob("*.partial"))  # the rerun cleared what the kill left

    resumed = load(out)
    fresh = tmp_path / "fresh"
    scan(specs[:IMAGES], fresh, workers=2, progress=False)
    clean = load(fresh)
    for table, key in (
        ("images", ["spec"]),
        ("image_layers", ["spec", "position"]),
        ("history", ["spec", "step"]),
    ):
        a = resumed[table].drop(columns=["seconds"], errors="ignore").sort_values(key).reset_index(drop=True)
        b = clean[table].drop(columns=["seconds"], errors="ignore").sort_values(key).reset_index(drop=True)
        assert a.equals(b), table


def test_a_file_part_a_crash_cut_short_is_redone(corpus, tmp_path, isolated_cache):
    """Layer parts are not fsynced: after a crash one may be short or zero-filled. The next
    scan sees that its Parquet footer is missing and indexes that layer again; the others are
    skipped."""
    specs, _, _ = corpus
    out = tmp_path / "ds"
    scan(specs[:6], out, files=True, hash_files=True, workers=1, progress=False)
    before = load(out)["files"].sort_values(["digest", "path"]).reset_index(drop=True)
    parts = sorted((out / "files").glob("*.parquet"))
    assert (
        len(parts) == before["digest"].nunique() == 6 + 3 * 2
    )  # six top layers, two for each of three bases
    short, zeroed = parts[0], parts[1]
    short.write_bytes(short.read_bytes()[:-9])
    zeroed.write_bytes(bytes(zeroed.stat().st_size))
    report = scan(specs[:6], out, files=True, hash_files=True, workers=1, progress=False)
    assert (report.layers_indexed, report.layers_skipped) == (2, len(parts) - 2)
    after = load(out)["files"].sort_values(["digest", "path"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert set(before.columns) == {"digest", "diff_id", "path", "type", "size", "sha256"}
    assert before["sha256"].str.fullmatch("[0-9a-f]{64}").all()


def test_a_scan_that_keeps_no_layers_leaves_only_the_blobs_cached_before(corpus, tmp_path, isolated_cache):
    """With keep_layers=False a file index removes each layer blob it downloaded once that
    layer is listed and caches no file table; a blob that was in the cache before the scan
    stays. The dataset holds the same files as a scan that keeps everything (which does)."""
    import imgexplore
    from imgexplore.blobstore import BlobStore

    specs, _, _ = corpus
    chosen = specs[:6]
    before = imgexplore.open_image(chosen[0])
    cached_before = before.layers[-1].digest
    before.source.ensure_blob(cached_before)

    report = scan(
        chosen, tmp_path / "lean", files=True, hash_files=True, workers=1, progress=False, keep_layers=False
    )
    assert (report.layers_indexed, report.errors) == (6 + 3 * 2, 0)
    lean = load(tmp_path / "lean")
    digests = set(lean["layers"]["digest"])
    assert len(digests) == 12 and cached_before in digests
    blobs = BlobStore()
    assert {digest for digest in digests if blobs.has(digest)} == {cached_before}
    assert not list((isolated_cache / "filetree").glob("*.arrow"))

    scan(chosen, tmp_path / "full", files=True, hash_files=True, workers=1, progress=False)
    assert all(blobs.has(digest) for digest in digests)
    assert len(list((isolated_cache / "filetree").glob("*.arrow"))) == 12
    columns = ["digest", "path", "size", "sha256"]
    in_order = [
        load(tmp_path / name)["files"][columns].sort_values(columns).reset_index(drop=True)
        for name in ("lean", "full")
    ]
    pd.testing.assert_frame_equal(*in_order)


def test_layers_are_indexed_from_the_manifest_the_metadata_came_from(registry, tmp_path, isolated_cache):
    """Between the metadata pass and the file indexing (or between a scan and its rerun) a tag
    can move: the layers indexed are still the ones the image's rows name."""
    specs, _, _ = push_corpus(registry.host, images_count=1, extra_tags=0, repository="corpus/moving")
    out = tmp_path / "ds"
    scan(specs, out, workers=1, progress=False)  # metadata only
    recorded = set(read_table(out, "image_layers")["digest"])
    push_corpus(registry.host, images_count=1, extra_tags=0, repository="corpus/moving", payload=1000)
    report = scan(specs, out, files=True, hash_files=True, workers=1, progress=False)
    assert (report.images_skipped, report.layers_indexed, report.errors) == (1, 3, 0)
    files = load(out)["files"]
    assert set(files["digest"]) == recorded
    assert "app/unique-0.txt" in set(files["path"]) and "app/payload.bin" not in set(files["path"])


def test_explicit_distributed_scheduler(corpus, tmp_path, isolated_cache):
    """The same scan through a dask scheduler and two worker processes started by hand, as a
    user with a cluster would (here all on 127.0.0.1)."""
    from distributed import Client
    from registry_server import free_port

    specs, _, _ = corpus
    port = free_port()
    env = {**os.environ, "IMGEXPLORE_CACHE": str(isolated_cache)}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen(
        [*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            f"tcp://127.0.0.1:{port}",
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--dashboard-address",
            ":0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            report = scan(specs[:60], tmp_path / "ds", files=True, client=client, progress=False)
            workers = list(client.scheduler_info()["workers"])
        assert len(workers) == 2
        assert report.images_done == 60 and report.errors == 0
        tables = load(tmp_path / "ds")
        assert len(tables["images"]) == 60 and not tables["files"].empty
    finally:
        worker.terminate()
        scheduler.terminate()
        worker.wait(30)
        scheduler.wait(30)


def test_one_scan_per_dataset_and_leftovers_cleared(data_dir, tmp_path, isolated_cache):
    """A second scan of a dataset being written is refused with the library's error; a temporary
    file left by a killed scan is removed by the next one and never read as a part."""
    from distributed import Client

    from imgexplore.corpus.scan import _dataset_lock
    from imgexplore.errors import CorpusError

    out = tmp_path / "ds"
    spec = str(data_dir / "teaching" / "oci")
    with _dataset_lock(str(out)), pytest.raises(CorpusError, match="another scan is writing"):
        scan([spec], out, progress=False)

    leftover = out / "images" / ".part-0123.parquet.abcd.partial"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"PAR1 half a part")
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        report = scan([spec], out, client=client, progress=False)
    assert report.images_done == 1 and report.errors == 0
    assert not leftover.exists()
    assert load(out)["images"]["spec"].tolist() == [spec]


def test_walking_a_registry_skips_a_repository_without_tags(registry, corpus, isolated_cache):
    """A repository can hold blobs and no tagged manifest (an interrupted push, every tag
    deleted): the catalog names it, its tag list is 404 NAME_UNKNOWN. It has no image, and
    the walk goes on (it used to end the whole scan with that 404)."""
    import hashlib
    import io

    from imgexplore.corpus import registry_specs
    from imgexplore.registry import RegistryClient

    data = b"a blob no manifest names\n"
    with RegistryClient(registry.host) as client:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.upload_blob("corpus-walk/blobs-only", digest, io.BytesIO(data), len(data))
        assert "corpus-walk/blobs-only" in client.list_repositories()
    specs = registry_specs(registry.host)
    assert not [spec for spec in specs if "/corpus-walk/blobs-only:" in spec]
    assert set(corpus[0]) <= set(specs)


def test_local_workers_have_room_at_the_top_of_their_heap():
    """distributed starts workers with MALLOC_TRIM_THRESHOLD_ set, which pins glibc's mmap
    threshold: every 1 MiB read buffer became a fresh mmap and a big layer listed ~2-3x slower
    in a worker than in a plain process. The corpus's own cluster leaves it unset, and pads
    the heap's top instead (imgexplore.heap): a fresh worker's first big layer no longer pays
    for a heap grown and trimmed again and again."""
    import os

    from imgexplore.corpus.scan import _client
    from imgexplore.heap import HEAP_TOP_PAD, MMAP_THRESHOLD, glibc, user_tuned

    before = dict(os.environ)
    client, owned = _client(None, None, 1)
    try:
        assert owned
        assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
        # and this process's environment is as it was (the nannies copy theirs into it)
        assert not any(name.startswith("MALLOC_") for name in set(os.environ) - set(before))
        tuned = glibc() and not user_tuned()
        settings = client.run(
            lambda: (os.environ.get("MALLOC_TOP_PAD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_"))
        )
        expected = (str(HEAP_TOP_PAD), str(MMAP_THRESHOLD)) if tuned else (None, None)
        assert set(settings.values()) == {expected}
        # one task per worker at a time: none waits on a busy worker while another is free
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.WORKER_SATURATION) == 1.0
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


_TASK_PATH_CHECK = """
import json, os, sys
import imgexplore.corpus.preload
from imgexplore.corpus.scan import images_metadata, index_layers
before = set(sys.modules)
spec, out = sys.argv[1], sys.argv[2]
((_, metadata),) = images_metadata([spec])
pins = {spec: metadata["images"][0]["digest"]}
for row in metadata["layers"]:
    index_layers([(spec, row["digest"])], hash_files=True, out=out, pins=pins)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_workers_preload_imports_what_its_tasks_use(corpus, tmp_path, isolated_cache):
    """Every worker of a scan's local cluster imports imgexplore.corpus.preload as it starts;
    a scan's tasks (an image's metadata, its layers listed with content hashes and written
    into the dataset) then import nothing heavy of their own: those imports used to land on
    the scan's clock, ~0.1-0.2 s per worker. Checked in a fresh process, as a worker is."""
    import json

    from imgexplore.corpus.scan import TABLES, _client

    specs, _, _ = corpus
    out = tmp_path / "ds"
    for table in TABLES:
        (out / table).mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", _TASK_PATH_CHECK, specs[0], str(out)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    heavy = ("imgexplore", "httpx", "httpcore", "h11", "pyarrow", "pandas", "numpy", "isal")
    assert [name for name in imported if name.split(".")[0] in heavy] == []
    assert len(list((out / "files").glob("part-*.parquet"))) == 3  # the image's three layers were listed

    client, owned = _client(None, None, 1)
    try:
        loaded = client.run(lambda: "imgexplore.corpus.preload" in sys.modules and "httpx" in sys.modules)
        assert set(loaded.values()) == {True}  # before any task ran
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def test_layer_tasks_put_the_biggest_first_and_batch_small_layers_per_image():
    """A scan lasts at least as long as its biggest layer, so big layers go first (unknown
    sizes counted as biggest) and carry a higher priority in the scan's queue, one step per
    doubling; small layers go eight to a task, an image's together."""
    from imgexplore.corpus.scan import SMALL_LAYER, _layer_tasks, _priority

    MB = 1 << 20
    sizes = {"big64": 64 * MB, "big300": 300 * MB, "big5": 5 * MB, "unknown": -1}
    sizes.update({f"s{i}": 1000 + i for i in range(10)})
    todo = [("img1", "big64"), ("img2", "s0"), ("img2", "big300"), ("img3", "unknown"), ("img4", "big5")]
    todo += [(f"img{5 + i % 2}", f"s{i}") for i in range(1, 10)]
    tasks = _layer_tasks(todo, sizes)
    assert [task[0][1] for task in tasks[:4]] == ["unknown", "big300", "big64", "big5"]
    assert all(len(task) == 1 for task in tasks[:4])
    small = tasks[4:]
    assert [len(task) for task in small] == [8, 2]
    # by image (a stable sort), so each image is opened once per task
    assert [digest for task in small for _, digest in task] == [
        "s0",
        "s2",
        "s4",
        "s6",
        "s8",
        "s1",
        "s3",
        "s5",
        "s7",
        "s9",
    ]
    assert all(sizes[digest] < SMALL_LAYER for task in small for _, digest in task)
    priorities = [_priority(task, sizes) for task in tasks]
    assert priorities == [
        64,
        29,
        27,
        23,
        13,
        11,
    ]  # bit lengths of 300 MiB, 64 MiB, 5 MiB, 8,029 and 2,016 bytes


_STARTED: list[str] = []  # the dispatcher test's tasks, in the order they started


def _note_start(name: str) -> str:
    _STARTED.append(name)
    time.sleep(0.05)
    if name == "broken":
        raise ValueError("this task fails")
    return name.upper()


def test_the_dispatcher_runs_the_most_urgent_task_a_free_worker_can_take():
    """At most one task per worker thread is handed to Dask, the rest wait in the scan's own
    queue: a task found while others wait (a big layer whose image came late) runs before
    them, whatever their order of submission. A task whose result can bring none frees its
    thread for the next one at once. A threaded cluster, so that the tasks can log where
    they started; the dispatcher sees worker threads as it would processes."""
    from distributed import Client, LocalCluster

    from imgexplore.corpus.dispatch import Dispatcher

    log = _STARTED
    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        dispatcher = Dispatcher(client)
        for finds, late_goes in [(8, 2), (None, 3)]:
            log.clear()
            for name, priority in [("p1", 1), ("p5", 5), ("p3", 3), ("p9", 9), ("p2", 2), ("p7", 7)]:
                dispatcher.submit(
                    _note_start, name, key=f"{name}-{finds}", priority=priority, tag=name, finds=finds
                )
            results = []
            for tag, result in dispatcher.results():
                results.append((tag, result))
                if len(results) == 1:  # found while four wait
                    dispatcher.submit(_note_start, "late", key=f"late-{finds}", priority=8, tag="late")
            assert set(log[:2]) == {"p9", "p7"}
            waiting = ["p5", "p3", "p2", "p1"]
            # first, or (when the finished task said it finds none) after the task already handed out
            assert log[2:] == waiting[: late_goes - 2] + ["late"] + waiting[late_goes - 2 :]
            assert sorted(results) == sorted((name, name.upper()) for name in log)

        dispatcher.submit(_note_start, "broken", key="broken", priority=0, tag="broken")
        with pytest.raises(ValueError, match="this task fails"):
            list(dispatcher.results())
        dispatcher.cancel()
        assert dispatcher.pending == 0

        # a scan that stops early: what is queued is dropped, what runs is cancelled
        from distributed import Future

        for n in range(3):
            dispatcher.submit(time.sleep, 1.0, key=f"sleep-{n}", priority=0, tag="sleep")
        dispatcher.fill()  # two handed to the cluster's two threads, one left waiting
        assert dispatcher.pending == 3
        handed = [Future(f"sleep-{n}", client) for n in range(2)]
        dispatcher.cancel()
        assert dispatcher.pending == 0
        deadline = time.monotonic() + 10
        while {future.status for future in handed} != {"cancelled"} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {future.status for future in handed} == {"cancelled"}
