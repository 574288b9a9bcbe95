"""Everything about a layer's files, in one package (the user's "file tree"):

* :mod:`~imgexplore.filetree.tarlist` — the streaming tar reader (one pass: entries, diff_id,
  per-file sha256);
* :mod:`~imgexplore.filetree.layertable` — a layer's table, and its Parquet cache found by
  blob digest;
* :mod:`~imgexplore.filetree.rules` — the OCI rules: whiteouts, merged views, changes, waste;
* :mod:`~imgexplore.filetree.imagefiles` — :class:`ImageFiles`, those views for one image.
"""

from .imagefiles import ImageFiles
from .layertable import TreeCache, layer_table, tar_table

__all__ = ["ImageFiles", "TreeCache", "layer_table", "tar_table"]
