#!/usr/bin/env python3
"""Opening images where Docker keeps them, against ``docker save`` on the same daemon, in the
same run.

    python benchmarks/bench_engines.py            # full: one ~300 MB incompressible layer + 20,000 small files
    python benchmarks/bench_engines.py --quick    # CI-sized: 30 MB + 2,000 files

A real docker-registry and a real dockerd (Debian's; own data root in a temporary folder) are
started on loopback; the image is pushed and pulled. Then, alternating, median of the runs:

    peer:       docker save IMAGE > /dev/null          (the docker CLI: GET /images/{name}/get, read to the end)
    export:     docker-daemon:IMAGE, the daemon's export path (fresh cache), every layer listed
                through the cache, as a user's command does (big layers are listed while the
                export streams past)
    data root:  docker-root:[ROOT]IMAGE, every layer rebuilt from tar-split + diff/ and listed
    metadata:   docker-root:[ROOT]IMAGE opened (names, config, layer records), no layer read:
                the first time (tar sizes read from the tar-split records) and again (kept),
                once the export written before it is on disk (os.sync, not timed)

and, where OpenSSH is installed, the export over ssh (a real sshd on 127.0.0.1, a key made
for the run), against the same bytes fetched by the docker CLI through the same ssh:

    peer:       ssh root@127.0.0.1 docker --host unix://SOCKET save IMAGE > /dev/null
    export:     DOCKER_HOST=ssh://root@127.0.0.1:PORT/SOCKET, docker-daemon:IMAGE's export
                path (fresh cache), every layer listed

Needs root (dockerd). Prints ratios against the peer and writes JSON with --json."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER_CLI = shutil.which("docker") or "docker"  # Debian's docker.io installs it beside dockerd
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def docker_save(daemon, ref: str) -> None:
    """The peer: ``docker save IMAGE > /dev/null`` with the docker CLI, as a user runs it (Go
    decodes the daemon's chunked answer; for a 300 MB image that is ~10,000 chunks)."""
    subprocess.run(
        [DOCKER_CLI, "--host", f"unix://{daemon.socket}", "save", ref], stdout=subprocess.DEVNULL, check=True
    )


def export_bytes(daemon, ref: str) -> int:
    """The size of the daemon's export of ``ref`` (read once, not timed)."""
    total = 0
    with daemon.api() as api, api.stream("GET", f"/images/{ref}/get") as answer:
        for chunk in answer.iter_bytes(1 << 20):
            total += len(chunk)
    return total


def list_all(image, cache: bool = False) -> int:
    return sum(len(table) for table in image.files(cache=cache).tables)


def ssh_export(daemon, ref: str, work: str, runs: int) -> dict[str, list[float]]:
    """The export over ssh and its peer, alternating; nothing where OpenSSH is missing."""
    import _pytest.outcomes
    from engines import start_sshd

    import imgexplore
    from imgexplore.opener import open_docker_daemon

    os.makedirs(os.path.join(work, "sshd"))
    try:
        sshd = start_sshd(os.path.join(work, "sshd"))
    except _pytest.outcomes.OutcomeException as exc:
        print(f"over ssh: not measured ({exc})")
        return {}
    times: dict[str, list[float]] = {"ssh peer": [], "ssh export": []}
    saved = ["ssh", "-p", str(sshd.port), "root@127.0.0.1", "docker", "--host", f"unix://{daemon.socket}"]
    environ = dict(os.environ)
    try:
        os.environ["PATH"] = f"{sshd.client_bin}:{os.environ['PATH']}"
        os.environ["DOCKER_HOST"] = sshd.url(daemon.socket)
        for run in range(runs):
            start = time.perf_counter()
            subprocess.run([*saved, "save", ref], stdout=subprocess.DEVNULL, check=True)
            times["ssh peer"].append(time.perf_counter() - start)
            os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, f"cache-{run}-ssh")
            start = time.perf_counter()
            list_all(imgexplore.open_image(open_docker_daemon(ref, read_root=False)), cache=True)
            times["ssh export"].append(time.perf_counter() - start)
    finally:
        os.environ.clear()
        os.environ.update(environ)
        sshd.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized input, 3 runs")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_engines needs root: it starts dockerd")
    if not shutil.which("docker"):
        sys.exit(
            "bench_engines needs the docker CLI, the peer (scripts/system-packages.sh installs docker.io)"
        )

    import _pytest.outcomes
    from bench_pull import build_image
    from engines import start_dockerd
    from registry_server import start_registry

    import imgexplore
    from imgexplore.opener import open_docker_daemon
    from imgexplore.transfer import push

    big, small, runs = (30 << 20, 2_000, 3) if args.quick else (300 << 20, 20_000, 5)
    work = tempfile.mkdtemp(prefix="bench-engines-")
    registry = start_registry(os.path.join(work, "registry"))
    os.makedirs(os.path.join(work, "dockerd"))
    try:
        daemon = start_dockerd(os.path.join(work, "dockerd"))
    except _pytest.outcomes.OutcomeException as exc:
        sys.exit(f"dockerd: {exc}")
    try:
        layout = os.path.join(work, "image")
        build_image(layout, big, small)
        ref = f"{registry.host}/bench/engines:latest"
        push(layout, ref)
        daemon.pull(ref)
        os.environ["DOCKER_HOST"] = f"unix://{daemon.socket}"
        times: dict[str, list[float]] = {
            "peer": [],
            "export": [],
            "data root": [],
            "metadata": [],
            "metadata, first": [],
        }
        saved = export_bytes(daemon, ref)
        for run in range(runs):
            os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, f"cache-{run}-export")
            start = time.perf_counter()
            docker_save(daemon, ref)
            times["peer"].append(time.perf_counter() - start)
            # as a user lists it: through the cache (empty here), which the export's one pass fills
            start = time.perf_counter()
            entries = list_all(imgexplore.open_image(open_docker_daemon(ref, read_root=False)), cache=True)
            times["export"].append(time.perf_counter() - start)
            os.environ["IMGEXPLORE_CACHE"] = os.path.join(work, f"cache-{run}")
            # the export just written is still being flushed to disk, which would be timed too
            os.sync()
            start = time.perf_counter()
            imgexplore.open_image(f"docker-root:[{daemon.root}]{ref}")  # fresh cache: tar sizes read
            times["metadata, first"].append(time.perf_counter() - start)
            start = time.perf_counter()
            imgexplore.open_image(f"docker-root:[{daemon.root}]{ref}")  # the sizes kept
            times["metadata"].append(time.perf_counter() - start)
            start = time.perf_counter()
            list_all(imgexplore.open_image(f"docker-root:[{daemon.root}]{ref}"))
            times["data root"].append(time.perf_counter() - start)
        times.update(ssh_export(daemon, ref, work, runs))
        medians = {name: statistics.median(values) for name, values in times.items() if values}
        result = {
            "quick": args.quick,
            "image_bytes_saved": saved,
            "entries": entries,
            "median_s": medians,
            "export_vs_docker_save": medians["export"] / medians["peer"],
            "data_root_vs_docker_save": medians["data root"] / medians["peer"],
            "metadata_open_ms": medians["metadata"] * 1000,
            "metadata_first_open_ms": medians["metadata, first"] * 1000,
        }
        print(f"docker save: {saved / 1e6:.1f} MB in {medians['peer']:.2f} s (median of {runs})")
        print(
            f"docker-daemon: export + list {entries:,} entries: {medians['export']:.2f} s = {result['export_vs_docker_save']:.2f}x docker save"
        )
        print(
            f"docker-root: rebuild + list: {medians['data root']:.2f} s = {result['data_root_vs_docker_save']:.2f}x docker save"
        )
        print(
            f"docker-root: open metadata only: {result['metadata_first_open_ms']:.1f} ms the first time "
            f"(every tar-split record read for the tar sizes), {result['metadata_open_ms']:.1f} ms after"
        )
        if "ssh export" in medians:
            result["ssh_export_vs_docker_save_over_ssh"] = medians["ssh export"] / medians["ssh peer"]
            print(
                f"over ssh: docker save through ssh {medians['ssh peer']:.2f} s; docker-daemon: export + list "
                f"{medians['ssh export']:.2f} s = {result['ssh_export_vs_docker_save_over_ssh']:.2f}x"
            )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        daemon.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)  # ~2.6 GB: the image, the daemon's root, the exports


if __name__ == "__main__":
    main()
