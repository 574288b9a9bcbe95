"""An interactive explorer for notebooks, built with ipywidgets.

    from imgexplore.viz.widgets import Explorer
    Explorer("../data/teaching/oci")          # or a registry reference

A box for the image, a platform dropdown, a layer selector that shows the layer's history
step and sizes, a path filter, a toggle between the layer's own entries and the merged view,
a file table and a figure that follow the selection. Listing layers shows a progress bar."""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd
from IPython.display import display

from ..digest import short
from ..errors import ImgExploreError
from ..present import human_bytes, stored_as
from ..tables import show

TABLE_ROWS = 200
TABLE_COLUMNS = ["path", "type", "size", "mode", "uid", "gid", "linkname", "layer", "hides"]


class Explorer(w.VBox):
    """The explorer widget. ``selected_layer``, ``view`` and ``table`` reflect what is shown.

    (``open`` belongs to ipywidgets — it opens the widget's channel to the browser — so the
    method that reads the image is ``open_source``.)"""

    def __init__(self, source: str = "", platform: str | None = None, **image_options):
        self._options = image_options
        self.image = None
        self.files = None
        self.source_box = w.Text(
            value=str(source),
            description="Image",
            placeholder="path or registry reference",
            layout=w.Layout(width="60%"),
        )
        self.open_button = w.Button(description="Open", button_style="primary")
        self.platform = w.Dropdown(description="Platform", options=[], layout=w.Layout(width="30%"))
        self.layer = w.Dropdown(description="Layer", options=[], layout=w.Layout(width="60%"))
        self.view_toggle = w.ToggleButtons(options=["layer", "merged"], value="layer", description="View")
        self.path_filter = w.Text(
            description="Path", placeholder="prefix (usr/bin) or glob (*.json)", continuous_update=False
        )
        self.progress = w.IntProgress(min=0, max=1, description="Layers", layout=w.Layout(width="40%"))
        self.status = w.HTML()
        self.info = w.HTML()
        self.table_out = w.Output(layout=w.Layout(max_height="360px", overflow="auto"))
        self.figure_out = w.Output()
        self.table = pd.DataFrame()
        self._platform_initial = platform
        super().__init__(
            [
                w.HBox([self.source_box, self.open_button]),
                w.HBox([self.platform, self.progress]),
                self.status,
                self.layer,
                self.info,
                w.HBox([self.view_toggle, self.path_filter]),
                self.figure_out,
                self.table_out,
            ]
        )
        self.add_class("imgexplore-explorer")
        self.open_button.on_click(lambda _: self.open_source())
        self._quiet = False
        self.platform.observe(
            lambda change: None if self._quiet else self._load(change["new"]), names="value"
        )
        self.layer.observe(lambda _: None if self._quiet else self.refresh(), names="value")
        self.view_toggle.observe(lambda _: self.refresh(), names="value")
        self.path_filter.observe(lambda _: self.refresh(), names="value")
        if source:
            self.open_source()

    # -- state -----------------------------------------------------------------------------

    @property
    def selected_layer(self) -> int | None:
        return self.layer.value

    @property
    def view(self) -> str:
        return self.view_toggle.value

    def open_source(self) -> None:
        """Read the image named in the box (its platforms first)."""
        from ..opener import list_platforms

        self.status.value = f"opening {html.escape(self.source_box.value)} …"
        try:
            platforms = list_platforms(self.source_box.value)
        except ImgExploreError as exc:
            self._failed(exc)
            return
        choices = [
            p for p, a in zip(platforms["platform"], platforms["attestation"], strict=True) if p and not a
        ]
        wanted = (
            self._platform_initial if self._platform_initial in choices else (choices[0] if choices else None)
        )
        self._quiet = True  # setting the options must not load the image twice
        self.platform.options = choices or ["(single image)"]
        self.platform.value = wanted or "(single image)"
        self._quiet = False
        self._load(self.platform.value)

    def _load(self, platform: str | None) -> None:
        from ..opener import open_image

        if not platform:
            return
        try:
            self.image = open_image(
                self.source_box.value, None if platform == "(single image)" else platform, **self._options
            )
            self.files = self.image.files()
            layers = self.image.layers
            self.progress.max = max(len(layers), 1)
            self.progress.value = 0

            def listed(done: int, count: int) -> None:
                self.progress.value = done
                self.status.value = f"listed layer {done} of {count}"

            self.files.load(on_layer=listed)
        except ImgExploreError as exc:
            self._failed(exc)
            return
        self.status.value = (
            f"{html.escape(self.image.media_type)} · {len(self.image.layers)} layers · "
            f"{len(self.image.history)} steps · digest <code title='{self.image.digest}'>"
            f"{short(self.image.digest)}</code>"
        )
        options = [
            (
                f"{layer.index}: {short(layer.digest)} · {human_bytes(layer.size)} · "
                f"{(layer.created_by or '')[:50]}",
                layer.index,
            )
            for layer in self.image.layers
        ]
        # open on the top layer that holds files (a schema 1 image's top is an empty blob)
        with_files = [i for i, t in enumerate(self.files.tables) if len(t)]
        self._quiet = True
        self.layer.options = options
        self.layer.value = (with_files or list(range(len(options))) or [None])[-1]
        self._quiet = False
        self.refresh()

    def _failed(self, exc: ImgExploreError) -> None:
        """Say what went wrong, and show nothing of the image opened before."""
        self.image = self.files = None
        self._quiet = True
        self.platform.options = []
        self.layer.options = []
        self._quiet = False
        self.info.value = ""
        self.table = pd.DataFrame()
        self.table_out.clear_output()
        self.figure_out.clear_output()
        self.status.value = f"<b>error:</b> {html.escape(str(exc))}"

    def refresh(self) -> None:
        """Redraw the step description, the file table and the figure for the selection."""
        if self.files is None or self.selected_layer is None:
            return
        index = self.selected_layer
        layer = self.image.layers[index]
        step = self.image.history[layer.history_step] if layer.history_step is not None else None
        changes = self.files.changes(index)
        counts = changes["change"].value_counts().to_dict()
        self.info.value = (
            f"<b>layer {index}</b> · step {layer.history_step if step else '–'}: "
            f"<code>{html.escape((step.created_by if step else layer.created_by) or '')}</code><br>"
            f"{'stored as a plain tar' if stored_as([layer.media_type]) == 'uncompressed' else 'compressed'} "
            f"{human_bytes(layer.size)} · files "
            f"{human_bytes(self.files.content_sizes()[index])} · "
            f"{counts.get('added', 0)} added, {counts.get('modified', 0)} modified, {counts.get('deleted', 0)} deleted"
        )
        if self.view == "merged":
            table = self.files.merged(index)
        else:
            table = with_markers_explained(
                self.files.layer(index).assign(layer=index), self.files.markers(), index, changes
            )
        pattern = self.path_filter.value.strip()
        table = filter_paths(table, pattern)
        self.table = table
        shown = show(table[[c for c in TABLE_COLUMNS if c in table]], max_rows=TABLE_ROWS, max_text=80)
        self.table_out.clear_output(wait=True)
        with self.table_out:
            caption = f"{self.view} view after layer {index}" if self.view == "merged" else f"layer {index}"
            more = (
                f" (first {TABLE_ROWS} of {len(table)})"
                if len(table) > TABLE_ROWS
                else f" ({len(table)} entr{'y' if len(table) == 1 else 'ies'})"
            )
            if pattern and not len(table):
                more += (
                    f": nothing matches {html.escape(pattern)!s} — a path prefix (usr/bin) matches a "
                    "folder and what is below it; a glob (*.json, etc/*) matches whole paths"
                )
            display(w.HTML(f"<div class='imgexplore-caption'>{caption}{more}</div>"))
            display(shown)
        self._draw(table, index)

    def _draw(self, table: pd.DataFrame, index: int) -> None:
        from . import plots

        self.figure_out.clear_output(wait=True)
        with self.figure_out:
            title = (
                f"Merged view after layer {index}" if self.view == "merged" else f"Layer {index}"
            ) + ": where the bytes are"
            figure = plots.treemap(table, depth=2, title=title)
            figure.set_size_inches(7.5, 3.2)
            display(figure)


