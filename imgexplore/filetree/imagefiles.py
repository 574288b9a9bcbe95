"""``image.files()``: the file-tree views of one image, with its layer tables loaded once."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError, LayerIndexError
from . import rules as filetree
from .layertable import TreeCache, layer_table
from .prefetch import blobs_ahead

if TYPE_CHECKING:
    from ..image import Image


MERGED_VIEWS_KEPT = 3  # besides the whole image's


class ImageFiles:
    """Per-layer file tables and what follows from them. Layer blobs are read (and their
    tables cached by diff_id) the first time a view needs them."""

    def __init__(
        self,
        image: Image,
        *,
        cache: TreeCache | bool = True,
        hash_files: bool = True,
        progress: bool = False,
        toc_only: bool = False,
    ):
        self.image = image
        self._toc_only = toc_only
        self._cache = cache
        self._hash_files = hash_files
        self._progress = progress
        self._tables: list[pd.DataFrame] | None = None
        self._changes: pd.DataFrame | None = None
        self._markers: pd.DataFrame | None = None  # both read by the explorer on every redraw
        self._content_sizes: list[int] | None = None
        # merged views by top layer: the whole image's, and the few most recently used others
        # (each can be as big as the image's file list, so not every layer's is kept)
        self._merged: OrderedDict[int, pd.DataFrame] = OrderedDict()

    @property
    def tables(self) -> list[pd.DataFrame]:
        """One table per layer (columns: :data:`imgexplore.filetree.tarlist.COLUMNS`)."""
        if self._tables is None:
            self.load()
        return self._tables

    def load(self, on_layer=None) -> list[pd.DataFrame]:
        """List every layer now; ``on_layer(index, count)`` is called after each one (the
        notebook explorer drives its progress bar with it)."""
        if self._tables is None:
            layers = self.image.layers
            if self._progress:
                from tqdm.auto import tqdm

                layers = tqdm(layers, desc="listing layers", unit="layer")
            tables = []
            ahead = self.image.layers if not self._toc_only else []
            with blobs_ahead(self.image, ahead, self._cache):
                for layer in layers:
                    tables.append(self._table(layer))
                    if on_layer is not None:
                        on_layer(len(tables), len(self.image.layers))
            self._tables = tables
        return self._tables

    def _table(self, layer) -> pd.DataFrame:
        if not self._toc_only:
            return layer_table(layer, cache=self._cache, hash_files=self._hash_files)
        from ..lazy import lazy_format, read_toc
        from ..lazy.toc import toc_file_table

        if lazy_format(layer) is None:
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"layer {layer.index} ({layer.digest[:19]}) has no lazy-pull TOC (eStargz, zstd:chunked or a SOCI zTOC): "
                "toc_only needs one in every layer"
            )
        return toc_file_table(read_toc(layer))

    def layer(self, index: int) -> pd.DataFrame:
        """The entries of one layer's tar, whiteout markers included."""
        return self.tables[self._check(index)]

    def content_sizes(self) -> list[int]:
        """Per layer, the bytes of the regular files it holds (what ``docker history`` shows as
        a layer's size): not the tar's length, which adds a 512-byte header per entry and
        rounds up to 10 KiB records."""
        if self._content_sizes is None:
            self._content_sizes = [
                int(t.loc[(t["type"] == "file").to_numpy() & ~filetree.is_marker(t), "size"].sum())
                for t in self.tables
            ]
        return self._content_sizes

    def all_layers(self) -> pd.DataFrame:
        """Every layer's entries in one table, with a ``layer`` column."""
        return filetree.stack(self.tables)

    def merged(self, upto: int | None = None) -> pd.DataFrame:
        """The filesystem after layer ``upto`` (default: the whole image). Shared between
        callers: copy it before changing it in place. Built from the nearest view below it
        that is still at hand, one layer at a time.

        A directory a layer only implies (it writes ``tmp/x`` with no ``tmp/`` entry) keeps
        the entry of the layer below, as a container on containerd sees it; Docker's overlay2
        recreates such a directory 0755 root in that layer, so there its mode can differ
        (both checked against the kernel's overlay mount in the tests)."""
        top = len(self.tables) - 1 if upto is None else self._check(upto)
        if top in self._merged:
            self._merged.move_to_end(top)
            return self._merged[top]
        start = max((k for k in self._merged if k < top), default=-1)
        view = self._merged[start] if start >= 0 else filetree.empty_view(self.tables)
        view = filetree.apply_layers(view, self.tables, start + 1, top)
        self._keep(top, view)
        return view

    def _keep(self, top: int, view: pd.DataFrame) -> None:
        self._merged[top] = view
        final = len(self.tables) - 1
        others = [k for k in self._merged if k != final]
        for old in others[: max(0, len(others) - MERGED_VIEWS_KEPT)]:
            del self._merged[old]

    def changes(self, layer: int | None = None) -> pd.DataFrame:
        """Added / modified / deleted paths of one layer, or of every layer."""
        if layer is not None:
            index = self._check(layer)
            below = self.merged(index - 1) if index > 0 else None
            return filetree.layer_changes(self.tables, index, below)
        if self._changes is None:
            self._changes, final = filetree.changes_and_final_view(self.tables)
            self._keep(len(self.tables) - 1, final)
        return self._changes

    def waste(self) -> tuple[pd.DataFrame, dict]:
        """Wasted space per layer and for the image (see :data:`filetree.WASTE_EXPLANATION`)."""
        return filetree.wasted_space(
            self.tables, [layer.size for layer in self.image.layers], self.changes(), self.merged()
        )

    def duplicates(self) -> pd.DataFrame:
        """Files whose content appears more than once across the layers."""
        return filetree.duplicate_files(self.tables)

    def lineage(self, path: str) -> pd.DataFrame:
        """Every layer that adds, changes or deletes ``path``, with the step that did it."""
        if not isinstance(path, str):
            raise InvalidArgumentError(f"a path is text, not {type(path).__name__}")
        return filetree.lineage(self.changes(), path, self.image.layers_table())

    def markers(self) -> pd.DataFrame:
        """Every whiteout and opaque marker in the image: ``layer``, ``path`` (the marker's own
        entry), ``kind`` (``whiteout`` or ``opaque``) and ``hides`` (the path it deletes, or
        the directory whose lower contents it hides). Shared between callers: copy it before
        changing it in place."""
        if self._markers is None:
            self._markers = filetree.markers(self.tables)
        return self._markers

    def most_changed_layer(self) -> int | None:
        """The layer that modifies or deletes the most paths of the layers below it (the
        lowest such layer on a tie); ``None`` when no layer does."""
        changes = self.changes()
        counts = changes[changes["change"] != "added"].groupby("layer").size()
        return int(counts.sort_index().idxmax()) if len(counts) else None

    def most_changed_path(self) -> str | None:
        """The non-directory path that most layers touch (then: most content changes, then
        by name); a good first argument for :meth:`lineage`."""
        changes = self.changes()
        touched = changes[changes["type"] != "dir"]
        if touched.empty:
            return None
        score = (
            touched.assign(content=touched["detail"] == "content")
            .groupby("path")
            .agg(layers=("layer", "nunique"), content=("content", "sum"))
        )
        ranked = score.reset_index().sort_values(
            ["layers", "content", "path"], ascending=[False, False, True], kind="stable"
        )
        return str(ranked["path"].iloc[0])

    def directory_sizes(
        self, layer: int | None = None, *, merged: bool = True, max_depth: int | None = None
    ) -> pd.DataFrame:
        """Bytes per directory of the merged view (after ``layer``), or of one layer alone."""
        table = self.merged(layer) if merged or layer is None else self.layer(layer)
        return filetree.directory_sizes(table, max_depth)

    def _check(self, index: int) -> int:
        """A layer number (negative ones count from the top, as Python's indexes do)."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise InvalidArgumentError(f"a layer number is an int, not {type(index).__name__} {index!r:.40}")
        count = len(self.image.layers)
        if not -count <= index < count:
            raise LayerIndexError(
                f"layer {index} does not exist: the image has {count} layers (0–{count - 1})"
            )
        return int(index) % count
