#!/usr/bin/env python3
"""Listing layers: imgexplore against GNU tar, on the same blobs, in the same run.

    python benchmarks/bench_filetree.py            # full: 20,000 small files and a >=150 MB layer
    python benchmarks/bench_filetree.py --quick    # CI-sized: the same cases, smaller

Cases
  small-files  a gzip layer of 20,000 small files (GNU tar lists ~135k-200k entries/s here)
  big-layer    a gzip layer of real files (this Python installation's site-packages)

imgexplore is timed in-process, from the function call to the finished DataFrame (with and
without per-file content hashes); GNU tar as ``tar -tvzf BLOB > /dev/null``.

Then the whole command as a user runs it: ``imgexplore tree LAYOUT --layer all --format csv``
(and ``json``; and csv again with the file table cached) against ``tar -tvzf BLOB``, on one
layer of 202,000 small files (20,200 with --quick) and on a layer of this Python's standard
library (site-packages left out; the first 20 MB of it with --quick), each a child process,
medians of five runs alternating with tar, peak RSS by GNU time. The in-process figures are
the best of several runs. Peak memory is the peak of Python and numpy allocations
(tracemalloc) in a fresh process while it lists the layer, from the open call to the finished
DataFrame; it is compared across layer sizes and divided by the entry count, as is what the
finished table keeps ("live").
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_small_files(path: str, count: int) -> int:
    rng = random.Random(20000)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        per_dir = 100
        for d in range(count // per_dir):
            info = tarfile.TarInfo(f"usr/share/pkg{d:04d}")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            tar.addfile(info)
            for i in range(per_dir):
                data = (f"line {rng.randrange(10**9)}\n" * rng.randrange(1, 40)).encode()
                info = tarfile.TarInfo(f"usr/share/pkg{d:04d}/file{i:04d}.txt")
                info.size, info.mtime = len(data), 1700000000
                tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(buf.getvalue(), 6, mtime=0))
    return count + count // per_dir


@contextlib.contextmanager
def gzip_tar(path: str):
    """A PAX tar written through gzip (level 6, as ``docker build`` and most tools use)."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        yield tar


def make_big_layer(path: str, min_bytes: int) -> int:
    """A layer of real files: this Python's site-packages, in sorted order, until min_bytes."""
    root = sysconfig.get_paths()["purelib"]
    total = entries = 0
    with gzip_tar(path) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                tar.add(full, arcname=os.path.relpath(full, root), recursive=False)
                total += os.path.getsize(full)
                entries += 1
            if total >= min_bytes:
                break
    return entries


def best_of(runs: int, func) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def time_gnu_tar(blob: str, runs: int) -> float:
    def run():
        with open(os.devnull, "wb") as null:
            subprocess.run(["tar", "-tvzf", blob], stdout=null, check=True)

    return best_of(runs, run)


def time_imgexplore(blob: str, runs: int, hash_files: bool) -> tuple[float, int]:
    from imgexplore.compression import open_decompressed
    from imgexplore.filetree.layertable import tar_table

    rows = 0

    def run():
        nonlocal rows
        with open(blob, "rb") as f:
            stream, _ = open_decompressed(f)
            rows = len(tar_table(stream, hash_files=hash_files))

    return best_of(runs, run), rows


_MEMORY_PROBE = """
import gc, sys, tracemalloc
sys.path.insert(0, {root!r})
from imgexplore.compression import open_decompressed
from imgexplore.filetree.layertable import tar_table
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
with open({blob!r}, "rb") as f:
    stream, _ = open_decompressed(f)
    table = tar_table(stream)
gc.collect()
live, peak = tracemalloc.get_traced_memory()
print(len(table), peak - base, live - base)
"""


def peak_memory(blob: str) -> tuple[int, int, int]:
    """(entries, peak bytes while listing, bytes the finished table keeps)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE.format(root=ROOT, blob=blob)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


def time_cached_reopen(blob: str, cache_dir: str, runs: int) -> float:
    from imgexplore.compression import open_decompressed
    from imgexplore.filetree.arrowtable import TreeCache, arrow_from_listing
    from imgexplore.filetree.layertable import frame_from_arrow
    from imgexplore.filetree.tarlist import list_tar

    store = TreeCache(cache_dir)
    with open(blob, "rb") as f:
        stream, _ = open_decompressed(f)
        listing = list_tar(stream)
    store.put(arrow_from_listing(listing.columns, diff_id=listing.diff_id, tar_size=listing.size))
    return best_of(runs, lambda: frame_from_arrow(store.get(listing.diff_id)))  # as layer_table gives it


def run_child(argv: list[str], env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of a child whose output goes to /dev/null."""
    report = tempfile.NamedTemporaryFile(delete=False)
    report.close()
    timer = ["/usr/bin/time", "-f", "%M", "-o", report.name] if os.path.exists("/usr/bin/time") else []
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run([*timer, *argv], stdout=null, check=True, env=env)
    elapsed = time.perf_counter() - start
    text = open(report.name).read().split()
    os.unlink(report.name)
    return elapsed, (int(text[-1]) * 1024 if text and text[-1].isdigit() else 0)


