"""The imgexplore command, run as a user runs it (a subprocess of the installed script)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest


def run(*args, ok=True):
    proc = subprocess.run(
        [sys.executable, "-m", "imgexplore", *map(str, args)], capture_output=True, text=True
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_layers_json_rows(data_dir):
    rows = json.loads(run("layers", data_dir / "teaching" / "oci", "--format", "json").stdout)
    assert len(rows) == 6
    assert {"index", "digest", "media_type", "size", "diff_id", "chain_id", "empty", "created_by"} <= set(
        rows[0]
    )
    assert rows[0]["digest"] == "sha256:1aa08f2122fd41a67c28d71704d62c9e9caa48832ff94a9268a2ac4006b56c69"
    assert rows[0]["size"] == (data_dir / "teaching/oci/blobs/sha256" / rows[0]["digest"][7:]).stat().st_size
    assert rows[5]["created_by"] == "/bin/sh -c chmod 0700 /app/bin/server"


def test_history_csv(data_dir):
    out = run("history", data_dir / "teaching" / "docker-save.tar", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 12
    assert {"step", "created", "created_by", "empty_layer", "layer_index"} <= set(rows[0])
    assert [r["empty_layer"] for r in rows].count("True") == 6
    assert rows[1]["layer_index"] == ""  # metadata-only step: no layer


def test_table_shortens_and_wide_does_not(data_dir):
    short = run("layers", f"oci:{data_dir / 'derived' / 'oci'}").stdout
    wide = run("layers", f"oci:{data_dir / 'derived' / 'oci'}", "--wide").stdout
    assert (
        "sha256:4f4fb700ef54 " in short
        and "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1" in wide
    )
    assert short.splitlines()[0].split()[:4] == ["index", "digest", "media_type", "size"]


def test_inspect_and_platform(data_dir):
    out = run("inspect", data_dir / "multiarch" / "oci", "--platform", "linux/arm64/v8").stdout
    assert "platform:     linux/arm64/v8" in out
    assert "layers:       2 (0 empty)" in out
    data = json.loads(run("inspect", data_dir / "multiarch" / "oci", "--format", "json").stdout)
    assert data["platform"] == "linux/amd64" and len(data["layers"]) == 2


def test_platforms(data_dir):
    rows = json.loads(
        run(
            "platforms", f"docker-archive:{data_dir / 'multiarch' / 'docker-save.tar'}", "--format", "json"
        ).stdout
    )
    assert [r["platform"] for r in rows] == ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]


def test_schema1_manifest_file(data_dir):
    rows = json.loads(
        run("layers", f"manifest:{data_dir / 'teaching' / 'schema1.json'}", "--format", "json").stdout
    )
    assert len(rows) == 12
    assert sum(r["empty"] for r in rows) == 6


def test_saved_schema2_manifest_with_config(data_dir):
    rows = json.loads(
        run(
            "history",
            data_dir / "teaching" / "manifest.json",
            "--config",
            data_dir / "teaching" / "config.json",
            "--format",
            "json",
        ).stdout
    )
    assert len(rows) == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("layers", "/nonexistent/path.tar"), "no such file or folder"),
        (("layers", "docker-archive:/nonexistent.tar"), "no such file or folder"),
        (("inspect", "data/multiarch/oci", "--platform", "linux/s390x"), "no image for platform linux/s390x"),
        (("inspect", "data/teaching/manifest.json"), "blob sha256:fa29186301c4"),
        (("inspect", "NOT/Valid"), "not a file or folder here|invalid|no such"),
        (("inspect", "README.md"), r"README.md: not a readable tar archive \(invalid header\)$"),
        (
            ("extract", "data/teaching/oci", "app", "--dest", "README.md"),
            "README.md' as the folder to extract into: it is a file",
        ),
        (
            ("report", "data/teaching/oci", "-o", "README.md"),
            "'README.md' as the report folder: it is a file",
        ),
        (
            ("corpus", "scan", "no-such-list.txt", "--out", "/nonexistent/ds"),
            "cannot read the list of images 'no-such-list.txt'",
        ),
        (("corpus", "report", "data", "-o", "/nonexistent/r"), "'data' is not a corpus dataset"),
        (
            ("pull", "data/teaching/oci", "--dest", "/nonexistent/p"),
            "is a local image: pull copies from a registry",
        ),
        (
            ("inspect", "data/teaching/oci", "--platform", "windows/amd64"),
            "is a single-platform image for linux/amd64, not windows/amd64",
        ),
        (("inspect", "data/teaching/oci", "--platform", "///"), "invalid platform '///'"),
        (("inspect", "/dev/null"), "/dev/null: not a regular file or a folder"),
    ],
)
def test_errors_are_one_line_without_traceback(data_dir, args, message):
    import os
    import re

    proc = subprocess.run(
        [sys.executable, "-m", "imgexplore", *args],
        capture_output=True,
        text=True,
        cwd=data_dir.parent,
        env={**os.environ},
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("imgexplore: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert re.search(message, proc.stderr)


def test_inspect_says_whether_sizes_are_compressed(data_dir):
    """docker save (legacy) stores layers as plain tars: their sizes must not be called compressed."""
    saved = run("inspect", data_dir / "teaching" / "docker-save.tar").stdout
    assert "layers:       6 (0 empty), 174.1 kB uncompressed, as stored" in saved  # 174,080 bytes of tars
    blobs = data_dir / "teaching/oci/blobs/sha256"
    rows = json.loads(run("layers", data_dir / "teaching" / "oci", "--format", "json").stdout)
    total = sum((blobs / r["digest"][7:]).stat().st_size for r in rows)
    layout = run("inspect", data_dir / "teaching" / "oci").stdout
    assert f"layers:       6 (0 empty), {total / 1000:.1f} kB compressed" in layout


def test_cache_clear_removes_only_its_own_folders(tmp_path, data_dir):
    """`cache --clear` empties blobs and file tables, and leaves anything else in the folder."""
    env = {**os.environ, "IMGEXPLORE_CACHE": str(tmp_path)}
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")

    def cache(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "imgexplore", *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    cache("tree", data_dir / "teaching" / "oci", "--format", "csv")  # lists (and caches) 6 layers
    rows = {r["part"]: r for r in json.loads(cache("cache", "--format", "json"))}
    tables = list((tmp_path / "filetree").glob("*.arrow"))
    aliases = list((tmp_path / "filetree" / "by-digest").iterdir())  # gzip digest -> diff_id
    assert (len(tables), len(aliases), rows["file tables"]["files"]) == (6, 6, 12)
    assert rows["file tables"]["bytes"] == sum(p.stat().st_size for p in tables + aliases)
    assert rows["other"]["files"] == 1
    out = cache("cache", "--clear")
    assert out.startswith("cleared ") and "file tables      0" in out
    assert keep.read_text() == "not ours" and not (tmp_path / "filetree").exists()


def test_version_is_the_package_version():
    import importlib.metadata

    import imgexplore

    out = run("--version").stdout.strip()
    assert out == f"imgexplore {imgexplore.__version__}"
    assert importlib.metadata.version("imgexplore") == imgexplore.__version__  # one source of truth


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tree", "data/teaching/oci", "--layer", "abc"), "a layer is a number .*, not 'abc'"),
        (("tree", "data/teaching/oci", "--layer", "1.5"), "not '1.5'"),
        (("tree", "data/teaching/oci", "--layer", "-1"), "layers are numbered from 0"),
        (("cat", "data/teaching/oci", "etc/motd", "--layer", "x"), "not 'x'"),
        (("inspect", "data/teaching/oci", "--no-such-option"), "unrecognized arguments: --no-such-option"),
        (("no-such-command",), "invalid choice: 'no-such-command'"),
        (("inspect",), "the following arguments are required: source"),
    ],
)
def test_argument_errors_are_one_line_exit_2(data_dir, args, message):
    import re

    proc = subprocess.run(
        [sys.executable, "-m", "imgexplore", *args], capture_output=True, text=True, cwd=data_dir.parent
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("imgexplore: error: ")
    assert re.search(message, proc.stderr) and "--help" in proc.stderr


def test_layer_out_of_range_is_an_error_of_its_own(data_dir):
    import imgexplore

    files = imgexplore.open_image(str(data_dir / "teaching" / "oci")).files()
    with pytest.raises(imgexplore.LayerIndexError, match="the image has 6 layers"):
        files.layer(99)
    with pytest.raises(imgexplore.InvalidArgumentError, match="a layer number"):
        files.layer("2")


def test_library_platform_argument_is_checked(data_dir):
    import imgexplore

    with pytest.raises(imgexplore.InvalidArgumentError, match="not int"):
        imgexplore.open_image(str(data_dir / "multiarch" / "oci"), platform=42)
    with pytest.raises(TypeError, match="platfrom"):  # a misspelt keyword is not silently ignored
        imgexplore.open_image(str(data_dir / "teaching" / "oci"), platfrom="linux/arm64")


def test_library_functions_check_their_arguments(data_dir):
    import imgexplore
    from imgexplore.extract import read_file

    with pytest.raises(imgexplore.InvalidArgumentError, match="not int 42"):
        imgexplore.open_image(42)
    image = imgexplore.open_image(str(data_dir / "teaching" / "oci"))
    with pytest.raises(imgexplore.InvalidArgumentError, match="a path is text"):
        image.files().lineage(3)
    with pytest.raises(imgexplore.InvalidArgumentError, match="a path is text"):
        read_file(image, b"etc/motd")
    with pytest.raises(imgexplore.InvalidArgumentError, match="a layer number is an int"):
        image.files().merged("2")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_tree_output_is_streamed_byte_for_byte(fmt, tmp_path, capsys):
    """CSV and JSON are written a chunk of rows at a time: the same bytes as the whole text
    rendered at once, for names with commas, quotes, newlines and bytes that are not UTF-8."""
    from tarmaker import tar_bytes, write_layout

    from imgexplore.output import render, write

    names = ["a,b.txt", 'quo"te', "new\nline", "caf\udce9", "plain/ok.txt"]
    layout = write_layout(
        tmp_path / "oci",
        [tar_bytes([{"name": n, "data": n.encode("utf-8", "surrogateescape")} for n in names])],
    )
    import imgexplore
    from imgexplore.cli import main

    files = imgexplore.open_image(layout).files()
    for table in (files.all_layers(), files.merged()):
        streamed = io.StringIO()
        write(table, fmt, streamed, chunk_rows=2)  # several chunks
        assert streamed.getvalue() == render(table, fmt) + "\n"
    assert main(["tree", layout, "--layer", "all", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert (
        "a,b.txt" in out and ("caf\\xe9" if fmt == "csv" else "caf\\\\xe9") in out
    )  # JSON doubles the backslash


def test_the_quick_exit_still_runs_exit_handlers_threads_and_flushes(data_dir):
    """The command ends without taking the interpreter apart (``cli.console``), but only
    after what a normal exit does: a thread the command left running is joined, an exit
    handler a library registered runs, and everything printed reaches the pipe; an error
    keeps its exit code."""
    script = """
import atexit, sys, threading, time
from imgexplore import cli
command = cli.main
def main(argv=None):
    atexit.register(lambda: print("exit handler ran"))
    returned = threading.Event()
    threading.Thread(target=lambda: (returned.wait(), time.sleep(0.2), print("thread finished"))).start()
    try:
        return command(argv)
    finally:
        returned.set()
cli.main = main
cli.console()
"""
    image = data_dir / "teaching" / "oci"
    done = subprocess.run(
        [sys.executable, "-c", script, "layers", image, "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("index,digest,") and len(lines) == 1 + 6 + 2
    assert lines[-2:] == ["thread finished", "exit handler ran"]
    failed = subprocess.run(
        [sys.executable, "-c", script, "layers", "/no/such/image"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stdout.splitlines() == ["thread finished", "exit handler ran"]
    assert failed.stderr.startswith("imgexplore: error: ") and len(failed.stderr.splitlines()) == 1
