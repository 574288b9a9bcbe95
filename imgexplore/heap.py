"""glibc's heap, set up for streaming big layers through a fresh process.

Listing a layer as it downloads keeps a few megabytes of chunks in flight, allocated and
freed in turn by several threads. In a process that has not done this before, glibc hands the
top of its heap back to the system whenever more than 128 KiB of it is free and takes it
again for the next chunks, each time as fresh zeroed pages: a 300 MB registry layer listed as
the first thing a process does cost ~250,000 page faults and 0.4-0.6 s more (1.7-2.1 s
against 1.2-1.6 s for the same ``imgexplore tree IMAGE --layer N``) than once glibc has
raised its own thresholds. Two settings fix it:

- a top pad of 16 MiB: the heap grows 16 MiB beyond each request and keeps 16 MiB when it
  trims, so the chunks in flight are carved from pages already there;
- an mmap threshold of 32 MiB, the highest glibc's own adjustment would reach: setting the
  pad ends that adjustment, and at its starting 128 KiB every larger buffer (a file table's
  columns as they grow) would be a fresh mapping of its own (50,000 faults instead of 29,000
  for a 202,000-entry ``tree``).

Only processes imgexplore starts itself are set up this way (the command line, the workers
of a scan's local cluster); a notebook's kernel is the user's, and keeps its settings.
"""

from __future__ import annotations

import os

HEAP_TOP_PAD = 16 << 20  # bytes: what the heap grows by beyond a request, and keeps when trimmed
MMAP_THRESHOLD = 32 << 20  # bytes: requests from this size up get a mapping of their own
# each setting: (mallopt's parameter number, from glibc's malloc.h; its environment variable; value)
SETTINGS = ((-2, "MALLOC_TOP_PAD_", HEAP_TOP_PAD), (-3, "MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD))


def glibc() -> bool:
    """Whether this process's C library is glibc (where ``mallopt`` and ``MALLOC_*_`` apply)."""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # not a name this system knows: not glibc
        return False


def user_tuned() -> bool:
    """Whether the user set glibc's malloc up already (``MALLOC_*_`` or a malloc tunable)."""
    return any(name.startswith("MALLOC_") for name in os.environ) or "glibc.malloc" in os.environ.get(
        "GLIBC_TUNABLES", ""
    )


def heap_environment() -> dict[str, str]:
    """The environment variables that set a child process's heap up as :func:`tune_heap`
    does (empty off glibc, or when the user set malloc up)."""
    if not glibc() or user_tuned():
        return {}
    return {name: str(value) for _, name, value in SETTINGS}


def tune_heap() -> bool:
    """Set this process's heap up for streaming layers (see the module's description), unless
    the C library is not glibc or the user set malloc up. Returns whether it was done."""
    if not heap_environment():
        return False
    import ctypes

    libc = ctypes.CDLL(None)
    return all(libc.mallopt(number, value) == 1 for number, _, value in SETTINGS)