def make_stdlib_layer(path: str, max_bytes: int | None = None) -> int:
    """A layer like a Python image's biggest: this Python's standard library (its
    site-packages left out), in sorted order, up to ``max_bytes`` of files."""
    root = sysconfig.get_paths()["stdlib"]
    total = entries = 0
    with gzip_tar(path) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == root and d == "site-packages"))
            tar.add(
                dirpath,
                arcname=os.path.join("usr/local/lib/python3", os.path.relpath(dirpath, root)),
                recursive=False,
            )
            entries += 1
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                tar.add(
                    full,
                    arcname=os.path.join("usr/local/lib/python3", os.path.relpath(full, root)),
                    recursive=False,
                )
                total += os.path.getsize(full)
                entries += 1
            if max_bytes is not None and total >= max_bytes:
                break
    return entries


def layout_of(blob: str, layout: str) -> str:
    """An OCI layout holding one image whose one layer is ``blob`` (made once)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from tarmaker import write_layout

    if not os.path.exists(layout):
        with gzip.open(blob) as f:
            write_layout(layout, [f.read()], compress=lambda _: open(blob, "rb").read())
    return layout


def command_case(workdir: str, blob: str, runs: int) -> dict:
    """The installed ``imgexplore tree`` (CSV and JSON with an empty cache, CSV with the file
    table cached) against ``tar -tvzf`` on a layout of one layer, alternating."""
    import shutil
    import statistics

    layout = layout_of(blob, os.path.join(workdir, "layout-" + os.path.basename(blob).split(".")[0]))
    command = os.path.join(os.path.dirname(sys.executable), "imgexplore")
    times: dict[str, list] = {"tar": [], "csv": [], "json": [], "csv cached": []}
    for run in range(runs):
        cache = os.path.join(workdir, f"tree-cache-{run}")
        env = {**os.environ, "IMGEXPLORE_CACHE": cache}
        ours = [
            ("csv", [command, "tree", layout, "--layer", "all", "--format", "csv"]),
            ("csv cached", [command, "tree", layout, "--layer", "all", "--format", "csv"]),
        ]
        order = (
            [("tar", ["tar", "-tvzf", blob])] + ours
            if run % 2 == 0
            else ours + [("tar", ["tar", "-tvzf", blob])]
        )
        for name, argv in order:
            times[name].append(run_child(argv, env))
        shutil.rmtree(cache, ignore_errors=True)
        times["json"].append(run_child([command, "tree", layout, "--layer", "all", "--format", "json"], env))
        shutil.rmtree(cache, ignore_errors=True)
    with gzip.open(blob) as f:
        entries = sum(1 for _ in tarfile.open(fileobj=f, mode="r|"))
    medians = {name: statistics.median(t for t, _ in values) for name, values in times.items()}
    peaks = {name: max(m for _, m in values) for name, values in times.items()}
    return {
        "blob_bytes": os.path.getsize(blob),
        "entries": entries,
        "medians_s": medians,
        "peak_rss_bytes": peaks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small inputs for CI")
    parser.add_argument("--workdir", help="where to keep the generated blobs (default: a temporary folder)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="imgexplore-bench-")
    os.makedirs(workdir, exist_ok=True)
    try:
        run_cases(args, workdir)
    finally:
        if not args.workdir:  # a --workdir is kept: its inputs are reused by the next run
            shutil.rmtree(workdir, ignore_errors=True)


def run_cases(args: argparse.Namespace, workdir: str) -> None:
    small_count = 2_000 if args.quick else 20_000
    big_bytes = (20 if args.quick else 160) * 1024 * 1024
    runs = 3 if args.quick else 5

    cases = {}
    small = os.path.join(workdir, f"small-{small_count}.tar.gz")
    big = os.path.join(workdir, f"big-{big_bytes >> 20}MB.tar.gz")
    if not os.path.exists(small):
        make_small_files(small, small_count)
    if not os.path.exists(big):
        make_big_layer(big, big_bytes)
    cases["small-files"] = small
    cases["big-layer"] = big

    results = []
    for name, blob in cases.items():
        gnu = time_gnu_tar(blob, runs)
        with_hash, rows = time_imgexplore(blob, runs, hash_files=True)
        without_hash, _ = time_imgexplore(blob, runs, hash_files=False)
        entries, peak, live = peak_memory(blob)
        with gzip.open(blob) as f:
            uncompressed = sum(len(c) for c in iter(lambda f=f: f.read(1 << 24), b""))
        results.append(
            {
                "case": name,
                "entries": rows,
                "blob_bytes": os.path.getsize(blob),
                "uncompressed_bytes": uncompressed,
                "gnu_tar_s": round(gnu, 4),
                "imgexplore_s": round(with_hash, 4),
                "imgexplore_nohash_s": round(without_hash, 4),
                "speed_vs_gnu_tar": round(gnu / with_hash, 2),
                "speed_vs_gnu_tar_nohash": round(gnu / without_hash, 2),
                "entries_per_s": int(rows / with_hash),
                "gnu_tar_entries_per_s": int(rows / gnu),
                "peak_rss_growth_bytes": peak,
                "bytes_per_entry": int(peak / max(entries, 1)),
                "live_bytes_per_entry": int(live / max(entries, 1)),
            }
        )
    reopen = time_cached_reopen(small, os.path.join(workdir, "cache"), runs)

    print(
        f"{'case':<12} {'entries':>8} {'uncompr.':>10} {'GNU tar':>9} {'imgexplore':>10} {'no hash':>9} "
        f"{'x GNU tar':>9} {'peak RSS':>10} {'B/entry':>8} {'live B/e':>8}"
    )
    for r in results:
        print(
            f"{r['case']:<12} {r['entries']:>8} {r['uncompressed_bytes'] / 2**20:>8.1f}MB {r['gnu_tar_s']:>8.3f}s "
            f"{r['imgexplore_s']:>9.3f}s {r['imgexplore_nohash_s']:>8.3f}s {r['speed_vs_gnu_tar']:>8.2f}x "
            f"{r['peak_rss_growth_bytes'] / 2**20:>8.1f}MB {r['bytes_per_entry']:>8} {r['live_bytes_per_entry']:>8}"
        )
    print(f"cached re-open of the {results[0]['entries']}-entry table: {reopen * 1000:.1f} ms")
    print("x GNU tar > 1 means imgexplore is faster (GNU tar time / imgexplore time, same blob, same run)")
    count = 20_000 if args.quick else 200_000
    small_blob = os.path.join(workdir, f"small-{count}.tar.gz")
    if not os.path.exists(small_blob):
        make_small_files(small_blob, count)
    stdlib_blob = os.path.join(workdir, "stdlib-quick.tar.gz" if args.quick else "stdlib.tar.gz")
    if not os.path.exists(stdlib_blob):
        make_stdlib_layer(stdlib_blob, 20 * 1024 * 1024 if args.quick else None)
    commands = {"small files": command_case(workdir, small_blob, runs)}
    commands["stdlib"] = command_case(workdir, stdlib_blob, runs)
    targets = {"small files": {"csv": 1.25, "json": 1.5, "csv cached": 0.8}, "stdlib": {"csv": 0.9}}
    for case, command in commands.items():
        tar_s = command["medians_s"]["tar"]
        print(
            f"\nthe installed command, {case}: {command['entries']:,} entries, "
            f"{command['blob_bytes'] / 2**20:.1f} MB gzip, medians of {runs} (ratio: imgexplore / tar -tvzf)"
        )
        for name, seconds in command["medians_s"].items():
            target = targets[case].get(name)
            ratio = (
                ""
                if name == "tar"
                else f"  {seconds / tar_s:5.2f}x" + (f" (target <= {target})" if target else "")
            )
            print(
                f"  {name:<11} {seconds:6.2f} s  peak RSS {command['peak_rss_bytes'][name] / 2**20:6.1f} MB{ratio}"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "results": results,
                    "cached_reopen_s": reopen,
                    "command": commands["small files"],
                    "commands": commands,
                    "quick": args.quick,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
