#!/usr/bin/env python3
"""Write the notebooks in notebooks/ from the cell lists below (committed without outputs).

Keeping the source here makes notebook changes reviewable as plain diffs; rerun after editing:
    python scripts/make_notebooks.py
"""

from __future__ import annotations

import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "notebooks")


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str, tags: tuple[str, ...] = ()):
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


NOTEBOOKS = {
    "00_explorer.ipynb": [
        md("""
# 00 · Explore any image

An interactive explorer: type a path or a registry reference and press **Open**. Pick a
platform (for multi-platform images) and a layer; the table lists that layer's entries, or
with **merged** the whole filesystem as it stands after that layer. The path box filters
both, and the treemap follows the selection.

Layer blobs are read when you open the image (a progress bar counts them); their tables are
cached, so opening the same image again is instant.
"""),
        code(
            """
# Parameters: a path, or a registry reference such as "docker.io/library/centos:7"
IMAGE = "../data/teaching/oci"
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt  # activates inline figures

from imgexplore.viz.widgets import Explorer

explorer = Explorer(IMAGE)
explorer
"""),
        md("""
The explorer is an ordinary Python object too: what it shows is in `explorer.table`, and the
image behind it in `explorer.image`.
"""),
        code("""
explorer.table.head(10)
"""),
    ],
    "01_what_docker_pull_downloads.ipynb": [
        md("""
# 01 · What `docker pull` downloads

A pull fetches two kinds of things from a registry: a **manifest** (a small JSON document that
names everything else) and **blobs** (the image config and one compressed tar per layer),
each addressed by the sha256 digest of its bytes.

This notebook opens the bundled *teaching* image and looks at both, first as the modern
Docker schema 2 manifest, then as the old schema 1 manifest of the same image. It runs
offline on `data/`; the parameters cell below names the image.
"""),
        code(
            """
# Parameters: change IMAGE to a registry reference (e.g. "docker.io/library/centos:7")
# to run this notebook against a live registry.
IMAGE = "../data/teaching/oci"
SCHEMA1_MANIFEST = "../data/teaching/schema1.json"
REFERENCE = "docker.io/library/teaching:latest"  # the name the registry URLs below use
""",
            tags=("parameters",),
        ),
        code("""
import json

import imgexplore
from imgexplore import mediatypes

image = imgexplore.open_image(IMAGE)
image
"""),
        md("""
## The manifest, as it came over the wire

The manifest names the config blob and the layer blobs with their media types, sizes and
digests. Its own digest is the sha256 of these exact bytes: change one space and it is a
different manifest.
"""),
        code("""
print(image.manifest.raw.decode())
print("manifest digest:", image.digest)
"""),
        md("""
## What a registry is asked

A pull is a handful of HTTP requests to the registry's API: the manifest by tag, then each
blob by digest. For the teaching image under the name below, these are the URLs:
"""),
        code("""
from imgexplore.registry import pull_urls

pull_urls(REFERENCE, image)
"""),
        md("""
When `IMAGE` is a registry reference, `image.transcript` lists the requests really made so
far, including the `401` challenge and the token request (tokens and passwords masked).
Reading a local folder makes none.
"""),
        code("""
image.transcript if image.transcript is not None else "a local image: no requests were made"
"""),
        md("""
## The config and its history

The config blob holds the runtime settings and the **history**: one entry per Dockerfile
instruction. Instructions that only change metadata (`ENV`, `LABEL`, `CMD`, `EXPOSE`,
`WORKDIR`) make no layer; schema 2 marks them `empty_layer: true`.
"""),
        code("""
image.history_table()[["step", "created_by", "empty_layer", "layer_index"]]
"""),
        md("""
## Layers

Each layer has a **digest** (of the compressed blob, what the registry stores), a
**diff_id** (of the uncompressed tar, what the config lists) and a **chain id**, which
names the whole stack of layers up to and including it:
`ChainID(L1) = DiffID(L1)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
"""),
        code("""
image.layers_table()[["index", "digest", "size", "diff_id", "chain_id", "empty"]]
"""),
        md("""
## The same image as a schema 1 manifest

Schema 1, the format registries served before 2016, has no separate config. It lists one
`fsLayers` entry **per history step**, newest first, and needs a blob even for steps that
changed no files. For those it uses a 32-byte gzip of an empty tar,
`sha256:a3ed95caeb02…`, again and again.
"""),
        code("""
schema1 = imgexplore.open_image(SCHEMA1_MANIFEST, blobs="../data/teaching/oci")
doc = json.loads(schema1.manifest.raw)
for layer, entry in zip(doc["fsLayers"], doc["history"]):
    v1 = json.loads(entry["v1Compatibility"])
    print(layer["blobSum"][:19], "throwaway" if v1.get("throwaway") else "         ",
          v1["container_config"]["Cmd"][0][:60])
"""),
        md("""
## Opening the 32-byte blob

It is a gzip stream that unpacks to 1024 zero bytes: the two zero blocks that end every
tar archive, i.e. an empty tar. Its uncompressed digest `sha256:5f70bf18…` is the diff_id
of every empty layer, whichever tool compressed it.
"""),
        code("""
empty = schema1.layers[1]
raw_blob = empty.open_blob().read()
tar_bytes = empty.open_tar().read()
print("digest:     ", empty.digest)
print("blob bytes: ", len(raw_blob), raw_blob.hex())
print("tar bytes:  ", len(tar_bytes), "all zero:", tar_bytes == bytes(1024))
print("diff_id:    ", empty.compute_diff_id()[0])
print("same as the well-known empty diff_id:", empty.compute_diff_id()[0] == mediatypes.EMPTY_LAYER_DIFF_ID)
"""),
        md("""
## Schema 1 and schema 2 describe the same filesystem

Schema 2 drops the empty blobs and marks the steps `empty_layer` instead. Computing the
diff_ids of the schema 1 layers (skipping the `throwaway` ones) gives the same chain id
for the top of the image as the schema 2 manifest.
"""),
        code("""
schema1.compute_diff_ids()
top_schema1 = [layer.chain_id for layer in schema1.layers if layer.chain_id][-1]
print("schema 1 top chain id:", top_schema1)
print("schema 2 top chain id:", image.layers[-1].chain_id)
print("equal:", top_schema1 == image.layers[-1].chain_id)
"""),
    ],
    "02_layer_dag.ipynb": [
        md("""
# 02 · The layer DAG, recovered from history

An image is a stack of layers; images built on the same base share the bottom of their
stacks. This notebook recovers that structure from the manifests alone, first from a
schema 1 manifest's `id`/`parent` chain, then from chain ids, then across images.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
SCHEMA1_MANIFEST = "../data/teaching/schema1.json"
OTHER_IMAGE = "../data/derived/oci"
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt

import imgexplore
from imgexplore.analysis import dag
from imgexplore.viz import plots
"""),
        md("""
## Schema 1: one node per history step

Every `v1Compatibility` entry carries an `id` and the `id` of its `parent`. Following them
gives a chain from the base to the top. The blob digests cannot be used for this: all the
metadata-only steps point at the same 32-byte empty blob.
"""),
        code("""
schema1 = imgexplore.open_image(SCHEMA1_MANIFEST, blobs="../data/teaching/oci")
chain = dag.image_dag(schema1)
rows = [(d["step"], d["v1_id"][:12], (d["parent"] or "")[:12], d["digest"][:19], d["throwaway"])
        for _, d in sorted(chain.nodes(data=True), key=lambda item: item[1]["step"])]
import pandas as pd
pd.DataFrame(rows, columns=["step", "id", "parent", "blobSum", "throwaway"])
"""),
        md("""
## Chain ids: naming a whole stack

A layer's diff_id names its own content; its **chain id** names the layer *and everything
below it*: `ChainID(L1) = DiffID(L1)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
Two images share a layer only if they share its chain id. Schema 1 records no diff_ids, so
they are computed here by decompressing the layers; when `SCHEMA1_MANIFEST` and `IMAGE` are
the same image (as the sample files are), both columns agree.
"""),
        code("""
schema1.compute_diff_ids()
image = imgexplore.open_image(IMAGE)
from_schema1 = [d["chain_id"] for d in dag.layer_chain(dag.image_dag(schema1))]
from_config = [d["chain_id"] for d in dag.layer_chain(dag.image_dag(image))]
print("the same chain ids:", from_schema1 == from_config)
pd.DataFrame({
    "schema 1 (computed)": pd.Series(from_schema1).str[:19],
    "schema 2 (from the config)": pd.Series(from_config).str[:19],
})
"""),
        md("""
## The same image as schema 2

Schema 2 keys layers by chain id; the history steps hang off them: a step that made a layer
points at it, a metadata-only step sits beside the layer that was on top when it ran.
"""),
        code("""
plots.dag(dag.image_dag(image), title="Layers and the history steps that made them")
"""),
        md("""
## Several images sharing a base

Merging by chain id turns the shared base layers into shared nodes; each image is a path
from `scratch` to its top. The table says which layers are shared, and how many bytes a
registry or a host saves by storing them once.
"""),
        code("""
other = imgexplore.open_image(OTHER_IMAGE)
merged = dag.merge_dags([image, other], ["IMAGE", "OTHER_IMAGE"])
table = dag.shared_layers(merged)
print(dag.sharing_summary(merged))
table[["digest", "size", "images", "bytes_saved"]].assign(digest=table["digest"].str[:19])
"""),
        code("""
plots.dag(merged, title="Two images sharing their base layers")
"""),
    ],
    "03_layer_sizes.ipynb": [
        md("""
# 03 · Layer sizes

A layer has two sizes: the compressed blob a pull downloads, and the uncompressed tar that
lands on disk. Metadata-only steps add nothing. Multi-platform images share some layers
between platforms.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
MULTI_PLATFORM_IMAGE = "../data/multiarch/oci"
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt

import imgexplore
from imgexplore.analysis import dag
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
uncompressed = [table.attrs["tar_size"] for table in image.files().tables]
"""),
        md("""
## Compressed and uncompressed, per layer
"""),
        code("""
layers = image.layers_table().assign(uncompressed=uncompressed)
layers[["index", "size", "uncompressed", "empty", "created_by"]]
"""),
        code("""
plots.layer_sizes(image.layers_table(), uncompressed)
"""),
        md("""
## Size step by step

The aligned table has one row per history step with the layer it made, if any; summing the
sizes step by step shows which instructions made the image big.
"""),
        code("""
aligned = dag.aligned_table(image, uncompressed)
plots.cumulative_size(aligned)
"""),
        md("""
## Across platforms

An index lists one image per platform. Layers that hold no machine code (here, the web
site) can be shared by every platform.
"""),
        code("""
platforms = imgexplore.list_platforms(MULTI_PLATFORM_IMAGE)
images = [imgexplore.open_image(MULTI_PLATFORM_IMAGE, p)
          for p, attestation in zip(platforms["platform"], platforms["attestation"]) if not attestation]
matrix = dag.platform_matrix(images)
matrix
"""),
        code("""
plots.platform_matrix(matrix)
"""),
    ],
    "04_file_trees.ipynb": [
        md("""
# 04 · What each layer adds, changes and deletes

A layer is a tar of the files that changed. Deletions are files too: `.wh.NAME` hides `NAME`
in the layers below, and `.wh..wh..opq` hides everything a directory held below. This
notebook reads the teaching image, which was built to show each of these.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
LAYER = None  # the layer to look at closely; None: the one that modifies or deletes the most
PATH = None  # the file whose history to follow; None: the one the most layers touch
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt

import imgexplore
from imgexplore.output import octal_modes
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
files = image.files()
layer = LAYER if LAYER is not None else (files.most_changed_layer() or 0)
path = PATH or files.most_changed_path()
print(f"looking closely at layer {layer}; following {path}")
"""),
        md("""
## One layer's entries

On the teaching image that is layer 3: it overwrites `app/config.json` and deletes a file
and a directory with two whiteouts. Its tar holds the new file and the two `.wh.` markers.
"""),
        code("""
octal_modes(files.layer(layer)[["path", "type", "size", "mode", "whiteout", "opaque"]])  # modes as 0755, not 493
"""),
        md("""
Against the merged view below it, each path is added, modified (content or only metadata)
or deleted — a whiteout deletes the path and everything under it.
"""),
        code("""
files.changes(layer)
"""),
        md("""
## Every whiteout and opaque marker

`hides` is what the marker removes from the layers below: a path (whiteout) or the old
contents of a directory (opaque). On the teaching image, layer 4 empties `/var/cache/apt` and
writes a new `README` into it; the opaque marker hides what the *lower* layers had there,
wherever it stands in the tar (here, after the README), so the layer's own file survives.
"""),
        code("""
markers = files.markers()
markers
"""),
        code("""
opaque = markers.loc[markers["kind"] == "opaque", "layer"]
files.changes(int(opaque.iloc[0])) if len(opaque) else print("no opaque directory in this image")
"""),
        md("""
## The merged view

What a container sees after all layers: one row per visible path, with the layer it comes
from.
"""),
        code("""
merged = files.merged()
print(len(merged), "visible paths")
merged[["path", "type", "size", "layer"]].tail(12)
"""),
        md("""
## Wasted space

A file copy that a later layer overwrites or deletes still ships with the image but can
never be seen. (A copy still reachable through a hardlink of its own layer is not wasted.)
"""),
        code("""
per_layer, summary = files.waste()
print(summary["explanation"])
per_layer[["layer", "files", "file_bytes", "wasted_files", "wasted_bytes", "superseded_by"]]
"""),
        code("""
plots.waste(per_layer)
"""),
        md("""
## The lineage of one file

Every layer that touched a path, with the build step that did it.
"""),
        code("""
files.lineage(path)[["layer", "change", "detail", "size", "created_by"]]
"""),
        md("""
## Where the bytes are
"""),
        code("""
plots.treemap(merged, depth=2)
"""),
    ],
    "05_compare_images.ipynb": [
        md("""
# 05 · Comparing two images

Two images built from the same base: which layers they share (by chain id), how their
runtime settings and history differ, and which files differ between their final
filesystems.
"""),
        code(
            """
IMAGE_A = "../data/teaching/oci"
IMAGE_B = "../data/derived/oci"
""",
            tags=("parameters",),
        ),
        code("""
import imgexplore
from imgexplore.analysis.compare import compare_images

a = imgexplore.open_image(IMAGE_A)
b = imgexplore.open_image(IMAGE_B)
result = compare_images(a, b, files=True)
"""),
        md("""
## Layers

`both` means the same content on the same base: the same chain id.
"""),
        code("""
layers = result["layers"]
layers.assign(chain_id=layers["chain_id"].str[:19], digest=layers["digest"].str[:19])
"""),
        md("""
## Runtime settings
"""),
        code("""
result["config"]
"""),
        md("""
## History, step by step
"""),
        code("""
result["history"]
"""),
        md("""
## Files of the two final filesystems
"""),
        code("""
changed = result["files"]
print(changed["change"].value_counts().to_dict())
changed.head(15)
"""),
    ],
    "06_report_figures.ipynb": [
        md("""
# 06 · Figures for a report

Every figure is a function of the library's tables, so it looks the same each time it is
drawn. `plots.save` writes PNG, SVG and PDF with one call; `build_report` writes every table
and figure of an image with an `index.html`.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
OUTPUT = "figures"
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt

import imgexplore
from imgexplore.analysis import dag
from imgexplore.report import build_report
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
files = image.files()
uncompressed = [table.attrs["tar_size"] for table in files.tables]
"""),
        md("""
## One call per figure
"""),
        code("""
figures = {
    "layer_sizes": plots.layer_sizes(image.layers_table(), uncompressed),
    "cumulative_size": plots.cumulative_size(dag.aligned_table(image, uncompressed)),
    "waste": plots.waste(files.waste()[0]),
    "history_timeline": plots.history_timeline(image.history_table()),
    "dag": plots.dag(dag.image_dag(image)),
    "treemap": plots.treemap(files.merged()),
}
written = []
for name, figure in figures.items():
    written += plots.save(figure, f"{OUTPUT}/{name}")
print(len(written), "files, e.g.", written[:3])
"""),
        code("""
figures["history_timeline"]
"""),
        md("""
## The whole report
"""),
        code("""
result = build_report(image, f"{OUTPUT}/report")
print(len(result["tables"]), "tables,", len(result["figures"]), "figure files; open", result["index"])
"""),
    ],
    "07_corpus.ipynb": [
        md("""
# 07 · Many images at once: layer sharing and file duplication

Studies of Docker Hub (Zhao et al., *Large-Scale Analysis of the Docker Hub Dataset*, IEEE
CLUSTER 2019) found that layers are widely shared between images and that only a small share
of files is unique. Corpus mode asks the same questions of any list of images: it scans
them on Dask (a local cluster here, or an existing one), writes a Parquet dataset that a
rerun resumes, and answers from those tables.

The list below is the bundled sample images; a text file of references, or
`registry_specs("localhost:5000")` for a whole registry, works the same way.
"""),
        code(
            """
IMAGES = [
    "../data/teaching/oci",
    "../data/derived/oci",
    "../data/multiarch/oci",
    "../data/multiarch/docker-save.tar",
    "../data/teaching/docker-save.tar",
]
OUTPUT = "figures/corpus-dataset"
WORKERS = 2
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt

from imgexplore import corpus
from imgexplore.viz import plots

report = corpus.scan(IMAGES, OUTPUT, files=True, hash_files=True, workers=WORKERS)  # progress bars while it runs
print(report)
tables = corpus.load(OUTPUT)
{name: len(table) for name, table in tables.items()}
"""),
        md("""
## Layer sharing

How many images use each layer, and the bytes a registry saves by storing a shared layer
once. (`docker save` archives hold uncompressed layers, so they share content but not
digests with the layouts of the same images.)
"""),
        code("""
sharing = corpus.layer_sharing(tables)
print(corpus.analysis.sharing_summary(tables))
sharing.assign(digest=sharing["digest"].str[:19])[["digest", "images", "size", "bytes_saved", "created_by"]].head(8)
"""),
        md("""
## File-level duplication

Across the unique layers, how many regular files have content that appears nowhere else,
and how many more bytes deduplicating by file would save on top of sharing layers.
"""),
        code("""
corpus.file_duplication(tables)
"""),
        md("""
## Metadata-only steps

The share of history steps that made no layer (ENV, LABEL, CMD, …).
"""),
        code("""
print(f"{corpus.metadata_only_share(tables):.0%} of the history steps made no layer")
"""),
        md("""
## Distributions
"""),
        code("""
samples = corpus.distributions(tables)
plots.cdf(samples["layer compressed size (bytes)"], "layer compressed size (bytes)")
"""),
        code("""
plots.cdf(samples["compression ratio"], "compression ratio (uncompressed / compressed)")
"""),
    ],
}


def main(out: str = OUT) -> None:
    os.makedirs(out, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        for number, cell in enumerate(nb.cells):
            cell.id = f"cell-{number:02d}"  # stable ids: regenerating changes nothing
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        with open(os.path.join(out, name), "w") as f:
            nbformat.write(nb, f)
    print(f"wrote {len(NOTEBOOKS)} notebooks to {os.path.abspath(out)}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
