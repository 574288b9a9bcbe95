"""The benchmarks still run (quick mode): no timing is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def run_quick(script: str, out: Path, *extra: str, timeout: int = 600) -> dict:
    """Run ``benchmarks/SCRIPT --quick`` and return the JSON it writes to ``out``."""
    subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra, "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    return json.loads(out.read_text())


def test_filetree_benchmark_quick(tmp_path):
    result = run_quick("bench_filetree.py", tmp_path / "result.json", "--workdir", str(tmp_path))
    cases = {r["case"]: r for r in result["results"]}
    assert cases["small-files"]["entries"] == 2020  # 2,000 files in 20 folders
    assert cases["big-layer"]["uncompressed_bytes"] > 20 * 1024 * 1024
    assert all(r["gnu_tar_s"] > 0 and r["imgexplore_s"] > 0 for r in cases.values())
    command = result["command"]
    assert command["entries"] == 20_200 and set(command["medians_s"]) == {"tar", "csv", "json", "csv cached"}
    assert all(seconds > 0 for seconds in command["medians_s"].values())
    stdlib = result["commands"]["stdlib"]  # the standard library's first 20 MB, directories included
    assert stdlib["entries"] > 200 and stdlib["blob_bytes"] > 3 * 1024 * 1024
    assert all(seconds > 0 for seconds in stdlib["medians_s"].values())


def test_pull_benchmark_quick(tmp_path):
    import shutil

    import pytest

    if not shutil.which("skopeo") or not Path("/usr/bin/docker-registry").exists():
        pytest.skip("skopeo and docker-registry are needed (scripts/system-packages.sh)")
    result = run_quick("bench_pull.py", tmp_path / "pull.json")
    assert result["metadata_requests"] == 3
    assert result["image_bytes"] > 30 * 1024 * 1024
    assert result["skopeo_s"] > 0 and result["imgexplore_s"] > 0
    if shutil.which("curl"):  # the shell's curl | tee | sha256sum, for scale
        assert result["shell_s"] > 0 and result["time_ratio_vs_shell"] > 0


def test_corpus_benchmark_quick(tmp_path):
    import pytest

    if not Path("/usr/bin/docker-registry").exists():
        pytest.skip("docker-registry is needed (scripts/system-packages.sh)")
    result = run_quick("bench_corpus.py", tmp_path / "corpus.json", timeout=900)
    assert [(r["images"], r["workers"]) for r in result["metadata"]] == [(50, 1), (50, 2), (100, 1), (100, 2)]
    assert all(r["layers"] == 20 + 6 for r in result["files"])  # 20 top layers and 3 bases × 2
    assert result["plain_process"]["seconds"] > 0 and result["files_vs_plain"] > 0
    mixed = result["mixed"]
    assert all(r["layers"] == 10 + 6 for r in mixed["files"])  # ten top layers, 1 KB to 16 MB
    assert all(r["compressed_MB"] > 23.8 for r in mixed["files"])  # their payloads add up to 23.82 MB
    assert mixed["plain_process"]["seconds"] > 0 and mixed["files_vs_plain"] > 0


def test_engines_benchmark_quick(tmp_path):
    import os
    import shutil

    import pytest

    if os.geteuid() != 0 or not shutil.which("dockerd") or not Path("/usr/bin/docker-registry").exists():
        pytest.skip("root, Debian's docker.io and docker-registry are needed (scripts/system-packages.sh)")
    result = run_quick("bench_engines.py", tmp_path / "engines.json")
    assert result["image_bytes_saved"] > 30 * 1024 * 1024
    assert result["entries"] == 2001  # the big file and 2,000 small ones
    assert all(seconds > 0 for seconds in result["median_s"].values())
    if shutil.which("sshd") or Path("/usr/sbin/sshd").exists():
        assert result["ssh_export_vs_docker_save_over_ssh"] > 0 and "ssh export" in result["median_s"]
