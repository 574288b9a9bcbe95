#!/usr/bin/env python3
"""Corpus mode: how fast a scan goes, and how it grows with the number of images.

    python benchmarks/bench_corpus.py           # full: 100 and 1,000 images
    python benchmarks/bench_corpus.py --quick   # CI-sized: 50 and 100 images

A real docker-registry on 127.0.0.1 is filled with a generated corpus (three shared bases,
one top layer per image; tests/corpusgen.py). Reported: images/s of a metadata-only scan with
1 and 2 local worker processes, at both corpus sizes (time per image should stay flat: the
scan is linear), and MB/s of file indexing (compressed bytes of the unique layers) with 1
and 2 workers, against the peer: one plain process (no Dask) opening the same images and
listing the same unique layers one after the other into Arrow tables. File indexing is
measured on two corpora: 100 images with a 1 MiB top layer each, and a mixed one whose top
layers run from 1 KB to 300 MB (16 MB in quick mode), in five rounds alternating the 1-worker
scan, the 2-worker scan and the peer (one round in quick mode), medians compared. Each run
starts from an empty cache and an empty dataset."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def timed_scan(specs, work: str, label: str, workers: int, **options) -> tuple[float, object]:
    """Seconds for the scan itself; the local cluster is started before the clock starts
    (the start-up, ~2 s, is a fixed cost; its workers import what a scan's tasks use as they
    start, see imgexplore.corpus.preload, as the peer imports the library before its clock)."""
    from distributed import Client

    from imgexplore.corpus import local_cluster, scan

    cache = os.path.join(work, f"cache-{label}")
    os.environ["IMGEXPLORE_CACHE"] = cache  # inherited by the worker processes started next
    with (
        # as a scan starts it (see local_cluster's note on glibc), its logs as quiet
        local_cluster(workers, silence_logs=logging.CRITICAL) as cluster,
        Client(cluster) as client,
    ):
        start = time.perf_counter()
        report = scan(
            specs,
            os.path.join(work, f"ds-{label}"),
            progress=False,
            client=client,
            workers_write=True,
            **options,
        )
        return time.perf_counter() - start, report


def plain_listing(specs, work: str, label: str) -> float:
    """Seconds for one plain process to open every image and list each unique layer with
    content hashes, in order, from an empty cache: the work a scan with --files spreads."""
    from imgexplore import open_image
    from imgexplore.filetree.arrowtable import layer_arrow

    os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, f"cache-plain-{label}")
    seen: set[str] = set()
    start = time.perf_counter()
    for spec in specs:
        image = open_image(spec)
        for layer in image.layers:
            if layer.digest not in seen:
                seen.add(layer.digest)
                layer_arrow(layer, hash_files=True)
    return time.perf_counter() - start


KB, MB = 1000, 1000 * 1000
# payloads of the mixed corpus's top layers: 1 KB to 300 MB, most of them small, as in a
# real registry (the quick one stops at 16 MB)
MIXED = [1 * KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, 1 * MB, 4 * MB, 16 * MB, 64 * MB, 300 * MB] + [
    2 * KB, 8 * KB, 32 * KB, 128 * KB, 512 * KB, 2 * MB, 3 * KB, 24 * KB, 96 * KB, 384 * KB,
]  # fmt: skip
MIXED_QUICK = [1 * KB, 16 * KB, 256 * KB, 1 * MB, 4 * MB, 16 * MB, 2 * KB, 32 * KB, 512 * KB, 2 * MB]


def indexing_case(specs, work: str, label: str, rounds: int) -> dict:
    """A metadata scan with file indexing (content hashes) of ``specs`` with 1 and 2
    workers, and the peer (one plain process listing the same layers) on the same images:
    ``rounds`` rounds alternating the three, each run from an empty cache and dataset;
    medians compared."""
    from imgexplore.corpus import load

    times: dict[str, list[float]] = {"1": [], "2": [], "plain": []}
    layers = {}
    for round_ in range(rounds):
        for workers in (1, 2):
            name = f"{label}-{workers}-{round_}"
            os.sync()  # the previous run's cache pages are written before this one starts
            seconds, report = timed_scan(specs, work, name, workers=workers, files=True, hash_files=True)
            times[str(workers)].append(seconds)
            layers[workers] = report.layers_indexed
            if round_ == 0 and workers == 1:
                tables = load(os.path.join(work, f"ds-{name}"))
                compressed = int(tables["layers"]["size"].clip(lower=0).sum())
            shutil.rmtree(os.path.join(work, f"ds-{name}"), ignore_errors=True)
            shutil.rmtree(os.path.join(work, f"cache-{name}"), ignore_errors=True)
        os.sync()
        times["plain"].append(plain_listing(specs, work, f"{label}-{round_}"))
        shutil.rmtree(os.path.join(work, f"cache-plain-{label}-{round_}"), ignore_errors=True)

    def row(seconds: list[float]) -> dict:
        median = statistics.median(seconds)
        return {
            "seconds": round(median, 2),
            "runs_s": [round(s, 2) for s in seconds],
            "MB_per_s": round(compressed / 1e6 / median, 2),
        }

    rows = [
        {"images": len(specs), "workers": w, "layers": layers[w], "compressed_MB": round(compressed / 1e6, 2)}
        | row(times[str(w)])
        for w in (1, 2)
    ]
    plain_row = row(times["plain"])
    return {
        "rounds": rounds,
        "files": rows,
        "plain_process": plain_row,
        "files_vs_plain": round(rows[1]["MB_per_s"] / plain_row["MB_per_s"], 2),
    }


def print_indexing(title: str, case: dict) -> None:
    rounds = case["rounds"]
    how = "one run each" if rounds == 1 else f"medians of {rounds} alternated rounds; every run in brackets"
    print(f"{title} ({how})")
    for row in case["files"]:
        print(
            f"  {row['layers']} layers, {row['compressed_MB']} MB compressed, {row['workers']} worker(s): "
            f"{row['seconds']:.2f} s  {row['MB_per_s']} MB/s  {row['runs_s']}"
        )
    plain = case["plain_process"]
    print(
        f"  the same layers in one plain process: {plain['seconds']:.2f} s  {plain['MB_per_s']} MB/s  "
        f"{plain['runs_s']}; 2 workers / plain process: {case['files_vs_plain']:.2f}x (target >= 1.0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from corpusgen import push_corpus
    from registry_server import start_registry

    sizes = (50, 100) if args.quick else (100, 1000)
    rounds = 1 if args.quick else 5
    work = tempfile.mkdtemp(prefix="imgexplore-corpus-bench-")
    os.environ["DOCKER_CONFIG"] = os.path.join(work, "docker")
    registry = start_registry(os.path.join(work, "registry"), schema1=False)
    results: dict = {"quick": args.quick, "metadata": [], "files": []}
    try:
        specs, _, _ = push_corpus(registry.host, images_count=sizes[-1], extra_tags=0)
        payload_specs, _, _ = push_corpus(
            registry.host,
            images_count=20 if args.quick else 100,
            extra_tags=0,
            payload=1 << 20,
            repository="corpus/big",
        )
        for count in sizes:
            for workers in (1, 2):
                seconds, report = timed_scan(specs[:count], work, f"meta-{count}-{workers}", workers=workers)
                assert report.images_done == count, report
                results["metadata"].append(
                    {
                        "images": count,
                        "workers": workers,
                        "seconds": round(seconds, 2),
                        "images_per_s": round(count / seconds, 1),
                        "ms_per_image": round(1000 * seconds / count, 1),
                    }
                )
        results.update(indexing_case(payload_specs, work, "files", rounds))
        mixed_specs, _, _ = push_corpus(
            registry.host, images_count=len(MIXED_QUICK if args.quick else MIXED), extra_tags=0,
            payload=MIXED_QUICK if args.quick else MIXED, repository="corpus/mixed",
        )  # fmt: skip
        results["mixed"] = indexing_case(mixed_specs, work, "mixed", rounds)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("metadata-only scan (local cluster already running, fresh cache):")
    for row in results["metadata"]:
        print(
            f"  {row['images']:>5} images, {row['workers']} worker(s): {row['seconds']:6.2f} s  "
            f"{row['images_per_s']:6.1f} images/s  {row['ms_per_image']:6.1f} ms/image"
        )
    small, large = (
        next(r for r in results["metadata"] if r["images"] == n and r["workers"] == 2) for n in sizes
    )
    growth = large["seconds"] / small["seconds"]
    results["growth"] = {"images_ratio": sizes[1] / sizes[0], "time_ratio": round(growth, 2)}
    print(f"  {sizes[0]} → {sizes[1]} images ({sizes[1] / sizes[0]:.0f}×): time ×{growth:.2f} with 2 workers")
    print_indexing(
        "metadata scan + file indexing with content hashes (1 MiB incompressible payload per top layer)",
        results,
    )
    mixed = results["mixed"]["files"][0]
    print_indexing(
        f"the same on a mixed corpus ({mixed['images']} images, top layers of 1 KB to "
        f"{max(MIXED_QUICK if args.quick else MIXED) // MB} MB)",
        results["mixed"],
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
