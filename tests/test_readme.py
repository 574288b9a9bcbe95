"""The README's examples work as written: its Python example, and every offline
`imgexplore …` line of its command blocks, run from a folder where `data/` is the sample data.
(Lines naming a remote registry or a file the reader brings are left out.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = __import__("conftest").ROOT
README = (ROOT / "README.md").read_text()
ONLINE = ("docker.io", "ghcr.io", "quay.io", "localhost:5000", "images.txt", "corpus/")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def offline_commands() -> list[str]:
    lines = [line.split("#", 1)[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [
        re.sub(r"\[.*?\]", "", line).strip()
        for line in lines
        if line.startswith("imgexplore ") and not any(marker in line for marker in ONLINE)
    ]


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def test_python_example(workdir):
    (code,) = blocks("python")
    subprocess.run([sys.executable, "-c", code], cwd=workdir, check=True, capture_output=True)


def test_there_are_commands_to_check():
    assert len(offline_commands()) >= 14


@pytest.mark.parametrize("command", offline_commands())
def test_command(command, workdir, isolated_cache):
    proc = subprocess.run(
        [sys.executable, "-m", "imgexplore", *shlex.split(command.replace("/tmp/", f"{workdir}/"))[1:]],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() or "-o" in command or "--dest" in command


def test_the_example_figures_are_there():
    """Every figure the README shows exists, and docs/figures holds exactly what
    scripts/make_example_figures.py draws (rerun it after changing a figure)."""
    shown = re.findall(r"\]\((docs/figures/[^)]+\.png)\)", README)
    assert len(shown) >= 4
    assert all((ROOT / path).is_file() for path in shown), shown
    sys.path.insert(0, str(ROOT / "scripts"))
    import matplotlib.pyplot as plt
    from make_example_figures import example_figures

    drawn = example_figures()
    plt.close("all")
    assert {f"{name}.png" for name in drawn} == {p.name for p in (ROOT / "docs" / "figures").glob("*.png")}
