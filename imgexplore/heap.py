"""glibc's heap, set up for streaming a big layer through a fresh process.

Listing a layer as it downloads keeps a few megabytes of chunks in flight, allocated and
freed in turn by several threads. In a process that has not done this before, glibc hands the
top of its heap back to the system whenever more than 128 KiB of it is free and takes it
again for the next chunks, each time as fresh zeroed pages: a 300 MB registry layer listed as
the first thing a process does cost ~250,000 page faults and 0.4-0.6 s more (1.7-2.1 s
against 1.2-1.6 s for the same ``imgexplore tree IMAGE --layer N``) than once glibc has
raised its own thresholds. With a top pad of 16 MiB the heap grows 16 MiB beyond each request
and keeps 16 MiB when it trims, so the chunks in flight are carved from pages already there,
and the command's faults stay at the ~15,000 of everything else it does.

Setting the pad also ends glibc's own adjustment of its thresholds, so only processes
imgexplore starts itself are set up this way (the command line, the workers of a scan's
local cluster); a notebook's kernel is the user's, and keeps its settings.
"""

from __future__ import annotations

import os

HEAP_TOP_PAD = 16 << 20  # bytes: what the heap grows by beyond a request, and keeps when trimmed
_M_TOP_PAD = -2  # mallopt's parameter number, from glibc's malloc.h


def glibc() -> bool:
    """Whether this process's C library is glibc (where ``mallopt`` and ``MALLOC_TOP_PAD_`` apply)."""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # not a name this system knows: not glibc
        return False


def pad_heap(top_pad: int = HEAP_TOP_PAD) -> bool:
    """Set glibc's heap top pad to ``top_pad`` bytes in this process, unless the user chose one
    (``MALLOC_TOP_PAD_``) or the C library is not glibc. Returns whether it was set."""
    if "MALLOC_TOP_PAD_" in os.environ or not glibc():
        return False
    import ctypes

    return ctypes.CDLL(None).mallopt(_M_TOP_PAD, top_pad) == 1
