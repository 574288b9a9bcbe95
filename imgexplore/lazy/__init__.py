"""Lazy-pulling formats made visible: eStargz and zstd:chunked layers read by their table of
contents alone, with HTTP Range requests (footer, then TOC; never the whole layer), and
gzip layers that a SOCI index describes from outside (:mod:`~imgexplore.lazy.soci`: zTOCs
and the gzip checkpoints that let one span be fetched and decompressed alone).

* :func:`read_toc` — a layer's TOC as a :class:`~imgexplore.lazy.toc.Toc` (entries as a
  DataFrame, landmarks, prefetch list, checks against the layer's annotations);
* :func:`~imgexplore.lazy.toc.toc_file_table` — the layer's file table from its TOC alone;
* :func:`~imgexplore.lazy.plan.fetch_plan` — the byte ranges and requests that reading some
  files costs, against downloading the whole layer.
"""

from .read import lazy_format, read_toc
from .toc import Toc

__all__ = ["Toc", "lazy_format", "read_toc"]
