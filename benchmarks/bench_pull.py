#!/usr/bin/env python3
"""Pulling from a registry: imgexplore against skopeo, on the same loopback registry, in the
same run.

    python benchmarks/bench_pull.py            # full: one ~300 MB incompressible layer + 20,000 small files
    python benchmarks/bench_pull.py --quick    # CI-sized: 30 MB + 2,000 files

A real docker-registry (Debian's, the CNCF distribution registry) is started on 127.0.0.1
with a temporary storage folder; the image is pushed with imgexplore; then both tools copy
it into a fresh OCI layout:

    skopeo copy --src-tls-verify=false docker://127.0.0.1:PORT/bench/image:latest oci:DIR
    imgexplore pull 127.0.0.1:PORT/bench/image:latest --dest DIR     (the installed command, empty cache)

Each is run in a child process, five times alternating with the other (two with --quick); the
medians are compared. Peak memory is the child's maximum resident set size (the largest run). The request count of a metadata-only inspection is printed too.

For scale, the same work done by the shell is timed in the same runs where curl is installed:
every blob of the image fetched at once, each ``curl -s URL | tee FILE | sha256sum`` (download,
keep, verify)."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # the registry launcher the tests use


def build_image(layout: str, big_bytes: int, small_files: int) -> None:
    from isal import igzip

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from tarmaker import write_layout

    big = io.BytesIO()
    with tarfile.open(fileobj=big, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("data/random.bin")
        info.size = big_bytes
        tar.addfile(info, io.BytesIO(os.urandom(big_bytes)))
    rng = random.Random(1)
    small = io.BytesIO()
    with tarfile.open(fileobj=small, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(small_files):
            data = (f"{rng.random()}\n" * rng.randrange(1, 30)).encode()
            info = tarfile.TarInfo(f"srv/files/{i // 100:03d}/f{i:05d}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    write_layout(layout, [big.getvalue(), small.getvalue()], compress=lambda b: igzip.compress(b, 1))


def run_child(argv: list[str], env: dict) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of a child process, measured by GNU time's %M when it
    is installed (else 0: unknown)."""
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    report = tempfile.NamedTemporaryFile(delete=False)
    report.close()
    command = [timer, "-f", "%M", "-o", report.name, *argv] if timer else argv
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    with open(report.name) as f:
        text = f.read().strip().splitlines()
    os.unlink(report.name)
    peak_kb = int(text[-1]) if text and text[-1].isdigit() else 0
    return elapsed, peak_kb * 1024


