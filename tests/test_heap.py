"""The command line's process pads glibc's heap (imgexplore.heap): checked in real child
processes by how far the heap grows when it must, read from /proc/self/maps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imgexplore.heap import HEAP_TOP_PAD, glibc

pytestmark = pytest.mark.skipif(not glibc(), reason="the heap top pad is glibc's")

# Allocates 64 KiB buffers until the heap must grow, and prints by how much it grew.
GROWTH = """
def heap_growth():
    def heap_end():
        for line in open("/proc/self/maps"):
            if line.rstrip().endswith("[heap]"):
                return int(line.split("-")[1].split()[0], 16)
    kept, start = [], heap_end()
    while heap_end() == start:
        kept.append(bytearray(64 * 1024))
    return heap_end() - start
"""


def _run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_TOP_PAD_"} | env
    done = subprocess.run([sys.executable, "-c", GROWTH + code], env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_grows_its_heap_by_the_pad():
    """console() (the installed command) pads the heap before running the command: the
    heap grows by 16 MiB at once, where a plain process grows it by what it needs."""
    (padded,) = _run(
        "import imgexplore.cli as cli\ncli.main = lambda: print(heap_growth()) or 0\ncli.console()\n"
    )
    (plain,) = _run("print(heap_growth())")
    assert int(padded) >= HEAP_TOP_PAD
    assert int(plain) < 1 << 20


def test_a_top_pad_the_user_chose_is_kept():
    """MALLOC_TOP_PAD_ set by the user wins: pad_heap() leaves it alone and says so."""
    set_, growth = _run(
        "from imgexplore.heap import pad_heap\nprint(pad_heap(), heap_growth())", MALLOC_TOP_PAD_="4096"
    )
    assert set_ == "False"
    assert int(growth) < 1 << 20
