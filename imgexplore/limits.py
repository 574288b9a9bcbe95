"""The caps that keep hostile input from exhausting the machine, in one place.

Each is a default: the functions that enforce it take a keyword of the same name to raise
or lower it for one call, and hitting one raises :class:`~imgexplore.errors.LimitExceededError`
with a message naming the cap."""

from __future__ import annotations

#: bytes of a manifest or index (the distribution registry's own limit is 4 MiB)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: bytes of an image config
MAX_CONFIG_BYTES = 16 * 1024 * 1024
#: nesting of indexes inside indexes
MAX_INDEX_DEPTH = 8
#: entries in one layer's tar
MAX_ENTRIES = 5_000_000
#: bytes of one PAX extended header or GNU long name
MAX_HEADER_BYTES = 1024 * 1024
#: bytes one layer may decompress to (a gzip bomb stops here)
MAX_UNCOMPRESSED_BYTES = 64 * 1024**3
