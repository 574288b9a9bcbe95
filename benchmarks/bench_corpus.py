#!/usr/bin/env python3
"""Corpus mode: how fast a scan goes, and how it grows with the number of images.

    python benchmarks/bench_corpus.py           # full: 100 and 1,000 images
    python benchmarks/bench_corpus.py --quick   # CI-sized: 50 and 100 images

A real docker-registry on 127.0.0.1 is filled with a generated corpus (three shared bases,
one top layer per image; tests/corpusgen.py). Reported: images/s of a metadata-only scan with
1 and 2 local worker processes, at both corpus sizes (time per image should stay flat: the
scan is linear), and MB/s of file indexing (compressed bytes of the unique layers) with 1
and 2 workers, against the peer: one plain process (no Dask) opening the same images and
listing the same unique layers one after the other. Each scan starts from an empty cache and
an empty dataset."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def timed_scan(specs, work: str, label: str, workers: int, **options) -> tuple[float, object]:
    """Seconds for the scan itself; the local cluster is started before the clock starts
    (its start-up, ~2 s, is a fixed cost reported separately)."""
    from distributed import Client, LocalCluster

    from imgexplore.corpus import scan

    cache = os.path.join(work, f"cache-{label}")
    os.environ["IMGEXPLORE_CACHE"] = cache  # inherited by the worker processes started next
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
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


def plain_listing(specs, work: str) -> float:
    """Seconds for one plain process to open every image and list each unique layer with
    content hashes, in order, from an empty cache: the work a scan with --files spreads."""
    from imgexplore import open_image
    from imgexplore.filetree.layertable import layer_table

    os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, "cache-plain")
    seen: set[str] = set()
    start = time.perf_counter()
    for spec in specs:
        image = open_image(spec)
        for layer in image.layers:
            if layer.digest not in seen:
                seen.add(layer.digest)
                layer_table(layer, hash_files=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from corpusgen import push_corpus
    from registry_server import start_registry

    sizes = (50, 100) if args.quick else (100, 1000)
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
        from imgexplore.corpus import load

        count = len(payload_specs)
        for workers in (1, 2):
            seconds, report = timed_scan(
                payload_specs, work, f"files-{workers}", workers=workers, files=True, hash_files=True
            )
            tables = load(os.path.join(work, f"ds-files-{workers}"))
            compressed = int(tables["layers"]["size"].clip(lower=0).sum())
            results["files"].append(
                {
                    "images": count,
                    "workers": workers,
                    "layers": report.layers_indexed,
                    "compressed_MB": round(compressed / 1e6, 2),
                    "seconds": round(seconds, 2),
                    "MB_per_s": round(compressed / 1e6 / seconds, 2),
                }
            )
        plain = plain_listing(payload_specs, work)
        results["plain_process"] = {
            "seconds": round(plain, 2),
            "MB_per_s": round(compressed / 1e6 / plain, 2),
        }
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
    print("metadata scan + file indexing with content hashes (1 MiB incompressible payload per top layer):")
    for row in results["files"]:
        print(
            f"  {row['layers']} layers, {row['compressed_MB']} MB compressed, {row['workers']} worker(s): "
            f"{row['seconds']:.2f} s  {row['MB_per_s']} MB/s"
        )
    plain = results["plain_process"]
    two = next(r for r in results["files"] if r["workers"] == 2)
    results["files_vs_plain"] = round(two["MB_per_s"] / plain["MB_per_s"], 2)
    print(
        f"  the same layers in one plain process: {plain['seconds']:.2f} s  {plain['MB_per_s']} MB/s; "
        f"2 workers / plain process: {results['files_vs_plain']:.2f}x (target >= 1.0)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
