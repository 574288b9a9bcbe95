"""The command line's process sets glibc's heap up for streaming layers (imgexplore.heap):
checked in real child processes by where and how far the heap grows, read from
/proc/self/maps."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imgexplore.heap import HEAP_TOP_PAD, glibc

pytestmark = pytest.mark.skipif(not glibc(), reason="the heap settings are glibc's")

HEAP = """
def heap_end():
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            return int(line.split("-")[1].split()[0], 16)

def heap_growth():
    # 64 KiB buffers until the heap must grow: by how much it grew
    kept, start = [], heap_end()
    while heap_end() == start:
        kept.append(bytearray(64 * 1024))
    return heap_end() - start

def big_buffer_in_heap():
    # a 20 MiB buffer: carved from the heap, or given a mapping of its own
    start = heap_end()
    buffer = bytearray(20 << 20)
    return heap_end() - start >= 20 << 20
"""


def _run(code: str, **env: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    environ.pop("GLIBC_TUNABLES", None)
    done = subprocess.run([sys.executable, "-c", HEAP + code], env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_pads_its_heap_and_keeps_big_buffers_in_it():
    """console() (the installed command) sets the heap up before running the command: the
    heap grows by 16 MiB at once where a plain process grows it by what it needs, and a
    20 MiB buffer comes from the heap instead of a mapping of its own."""
    padded, big = _run(
        "import imgexplore.cli as cli\n"
        "cli.main = lambda: print(heap_growth(), big_buffer_in_heap()) or 0\n"
        "cli.console()\n"
    )
    plain, plain_big = _run("print(heap_growth(), big_buffer_in_heap())")
    assert int(padded) >= HEAP_TOP_PAD and big == "True"
    assert int(plain) < 1 << 20 and plain_big == "False"


@pytest.mark.parametrize("setting", ["MALLOC_TOP_PAD_=4096", "MALLOC_ARENA_MAX=2"])
def test_malloc_settings_the_user_chose_are_kept(setting):
    """Any MALLOC_*_ variable of the user's: tune_heap() changes nothing and says so."""
    name, value = setting.split("=")
    done, growth = _run(
        "from imgexplore.heap import tune_heap\nprint(tune_heap(), heap_growth())", **{name: value}
    )
    assert done == "False"
    assert int(growth) < 1 << 20
