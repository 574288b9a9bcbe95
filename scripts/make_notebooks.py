#!/usr/bin/env python3
"""Write the notebooks in notebooks/ from the cell lists below (committed without outputs).

Keeping the source here makes notebook changes reviewable as plain diffs; rerun after editing:
    python scripts/make_notebooks.py
"""

from __future__ import annotations

import os

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
}


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        with open(os.path.join(OUT, name), "w") as f:
            nbformat.write(nb, f)
    print(f"wrote {len(NOTEBOOKS)} notebooks to {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()
