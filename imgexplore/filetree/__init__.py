"""Everything about a layer's files, in one package (the user's "file tree"):

* :mod:`~imgexplore.filetree.tarlist` — the streaming tar reader (one pass: entries, diff_id,
  per-file sha256);
* :mod:`~imgexplore.filetree.arrowtable` — a layer's table as Arrow, and its cache found by
  blob digest (no pandas: the command line writes CSV and JSON from it);
* :mod:`~imgexplore.filetree.layertable` — the same table as a pandas DataFrame;
* :mod:`~imgexplore.filetree.rules` — the OCI rules: whiteouts, merged views, changes, waste;
* :mod:`~imgexplore.filetree.imagefiles` — :class:`ImageFiles`, those views for one image.

The names below load their modules on first use, so that the Arrow-only modules can be
imported without pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ImageFiles", "TreeCache", "layer_table", "tar_table"]
_HOMES = {
    "ImageFiles": ".imagefiles",
    "TreeCache": ".arrowtable",
    "layer_table": ".layertable",
    "tar_table": ".layertable",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)
