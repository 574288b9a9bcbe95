"""``imgexplore report``: every table (CSV) and figure (PNG and SVG) for one image, and an
``index.html`` that shows them together."""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from .present import human_bytes

if TYPE_CHECKING:
    from .image import Image

PREVIEW_ROWS = 25


def report_figures(image: Image) -> dict:
    """Every figure of an image's report, by name: the ones ``imgexplore report`` writes.
    The file views they draw on are the image's own, computed once and kept."""
    from .analysis import dag
    from .viz import plots

    files = image.files()
    content = files.content_sizes()
    return {
        "layer_sizes": plots.layer_sizes(image.layers_table(), content, title="Layer sizes"),
        "cumulative_size": plots.cumulative_size(dag.aligned_table(image, content)),
        "waste": plots.waste(files.waste()[0]),
        "history_timeline": plots.history_timeline(image.history_table()),
        "dag": plots.dag(dag.image_dag(image), title="Layer DAG"),
        "treemap": plots.treemap(files.merged(), depth=2),
        "stacking": plots.stacking(files),
    }


def build_report(
    image: Image, out_dir: str | os.PathLike, *, formats: tuple[str, ...] = ("png", "svg")
) -> dict:
    """Write the report; returns ``{"tables": [...], "figures": [...], "index": path}``."""
    from .analysis import dag
    from .folders import make_folder
    from .viz import plots

    out = os.fspath(out_dir)
    files = image.files()
    tables_by_layer = files.tables
    uncompressed = files.content_sizes()  # the files' bytes, as docker history counts a layer
    tar_sizes = [t.attrs.get("tar_size", -1) for t in tables_by_layer]
    per_layer, summary = files.waste()
    merged = files.merged()
    aligned = dag.aligned_table(image, uncompressed)
    tables = {
        "layers": image.layers_table().assign(content_bytes=uncompressed, tar_bytes=tar_sizes),
        "history": image.history_table(),
        "aligned": aligned,
        "files_merged": merged,
        "changes": files.changes(),
        "waste_per_layer": per_layer,
        "duplicates": files.duplicates(),
        "directories": files.directory_sizes(max_depth=3),
    }
    if image.transcript is not None:
        tables["transcript"] = image.transcript
    figures = report_figures(image)
    # Everything is written to a temporary folder first and moved into place only when all
    # of it is written: a report that fails halfway leaves no half a report behind.
    make_folder(out, "report folder")
    staging = tempfile.mkdtemp(prefix=".report-", dir=out)
    try:
        staged = []
        for name, table in tables.items():
            table.to_csv(os.path.join(staging, f"{name}.csv"), index=False)
            staged.append(f"{name}.csv")
        for name, figure in figures.items():
            staged += [os.path.basename(p) for p in plots.save(figure, os.path.join(staging, name), formats)]
        with open(os.path.join(staging, "index.html"), "w", encoding="utf-8") as f:
            f.write(_index_html(image, summary, tables, figures))
        for name in staged + ["index.html"]:
            os.replace(os.path.join(staging, name), os.path.join(out, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "tables": [os.path.join(out, f"{name}.csv") for name in tables],
        "figures": [os.path.join(out, name) for name in staged if not name.endswith(".csv")],
        "index": os.path.join(out, "index.html"),
    }


def preview_html(table) -> str:
    """A table as HTML that fits a page: digests shortened (the whole value on hover), long
    text cut (whole on hover), missing values as ``unknown`` rather than NaN/None/-1 mixed.

    >>> import pandas as pd
    >>> print(preview_html(pd.DataFrame({"digest": ["sha256:" + "ab" * 32], "size": [-1]})))
    <table><thead><tr><th>digest</th><th>size</th></tr></thead><tbody><tr><td><code title='sha256:abababababababababababababababababababababababababababababababab'>sha256:abababababab</code></td><td>unknown</td></tr></tbody></table>
    """
    import re

    import pandas as pd

    from .digest import short

    def cell(column: str, value) -> str:
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return "unknown"
        if column in ("size", "uncompressed_size", "content_bytes", "tar_bytes") and value == -1:
            return "unknown"
        text = str(value)
        if re.fullmatch(r"sha256:[0-9a-f]{64}", text):
            return f"<code title='{text}'>{html.escape(short(text))}</code>"
        if len(text) > 80:
            return f"<span title='{html.escape(text)}'>{html.escape(text[:79])}…</span>"
        return html.escape(text)

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{cell(str(c), v)}</td>" for c, v in zip(table.columns, row, strict=True))
        + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _index_html(image: Image, summary: dict, tables: dict, figures: dict) -> str:
    title = html.escape(image.name or image.source.location)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>imgexplore report: {title}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".scroll{overflow-x:auto}pre{white-space:pre-wrap;overflow-wrap:anywhere}"
        "img{max-width:100%;border:1px solid #eee}code{font-size:12px}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<pre>{html.escape(image.summary())}</pre>",
        f"<p>{html.escape(summary['explanation'])}</p>",
        f"<p>Wasted: {human_bytes(summary['wasted_bytes'])} ({summary['wasted_bytes']:,} bytes) of "
        f"{human_bytes(summary['file_bytes_all_layers'])} of files in all layers; "
        f"efficiency {summary['efficiency']:.1%}.</p>",
        "<h2>Figures</h2>",
    ]
    for name in figures:
        parts.append(
            f"<h3>{html.escape(name.replace('_', ' '))}</h3>"
            f"<a href='{name}.svg'><img src='{name}.png' alt='{html.escape(name)}'></a>"
        )
    parts.append("<h2>Tables</h2>")
    for name, table in tables.items():
        more = f" (first {PREVIEW_ROWS} of {len(table)} rows)" if len(table) > PREVIEW_ROWS else ""
        parts.append(
            f"<h3>{html.escape(name.replace('_', ' '))}{more} — <a href='{name}.csv'>{name}.csv</a></h3>"
        )
        parts.append(f"<div class='scroll'>{preview_html(table.head(PREVIEW_ROWS))}</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