def filter_paths(table: pd.DataFrame, pattern: str) -> pd.DataFrame:
    """The rows whose path matches ``pattern``: a glob (``*.json``, ``etc/*``, ``?``, ``[…]``)
    against the whole path, otherwise a prefix (a folder and everything below it).

    >>> table = pd.DataFrame({"path": ["app", "app/config.json", "etc/motd", "etc/app.json"]})
    >>> list(filter_paths(table, "*.json")["path"]), list(filter_paths(table, "app")["path"])
    (['app/config.json', 'etc/app.json'], ['app', 'app/config.json'])
    """
    import fnmatch

    pattern = pattern.strip().strip("/")
    if not pattern:
        return table
    if any(char in pattern for char in "*?["):
        return table[table["path"].str.match(fnmatch.translate(pattern))]
    return table[(table["path"] == pattern) | table["path"].str.startswith(pattern + "/")]


def with_markers_explained(
    table: pd.DataFrame, markers: pd.DataFrame, index: int, changes: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``table`` (layer ``index``'s entries) with a ``hides`` column: for each whiteout the
    path it deletes, for each opaque marker the directory whose lower contents it hides, and,
    given the layer's ``changes``, the lower entries each one hides with their layer.

    >>> table = pd.DataFrame({"path": ["etc/.wh.motd", "app"]})
    >>> markers = pd.DataFrame({"layer": [3], "path": ["etc/.wh.motd"], "kind": ["whiteout"], "hides": ["etc/motd"]})
    >>> changes = pd.DataFrame({"path": ["etc/motd"], "change": ["deleted"], "prev_layer": [0]})
    >>> list(with_markers_explained(table, markers, 3, changes)["hides"])
    ['deletes etc/motd (from layer 0)', '']
    """
    mine = markers[markers["layer"] == index]
    deleted = (
        changes[changes["change"] == "deleted"]
        if changes is not None
        else pd.DataFrame(columns=["path", "prev_layer"])
    )

    def hidden_below(root: str, *, include_root: bool) -> list[tuple[str, object]]:
        prefix = root + "/" if root else ""
        return [
            (p, layer)
            for p, layer in zip(deleted["path"], deleted["prev_layer"], strict=True)
            if (include_root and p == root) or p.startswith(prefix)
        ]

    def explain(kind: str, hides: str) -> str:
        if kind == "whiteout":
            found = hidden_below(hides, include_root=True)
            if changes is None:
                return f"deletes {hides}"
            if not found:
                return f"deletes {hides} (no lower layer has it)"
            own = next((layer for p, layer in found if p == hides), None)
            text = f"deletes {hides}" + (f" (from layer {own})" if own is not None else "")
            below = len(found) - (own is not None)
            return text + (f" and {below} entr{'y' if below == 1 else 'ies'} below it" if below else "")
        found = hidden_below(hides, include_root=False)
        if changes is None:
            return f"hides what lower layers had in {hides or '/'}"
        if not found:
            return f"hides what lower layers had in {hides or '/'}: nothing"
        listed = ", ".join(f"{p} (layer {layer})" for p, layer in found[:2])
        return (
            f"hides {len(found)} lower entr{'y' if len(found) == 1 else 'ies'} in {hides or '/'}: {listed}"
            + (", …" if len(found) > 2 else "")
        )

    explained = {
        path: explain(kind, hides)
        for path, kind, hides in zip(mine["path"], mine["kind"], mine["hides"], strict=True)
    }
    return table.assign(hides=[explained.get(path, "") for path in table["path"]])