def installed_command() -> list[str]:
    """The ``imgexplore`` console script of this environment: what a user runs, start-up
    included (the benchmark once timed ``pull()`` under ``python -c``, skipping it)."""
    script = os.path.join(os.path.dirname(sys.executable), "imgexplore")
    if not os.path.exists(script):
        sys.exit(f"no installed imgexplore command beside {sys.executable}: pip install -e . first")
    return [script]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not shutil.which("skopeo") or not os.path.exists("/usr/bin/docker-registry"):
        sys.exit("needs skopeo and docker-registry (scripts/system-packages.sh installs them)")
    from registry_server import start_registry

    from imgexplore.transfer import push

    big = (30 if args.quick else 300) * 1024 * 1024
    files = 2_000 if args.quick else 20_000
    runs = 2 if args.quick else 5
    work = tempfile.mkdtemp(prefix="imgexplore-pull-bench-")
    registry = start_registry(os.path.join(work, "registry"), schema1=False)
    try:
        layout = os.path.join(work, "image")
        build_image(layout, big, files)
        ref = f"{registry.host}/bench/image:latest"
        os.environ["DOCKER_CONFIG"] = os.path.join(work, "docker")
        push(layout, ref)
        total = sum(
            os.path.getsize(os.path.join(layout, "blobs", "sha256", f))
            for f in os.listdir(os.path.join(layout, "blobs", "sha256"))
        )

        env = {**os.environ, "DOCKER_CONFIG": os.path.join(work, "docker")}
        skopeo, ours, shell = [], [], []
        from imgexplore import open_image

        image = open_image(layout)
        blobs = [image.config_digest.split(":")[1]] + [layer.digest.split(":")[1] for layer in image.layers]
        by_shell = " & ".join(
            f"(curl -sf http://{registry.host}/v2/bench/image/blobs/sha256:{blob} | tee {{dest}}/{blob} | sha256sum > /dev/null)"
            for blob in blobs
        ) + " & wait"  # fmt: skip
        for i in range(runs):
            # each run starts with no dirty pages left by the one before (os.sync), so neither
            # tool is throttled by the other's writes; the order alternates
            def run_skopeo(i=i):
                dest = os.path.join(work, f"skopeo-{i}")
                skopeo.append(
                    run_child(
                        [
                            "skopeo",
                            "copy",
                            "--quiet",
                            "--src-tls-verify=false",
                            f"docker://{ref}",
                            f"oci:{dest}:latest",
                        ],
                        env,
                    )
                )
                shutil.rmtree(dest, ignore_errors=True)

            def run_ours(i=i):
                dest = os.path.join(work, f"ours-{i}")
                cache = os.path.join(work, f"cache-{i}")  # empty: everything is downloaded
                ours.append(
                    run_child(
                        [*installed_command(), "pull", ref, "--dest", dest],
                        {**env, "IMGEXPLORE_CACHE": cache},
                    )
                )
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(dest, ignore_errors=True)

            def run_shell(i=i):
                dest = os.path.join(work, f"shell-{i}")
                os.makedirs(dest)
                shell.append(run_child(["bash", "-c", by_shell.format(dest=dest)], env))
                shutil.rmtree(dest, ignore_errors=True)

            runs_now = [run_skopeo, run_ours] + ([run_shell] if shutil.which("curl") else [])
            for run in runs_now if i % 2 == 0 else runs_now[::-1]:
                os.sync()
                run()

        os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, "cache-inspect")
        image = open_image(ref)
        requests = len(image.source.client.transcript)

        median_skopeo = statistics.median(t for t, _ in skopeo)
        median_ours = statistics.median(t for t, _ in ours)
        result = {
            "quick": args.quick,
            "image_bytes": total,
            "skopeo_s": round(median_skopeo, 3),
            "imgexplore_s": round(median_ours, 3),
            "time_ratio": round(median_ours / median_skopeo, 3),
            "skopeo_MBps": round(total / median_skopeo / 1e6, 1),
            "imgexplore_MBps": round(total / median_ours / 1e6, 1),
            "imgexplore_peak_rss_MB": round(max(m for _, m in ours) / 2**20, 1),
            "metadata_requests": requests,
        }
        if shell:
            result["shell_s"] = round(statistics.median(t for t, _ in shell), 3)
            result["time_ratio_vs_shell"] = round(median_ours / result["shell_s"], 3)
        print(f"image: {total / 2**20:.1f} MB in 2 layers ({files} small files)")
        print(f"skopeo copy:      {median_skopeo:6.2f} s  ({result['skopeo_MBps']} MB/s)")
        print(
            f"imgexplore pull:  {median_ours:6.2f} s  ({result['imgexplore_MBps']} MB/s), "
            f"peak RSS {result['imgexplore_peak_rss_MB']} MB (target: under 60 MB)"
        )
        print(
            f"imgexplore / skopeo wall time, medians of {runs}: {result['time_ratio']:.2f} (target: at most 0.50)"
        )
        if shell:
            print(
                f"the shell, curl | tee | sha256sum per blob, all at once: {result['shell_s']:.2f} s; "
                f"imgexplore / shell: {result['time_ratio_vs_shell']:.2f}"
            )
        print(f"metadata-only inspection: {requests} requests (HEAD manifest, GET manifest, GET config)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
