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

from imgexplore.tables import show
from imgexplore.viz.widgets import Explorer

explorer = Explorer(IMAGE)
explorer
"""),
        md("""
The explorer is an ordinary Python object too: what it shows is in `explorer.table`, and the
image behind it in `explorer.image`.
"""),
        code("""
show(explorer.table, max_rows=10)
"""),
    ],
    "01_what_docker_pull_downloads.ipynb": [
        md("""
# 01 · What `docker pull` downloads

A pull fetches two kinds of things from a registry: **manifests** (small JSON documents that
name everything else) and **blobs** (the image config and one compressed tar per layer),
each addressed by the sha256 digest of its bytes.

This notebook does a pull **by hand**, with plain `httpx` calls you can read and re-type,
against the image `IMAGE` names, then takes apart what came back: the manifest, the config,
a layer, the chain ids, the schema 1 form of the same image and its 32-byte empty layers.
`IMAGE` is the only thing to change.
"""),
        code(
            """
# Parameters: a registry reference ("docker.io/library/alpine:3.20", "ghcr.io/org/app:1.0",
# "127.0.0.1:5000/class/app:1") or a local image (an OCI layout folder, a docker save tarball)
IMAGE = "../data/teaching/oci"
""",
            tags=("parameters",),
        ),
        md("""
## Where the image lives

A registry reference is pulled from its own registry. A local image has no registry, so it
is first put on a throwaway registry on this machine (127.0.0.1 only, stopped with the
kernel): Debian's `docker-registry` when it is installed, otherwise imgexplore's own
read-only server. The cell says which. Everything below is then a real pull over HTTP.
"""),
        code("""
import hashlib
import json
import tarfile
import tempfile

import httpx
import pandas as pd

import imgexplore
from imgexplore import mediatypes
from imgexplore.compression import open_decompressed
from imgexplore.registry import byhand
from imgexplore.registry.local import serve_image
from imgexplore.tables import show

if imgexplore.open_source(IMAGE).kind == "registry":
    REFERENCE, local_registry = IMAGE, None
    print(f"{IMAGE} is a registry reference: pulling it from its registry")
else:
    local_registry, REFERENCE = serve_image(IMAGE, "lesson/image:latest")
    print(f"{IMAGE} is a local image: pushed to {local_registry.kind} on {local_registry.host}")
ref = imgexplore.parse_reference(REFERENCE)
BASE = byhand.base_url(ref.api_host)  # https, except for a registry on this machine
REPO = ref.repository
print("reference: ", REFERENCE)
print("API root:  ", f"{BASE}/v2/")
print("repository:", REPO, "| tag or digest:", ref.identifier)
"""),
        md("""
## 1. Is this a V2 registry? `GET /v2/`

Every pull starts here. `200` means anyone may pull. `401` comes with a `WWW-Authenticate`
challenge: a `Bearer` realm (the token service's URL), the `service` to name, sometimes a
scope. Every request below goes through one `httpx.Client` whose event hooks keep a log.
"""),
        code("""
log = byhand.RequestLog()
http = httpx.Client(follow_redirects=False, timeout=60, event_hooks=log.hooks)

ping = http.get(f"{BASE}/v2/")
print("GET", ping.url, "->", ping.status_code)
challenge = byhand.parse_challenge(ping.headers.get("www-authenticate", ""))
if challenge:
    print("WWW-Authenticate:", challenge.scheme)
    for key, value in challenge.params.items():
        print(f"  {key:8} {value}")
elif ping.status_code == 200:
    print("no challenge: this registry lets anyone pull, so no token is needed")
"""),
        md("""
## 2. A token for `repository:NAME:pull`

With a Bearer challenge, the client asks the realm for a token scoped to pulling this one
repository (a private repository would also want your login on this request). The token is
a bearer credential: it is never printed here, but when it is a JWT its claims can be read.
"""),
        code("""
auth = {}
if challenge and challenge.scheme == "bearer" and ping.status_code == 401:
    scope = f"repository:{REPO}:pull"
    answer = http.get(challenge.realm, params={"service": challenge.params.get("service", ""), "scope": scope})
    print("GET", answer.url, "->", answer.status_code)
    body = answer.json()
    token = body.get("token") or body.get("access_token")
    auth = {"Authorization": f"Bearer {token}"}
    claims = byhand.jwt_claims(token)
    print(json.dumps(claims, indent=1) if claims else "an opaque token (not a JWT): nothing to decode")
elif challenge and challenge.scheme == "basic":
    print("this registry wants a user name and password (Basic auth); this notebook pulls anonymously")
else:
    print(f"/v2/ answered {ping.status_code}: no token requested")
"""),
        md("""
## 3. The manifest, by tag

The `Accept` header lists every manifest format the client understands; the registry
answers with one of them and says which in `Content-Type`. `Docker-Content-Digest` is the
manifest's name: the sha256 of its bytes (for a signed schema 1 manifest, of its payload:
see below). A client checks it before trusting anything the manifest says.
"""),
        code("""
ACCEPT = ", ".join(byhand.MANIFEST_ACCEPT + byhand.SCHEMA1_ACCEPT)
manifest_url = f"{BASE}/v2/{REPO}/manifests/{ref.identifier}"
answer = http.get(manifest_url, headers={**auth, "Accept": ACCEPT})
print("GET", answer.url, "->", answer.status_code)
print("Accept:                 ", ACCEPT.replace(", ", ",\\n                         "))
print("Content-Type:           ", answer.headers.get("content-type"))
print("Docker-Content-Digest:  ", answer.headers.get("docker-content-digest"))
print("sha256 of the body:      sha256:" + hashlib.sha256(answer.content).hexdigest(), f"({len(answer.content)} bytes)")
top = imgexplore.parse_manifest(answer.content, answer.headers.get("content-type"))
print("digest imgexplore reads: ", top.digest)
"""),
        code("""
lines = answer.text.splitlines()
for line in lines[:40]:
    print(line if len(line) <= 110 else line[:110] + " …")
print(f"… {len(lines) - 40} more lines" if len(lines) > 40 else "")
"""),
        md("""
`HEAD` asks the same question without the body: the digest and size come back as headers.
Clients use it to see whether a tag still points where it did (Docker Hub does not count a
`HEAD` as a pull).
"""),
        code("""
head = http.head(manifest_url, headers={**auth, "Accept": ACCEPT})
print("HEAD", head.url, "->", head.status_code)
print("Docker-Content-Digest:", head.headers.get("docker-content-digest"))
print("Content-Length:", head.headers.get("content-length"), "| body bytes received:", len(head.content))
"""),
        md("""
## 4. An index names one manifest per platform

A multi-platform image answers with an index (a manifest list); the client picks its
platform and fetches that manifest by digest. A single-platform image needs no such step.
"""),
        code("""
image = imgexplore.open_image(REFERENCE)  # the library's own pull of the metadata, for the tables below
if isinstance(top, imgexplore.IndexManifest):
    print(pd.DataFrame([(str(d.platform or ""), d.media_type, d.digest) for d in top.manifests],
                       columns=["platform", "media type", "digest"]).to_string())
    print(f"\\nthe platform chosen: {image.platform}; its manifest:")
    answer = http.get(f"{BASE}/v2/{REPO}/manifests/{image.digest}", headers={**auth, "Accept": ACCEPT})
    print("GET", answer.url, "->", answer.status_code, answer.headers.get("content-type"))
    manifest = imgexplore.parse_manifest(answer.content, answer.headers.get("content-type"))
    print("asked for", image.digest, "| got", manifest.digest, "| equal:", manifest.digest == image.digest)
else:
    manifest = top
    print(f"{REFERENCE} names a single image manifest ({top.media_type}): no index, no second request")
"""),
        md("""
## 5. The config blob

Blobs are fetched by digest from `/v2/NAME/blobs/DIGEST`. Big registries answer a blob
request with a redirect to storage on another host; the client follows it itself and does
**not** send the registry's token there. The function below does that and prints each hop.
"""),
        code("""
def get_blob(digest):
    \"\"\"GET a blob, following redirects by hand; the token goes to the registry only.\"\"\"
    url, headers = f"{BASE}/v2/{REPO}/blobs/{digest}", auth
    while True:
        response = http.send(http.build_request("GET", url, headers=headers), stream=True)
        print("GET", byhand.mask_url(url), "->", response.status_code)
        if not response.is_redirect:
            return response
        response.close()
        url = str(response.url.join(response.headers["location"]))
        headers = auth if url.startswith(BASE + "/") else {}  # another host: no Authorization
        print("   redirected to", byhand.mask_url(url), "(sent without Authorization)" if not headers else "")


if isinstance(manifest, imgexplore.Schema1Manifest):
    config = None
    print("schema 1 has no config blob: its newest history entry carries the configuration")
else:
    response = get_blob(manifest.config.digest)
    config_bytes = response.read()
    computed = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    print(len(config_bytes), "bytes; sha256", computed, "| equals the digest:", computed == manifest.config.digest)
    config = json.loads(config_bytes)
    print("top-level keys:", ", ".join(config))
    print("history steps:", len(config.get("history", [])), "| diff_ids:", len(config.get("rootfs", {}).get("diff_ids", [])))
"""),
        md("""
## 6. A layer blob, downloaded

This is what most of a pull's time goes to. The smallest layer that holds files is downloaded
here, hashed while it streams in, and compared with its digest; then its first tar entries
are listed (after gunzip or zstd, whichever the bytes' magic number says).
"""),
        code("""
if isinstance(manifest, imgexplore.Schema1Manifest):
    layer_sizes = {step.blob_sum: -1 for step in manifest.steps}  # schema 1 records no sizes
else:
    layer_sizes = {d.digest: d.size for d in manifest.layers}
with_files = [d for d in layer_sizes if d not in mediatypes.EMPTY_LAYER_DIGESTS] or list(layer_sizes)
layer_digest = min(with_files, key=lambda d: layer_sizes[d] if layer_sizes[d] >= 0 else float("inf"))

sha256, received = hashlib.sha256(), 0
response = get_blob(layer_digest)
with tempfile.TemporaryFile() as blob:
    for chunk in response.iter_bytes(1 << 20):
        sha256.update(chunk)
        blob.write(chunk)
        received += len(chunk)
    response.close()
    print(f"received {received:,} bytes")
    print("sha256 computed here: sha256:" + sha256.hexdigest())
    print("the digest asked for:", layer_digest)
    print("equal:", "sha256:" + sha256.hexdigest() == layer_digest)
    blob.seek(0)
    stream, compression = open_decompressed(blob, what=f"layer {layer_digest}")
    print(f"\\ncompression (from the magic number): {compression}; first entries of the tar:")
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for number, member in enumerate(tar):
            if number == 10:
                print("  …")
                break
            kind = "dir " if member.isdir() else "link" if member.issym() or member.islnk() else "file"
            print(f"  {kind} {member.size:>9,}  {member.name}")
"""),
        md("""
## The whole exchange

Every request this notebook made, with the whole URL it used (query values that carry
secrets, such as a storage URL's signature, are masked), then the same as `curl` commands
to paste in a shell.
"""),
        code("""
for row in log.table().itertuples():
    print(f"{row.method:4} {row.status}  {row.url}")
"""),
        code("""
print("\\n".join(log.curl()))
"""),
        md("""
The library's own requests, made when it opened the image for the tables below (tokens and
passwords masked; a blob already in its cache is not fetched again):
"""),
        code("""
print(image.transcript[["method", "status", "url", "bytes"]].to_string(max_colwidth=120))
"""),
        md("""
## The config and its history

The config holds the runtime settings and the **history**: one entry per build step.
Steps that only change metadata (`ENV`, `LABEL`, `CMD`, …) make no layer; schema 2 marks
them `empty_layer: true`.
"""),
        code("""
history = image.history_table()
print(f"{len(history)} steps, {int(history['empty_layer'].sum())} of them metadata-only")
show(history[["step", "created", "created_by", "empty_layer", "layer_index"]])
"""),
        md("""
## Chain ids, by hand

Each layer has a **digest** (of the compressed blob the registry stores), a **diff_id**
(of the uncompressed tar, what the config lists) and a **chain id**, which names the layer
*with everything below it*: `ChainID(L1) = DiffID(L1)`,
`ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`. Computed here with `hashlib` and
checked against the library's column (schema 1 records no diff_ids: they are computed first
by decompressing the layers).
"""),
        code("""
if any(layer.diff_id is None for layer in image.layers):
    image.compute_diff_ids()
rows, chain = [], None
for layer in image.layers:
    if layer.throwaway:
        continue
    chain = layer.diff_id if chain is None else "sha256:" + hashlib.sha256(f"{chain} {layer.diff_id}".encode()).hexdigest()
    rows.append((layer.index, layer.diff_id, chain, layer.chain_id, chain == layer.chain_id))
show(pd.DataFrame(rows, columns=["layer", "diff_id", "chain id by hand", "library's chain_id", "equal"]))
"""),
        md("""
## The same image as schema 1

Schema 1, what registries served before 2016, has no config blob. It lists one `fsLayers`
entry **per history step**, newest first, and pairs `fsLayers[i]` with `history[i]`: a step
that changed no files still needs a blob, so it gets a 32-byte empty one. Each history entry
carries a `v1Compatibility` JSON string with an `id` and the `id` of its `parent`.

Asking with a schema 1 `Accept` only shows whether this registry can still serve the image
that way (the CNCF registry converts schema 2 on request when configured to; many
registries no longer do).
"""),
        code("""
schema1_answer = http.get(manifest_url, headers={**auth, "Accept": ", ".join(byhand.SCHEMA1_ACCEPT)})
schema1_type = schema1_answer.headers.get("content-type", "").split(";")[0]
print("GET", schema1_answer.url, "->", schema1_answer.status_code, schema1_type)
if schema1_answer.status_code == 200 and schema1_type in mediatypes.SCHEMA1_TYPES:
    schema1 = imgexplore.open_image(REFERENCE, registry=imgexplore.RegistryOptions(schema1=True))
    doc = json.loads(schema1_answer.content)
    rows = []
    for layer, entry in zip(doc["fsLayers"], doc["history"]):
        v1 = json.loads(entry["v1Compatibility"])
        command = " ".join((v1.get("container_config") or {}).get("Cmd") or [])  # the newest entry may have none
        rows.append((layer["blobSum"], v1["id"], v1.get("parent"), bool(v1.get("throwaway")), command))
    print(f"{len(rows)} fsLayers / history entries, newest first")
    display(show(pd.DataFrame(rows, columns=["blobSum", "id", "parent", "throwaway", "command"])))
else:
    schema1 = None
    print(f"the registry answered {schema1_answer.status_code} {schema1_type or '(no type)'}: "
          "it does not serve this image as schema 1, so the schema 1 cells below have nothing to show")
"""),
        md("""
A signed schema 1 manifest is a JWS: the registry splices a `signatures` block into the
JSON (and re-signs on every `GET`, so the bytes change each time). Its protected header says
how to get the signed **payload** back: the first `formatLength` bytes, then `formatTail`.
The digest that names the manifest is the payload's, which is why it stays stable.
"""),
        code("""
if schema1 is not None and b'"signatures"' in schema1_answer.content:
    parts = byhand.schema1_signature_parts(schema1_answer.content)
    print(parts.T.to_string(max_colwidth=80))
    print("\\nDocker-Content-Digest:", schema1_answer.headers.get("docker-content-digest"))
    print("sha256 of the bytes received: sha256:" + hashlib.sha256(schema1_answer.content).hexdigest())
elif schema1 is not None:
    print("this schema 1 manifest is unsigned: its digest is the sha256 of its bytes")
else:
    print("no schema 1 manifest to take apart")
"""),
        md("""
Schema 1 layers side by side with schema 2's: the v1 `id` of each step that made a layer,
and the chain ids both forms give once the schema 1 diff_ids are computed.
"""),
        code("""
if schema1 is not None:
    schema1.compute_diff_ids()
    s1_layers = [layer for layer in schema1.layers if not layer.throwaway]
    s1_steps = {step.layer_index: step for step in schema1.history}
    s2_layers = [layer for layer in image.layers if not layer.throwaway]
    if len(s1_layers) == len(s2_layers):
        table = pd.DataFrame([
            (s1_steps[a.index].v1_id, a.digest, a.chain_id, b.chain_id, a.chain_id == b.chain_id)
            for a, b in zip(s1_layers, s2_layers)
        ], columns=["v1 id", "blobSum", "schema 1 chain id", "schema 2 chain id", "equal"])
        display(show(table))
        print("every chain id equal:", bool(table["equal"].all()))
    else:
        print(f"schema 1 keeps {len(s1_layers)} layers in the rootfs and schema 2 {len(s2_layers)}: "
              "the step-by-step pairing does not hold for this image")
"""),
        md("""
## The 32-byte empty layer, byte by byte

An empty tar is 1024 zero bytes: the two 512-byte zero blocks that end every tar archive.
Docker gzipped it once, `sha256:a3ed95caeb02…`, and schema 1 lists that blob for every
step that changed no files. Gzip is a 10-byte header, the deflate data and an 8-byte
trailer (CRC-32 and length of what was compressed):
"""),
        code("""
show(byhand.gzip_anatomy(mediatypes.EMPTY_LAYER_SCHEMA1_BYTES))
"""),
        md("""
BuildKit writes its own empty layer, `sha256:4f4fb700ef54…`. The bytes that differ:
"""),
        code("""
docker_bytes, buildkit_bytes = mediatypes.EMPTY_LAYER_SCHEMA1_BYTES, mediatypes.EMPTY_LAYER_BUILDKIT_BYTES
anatomy = byhand.gzip_anatomy(buildkit_bytes)
differ = [i for i in range(32) if docker_bytes[i] != buildkit_bytes[i]]
print("bytes that differ:", differ, "- the", ", ".join(anatomy.loc[anatomy["offset"] == 4, "field"]), "field")
print("Docker's:  ", docker_bytes.hex(" "))
print("BuildKit's:", buildkit_bytes.hex(" "))
print("MTIME, Docker's:  ", byhand.gzip_anatomy(docker_bytes).loc[3, "meaning"])
print("MTIME, BuildKit's:", anatomy.loc[3, "meaning"])
for name, blob in (("Docker's", docker_bytes), ("BuildKit's", buildkit_bytes)):
    import gzip
    inflated = gzip.decompress(blob)
    print(f"{name:10} sha256 of the blob: sha256:{hashlib.sha256(blob).hexdigest()[:12]}…  "
          f"inflates to {len(inflated)} zero bytes: {inflated == bytes(1024)}, "
          f"diff_id sha256:{hashlib.sha256(inflated).hexdigest()[:12]}…")
print("the empty layer's diff_id:", mediatypes.EMPTY_LAYER_DIFF_ID)
"""),
        md("""
Which steps of this image are metadata-only, and how each form of the manifest records them:
"""),
        code("""
form = "schema 1" if isinstance(image.manifest, imgexplore.Schema1Manifest) else "schema 2 / OCI"
rows = [(step.step, form, "empty_layer: true, and no blob", step.created_by)
        for step in image.history if step.empty_layer and step.layer_index is None]
rows += [(layer.history_step, form, f"blob {layer.digest[:19]}, an empty tar", layer.created_by)
         for layer in image.layers if layer.empty]
if schema1 is not None and schema1.digest != image.digest:
    rows += [(layer.history_step, "schema 1", f"blob {layer.digest[:19]}, an empty tar", layer.created_by)
             for layer in schema1.layers if layer.empty]
print(f"{len(rows)} records of metadata-only steps" if rows else "this image has no metadata-only step")
show(pd.DataFrame(rows, columns=["step", "manifest", "recorded as", "created_by"]))
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
OTHER_IMAGE = "../data/derived/oci"  # a second image, to see which layers two images share
""",
            tags=("parameters",),
        ),
        code("""
import matplotlib.pyplot as plt
import pandas as pd

import imgexplore
from imgexplore.analysis import dag
from imgexplore.registry.local import schema1_form
from imgexplore.tables import show
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
schema1, how = schema1_form(IMAGE, image)
print("schema 1 form:", how)
"""),
        md("""
## Schema 1: one node per history step

Every `v1Compatibility` entry of a schema 1 manifest carries an `id` and the `id` of its
`parent`. Following them gives a chain from the base to the top. The blob digests cannot be
used for this: all the metadata-only steps point at the same 32-byte empty blob.
"""),
        code("""
if schema1 is not None:
    chain = dag.image_dag(schema1)
    rows = [(d["step"], d["v1_id"], d["parent"], d["digest"], d["throwaway"])
            for _, d in sorted(chain.nodes(data=True), key=lambda item: item[1]["step"])]
    display(show(pd.DataFrame(rows, columns=["step", "id", "parent", "blobSum", "throwaway"])))
else:
    print("no schema 1 form of this image:", how)
"""),
        md("""
## Chain ids: naming a whole stack

A layer's diff_id names its own content; its **chain id** names the layer *and everything
below it*: `ChainID(L1) = DiffID(L1)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
Two images share a layer only if they share its chain id. Schema 1 records no diff_ids, so
they are computed here by decompressing its layers; the schema 2 config lists them.
"""),
        code("""
for each in (image, schema1):
    if each is not None and any(d is None for d in each.diff_ids):
        each.compute_diff_ids()
from_config = [d["chain_id"] for d in dag.layer_chain(dag.image_dag(image))]
columns = {"chain id (from the image's manifest)": from_config}
if schema1 is not None and schema1 is not image:
    from_schema1 = [d["chain_id"] for d in dag.layer_chain(dag.image_dag(schema1))]
    columns["chain id (from its schema 1 form)"] = from_schema1
    print("the same chain ids in both forms:", from_schema1 == from_config)
show(pd.DataFrame(columns))
"""),
        md("""
## The image's layers and steps

Layers are keyed by chain id; the history steps hang off them: a step that made a layer
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
show(table[["digest", "size", "images", "bytes_saved"]])
"""),
        code("""
shared = int(table["shared"].sum()) if len(table) else 0
plots.dag(merged, title=f"Two images: {shared} layer(s) shared" if shared else "Two images that share no layer")
"""),
    ],
    "03_layer_sizes.ipynb": [
        md("""
# 03 · Layer sizes

A layer has two sizes: the compressed blob a pull downloads, and the bytes of the files it
unpacks to (what `docker history` shows; the tar itself is a little longer: a 512-byte header
per entry, rounded up to 10 KiB records). Metadata-only steps add nothing. Multi-platform
images share some layers between platforms. Sizes are in kB/MB/GB, powers of 1000, as
`docker images` shows them.
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
from imgexplore.tables import show
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
uncompressed = image.files().content_sizes()  # bytes of the files in each layer, as docker history counts
"""),
        md("""
## Compressed and uncompressed, per layer
"""),
        code("""
layers = image.layers_table().assign(file_bytes=uncompressed)
show(layers[["index", "size", "file_bytes", "empty", "created_by"]])
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

An index lists one image per platform. Layers that hold no machine code (web content,
scripts, data) can be shared by every platform: the same blob, listed in each manifest.
"""),
        code("""
platforms = imgexplore.list_platforms(MULTI_PLATFORM_IMAGE)
images = [imgexplore.open_image(MULTI_PLATFORM_IMAGE, p)
          for p, attestation in zip(platforms["platform"], platforms["attestation"]) if not attestation]
matrix = dag.platform_matrix(images)
in_all = int(matrix.all(axis=1).sum()) if len(images) > 1 else 0
print(f"{len(images)} platform image(s); {in_all} of {len(matrix)} layers are in every one of them")
show(matrix, index=True)
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
notebook reads the image `IMAGE` names (the sample in `data/teaching` was built to show each
of these); every number and path below is read from it.
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
from imgexplore.tables import show, summary
from imgexplore.viz import plots

image = imgexplore.open_image(IMAGE)
files = image.files()
layer = LAYER if LAYER is not None else (files.most_changed_layer() or 0)
path = PATH or files.most_changed_path()
print(f"looking closely at layer {layer}; following {path}")
"""),
        md("""
## One layer's entries

The tar of the layer chosen above, exactly as it is stored: files it adds or rewrites, and
the `.wh.` markers by which it deletes.
"""),
        code("""
show(files.layer(layer)[["path", "type", "size", "mode", "whiteout", "opaque"]])  # modes as 0755, not 493
"""),
        md("""
Against the merged view below it, each path is added, modified (content or only metadata)
or deleted — a whiteout deletes the path and everything under it.
"""),
        code("""
changes = files.changes(layer)
print(f"layer {layer}:", ", ".join(f"{n} {kind}" for kind, n in changes["change"].value_counts().items()) or "no changes")
show(changes)
"""),
        md("""
## Every whiteout and opaque marker

`hides` is what the marker removes from the layers below: a path (whiteout) or the old
contents of a directory (opaque). An opaque marker hides only what the *lower* layers had in
its directory, wherever it stands in the tar, so files the same layer writes there survive.
"""),
        code("""
markers = files.markers()
show(markers)
"""),
        code("""
opaque = markers.loc[markers["kind"] == "opaque"]
if len(opaque):
    first = opaque.iloc[0]
    print(f"layer {first['layer']} has an opaque marker, {first['path']}; its changes:")
    display(show(files.changes(int(first["layer"]))))
else:
    print("no opaque directory in this image")
"""),
        md("""
## How the layers stack

Each column is a file, each row a layer, the merged view on top. A copy a later layer
overwrites or deletes is hatched: the container never sees it, but every pull still
downloads it. Whiteouts (black) delete a path; an opaque directory (grey) hides what the
layers below had in it.
"""),
        code("""
plots.stacking(files)
"""),
        md("""
## The merged view

What a container sees after all layers: one row per visible path, with the layer it comes
from.
"""),
        code("""
merged = files.merged()
print(len(merged), "visible paths")
show(merged[["path", "type", "size", "layer"]].tail(12))
"""),
        md("""
## Wasted space

A file copy that a later layer overwrites or deletes still ships with the image but can
never be seen. (A copy still reachable through a hardlink of its own layer is not wasted.)
"""),
        code("""
per_layer, totals = files.waste()
print(totals["explanation"])
display(summary({k: v for k, v in totals.items() if k != "explanation"}))
show(per_layer[["layer", "files", "file_bytes", "wasted_files", "wasted_bytes", "superseded_by"]])
"""),
        code("""
plots.waste(per_layer)
"""),
        md("""
## The lineage of one file

Every layer that touched a path, with the build step that did it.
"""),
        code("""
show(files.lineage(path)[["layer", "change", "detail", "size", "created_by"]])
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
from imgexplore.tables import show

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
show(layers)
"""),
        md("""
## Runtime settings
"""),
        code("""
show(result["config"])
"""),
        md("""
## History, step by step
"""),
        code("""
show(result["history"])
"""),
        md("""
## Files of the two final filesystems

From `IMAGE_A`'s filesystem to `IMAGE_B`'s: each path `added`, `deleted` or `modified` (with
the detail: `content`, `type` or only `metadata`), in the words notebook 04 uses for a layer.
"""),
        code("""
changed = result["files"]
counts = changed["change"].value_counts()
print(", ".join(f"{n} {kind}" for kind, n in counts.items()) or "the two filesystems are the same")
show(changed, max_rows=15)  # files first, then the directories that only held them
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
uncompressed = files.content_sizes()
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
from imgexplore.tables import show, summary
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
show(sharing[["digest", "images", "size", "bytes_saved", "created_by"]], max_rows=8)
"""),
        md("""
## File-level duplication

Across the unique layers, how many regular files have content that appears nowhere else,
and how many more bytes deduplicating by file would save on top of sharing layers.
"""),
        code("""
summary(corpus.file_duplication(tables))
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
    "08_on_the_host.ipynb": [
        md("""
# 08 · From blobs to the host: Docker's image store

When `docker pull` has the blobs, the engine unpacks every layer and writes down what it
did under its data root (`/var/lib/docker`). This notebook writes those same files for
`IMAGE`, with no daemon, in a folder of its own, and walks through them. The tests compare
this output, file by file, with what a real `dockerd` writes when it pulls the same image.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
ROOT = None  # a new or empty folder to write; None: a temporary one
SEED = 1  # the random ids Docker draws, made reproducible
""",
            tags=("parameters",),
        ),
        code("""
import hashlib
import io
import os
import tempfile

import pandas as pd

import imgexplore
from imgexplore.host import tarsplit
from imgexplore.host.docker import docker_size_text, write_docker_store
from imgexplore.present import human_bytes
from imgexplore.tables import show
from imgexplore.viz import hostplots

image = imgexplore.open_image(IMAGE)
root = ROOT or tempfile.mkdtemp(prefix="docker-root-")
store = write_docker_store([image], root, seed=SEED)
count = len(image.layers)
print(f"{count} layer{'s' if count != 1 else ''} unpacked; {len(store.tree())} paths written under {root}")
for note in store.notes:
    print("note:", note)
"""),
        md("""
## Chain ids name the layer directories

A layer's directory in `image/overlay2/layerdb/sha256/` is named by its **chain id**, not by
its blob digest or diff_id: the chain id of the base layer is its diff_id, and each layer
above gets `sha256(parent chain id + " " + diff_id)`. The same content on a different base is
a different layer on the host. `cache-id` names the directory in `overlay2/` that holds the
files; `link` is its short name.
"""),
        code("""
show(store.layers[["layer", "diff_id", "chain_id", "parent", "cache_id", "link", "size"]])
"""),
        code("""
chain = None
for layer in image.layers:
    chain = layer.diff_id if chain is None else "sha256:" + hashlib.sha256(f"{chain} {layer.diff_id}".encode()).hexdigest()
    assert chain == layer.chain_id
print(f"every chain id recomputed with hashlib equals its directory's name ({len(image.layers)} checked)")
"""),
        md("""
## What a layer's directory holds

Small files without trailing newlines: `diff` (the diff_id), `size` (the bytes of the
unpacked files, as the overlay2 driver counts them), `cache-id`, `parent` (absent on the
base layer) and `tar-split.json.gz`.
"""),
        code("""
top = store.layers.iloc[-1]
chain_dir = os.path.join(root, "image", "overlay2", "layerdb", "sha256", top["chain_id"][7:])
for name in sorted(os.listdir(chain_dir)):
    path = os.path.join(chain_dir, name)
    if name.endswith(".gz"):
        print(f"{name:18} {os.path.getsize(path):,} bytes, gzip'd JSON lines")
    else:
        print(f"{name:18} {open(path).read()!r}")
"""),
        md("""
## tar-split: how Docker can push a layer it has unpacked

Once unpacked, the tar is gone. To `docker save` or `docker push` the layer again, the
engine rebuilds it byte for byte from the files and this record of everything else in the
tar: *segments* (raw header and padding bytes) and *files* (a name, a size and a CRC-64 of
the contents). The rebuilt tar must hash to the diff_id.
"""),
        code("""
records = list(tarsplit.read(os.path.join(chain_dir, "tar-split.json.gz")))
rows = [
    {"position": r.position, "type": "segment" if r.type == tarsplit.SEGMENT else "file",
     "name": (r.name or b"").decode(errors="replace"), "size": r.size if r.type == tarsplit.FILE else len(r.payload or b""),
     "payload": (r.payload or b"").hex() if r.type == tarsplit.FILE else f"{len(r.payload or b'')} raw bytes"}
    for r in records
]
print(len(records), "records:", sum(r.type == tarsplit.FILE for r in records), "files,", sum(r.type == tarsplit.SEGMENT for r in records), "segments")
show(pd.DataFrame(rows), max_rows=8)
"""),
        code("""
rebuilt = io.BytesIO()
tarsplit.assemble(records, os.path.join(root, "overlay2", top["cache_id"], "diff"), rebuilt)
digest = "sha256:" + hashlib.sha256(rebuilt.getvalue()).hexdigest()
print(f"rebuilt {len(rebuilt.getvalue()):,} bytes; sha256 {digest}")
print("equals the diff_id:", digest == top["diff_id"])
"""),
        md("""
## overlay2: cache-ids and short links

Each layer's files live in `overlay2/<cache-id>/diff`. Layers with a parent also have
`lower` (the short links of every layer below, nearest first) and `work/`. The links in
`overlay2/l/` exist because a mount's options must fit in one memory page: the arithmetic
below is for this folder.
"""),
        code("""
layer_dir = os.path.join(root, "overlay2", top["cache_id"])
print(sorted(os.listdir(layer_dir)))
lower_file = os.path.join(layer_dir, "lower")
if os.path.exists(lower_file):
    print("lower:", open(lower_file).read().replace(":", "\\n       "))
links = sorted(os.listdir(os.path.join(root, "overlay2", "l")))
print(f"l/ holds {len(links)} links, e.g. l/{links[0]} -> {os.readlink(os.path.join(root, 'overlay2', 'l', links[0]))}")
"""),
        code("""
page = os.sysconf("SC_PAGE_SIZE")
home = os.path.join(root, "overlay2")
print(f"mount data must fit in a page of {page:,} bytes; lowerdir= alone needs, for")
for layers in (len(image.layers), 128):  # 128: the most layers overlay2 stacks
    with_ids = len("lowerdir=") + layers * (len(home) + 1 + 64 + len("/diff") + 1)
    with_links = len("lowerdir=") + layers * (len(home) + len("/l/") + 26 + 1)
    relative = len("lowerdir=") + layers * (len("l/") + 26 + 1)
    print(f"{layers:4} layers: {with_ids:6,} with cache-id paths, {with_links:6,} with absolute short links, "
          f"{relative:5,} with links relative to overlay2/ (Docker's fallback, mounting from there)")
"""),
        md("""
## What `docker image ls` SIZE adds up

Docker's image size is the sum of its layers' `size` files: the unpacked bytes, not what
was downloaded.
"""),
        code("""
sizes = pd.DataFrame({
    "layer": store.layers["layer"],
    "unpacked_bytes": store.layers["size"],  # the layer's size file
    "downloaded_bytes": [layer.size for layer in image.layers],
})
total = int(sizes["unpacked_bytes"].sum())
print(f"docker image ls shows SIZE {docker_size_text(total)} ({total:,} bytes unpacked);",
      f"the blobs were {human_bytes(int(sizes['downloaded_bytes'].clip(lower=0).sum()))}")
show(sizes)
"""),
        md("""
## The store drawn
"""),
        code("""
hostplots.host_tree(store)
"""),
        md("""
## Live: compare with a daemon

With `DOCKER_HOST` pointing at a daemon that has this image (`docker pull` or `docker load`
it), the cell below asks the daemon for the image by its id and, where its data root is
readable here, compares each chain-id directory with the one written above.
"""),
        code("""
host = os.environ.get("DOCKER_HOST", "")
if not host.startswith("unix://"):
    print("DOCKER_HOST is not a unix:// socket here: no daemon to compare with")
else:
    import httpx
    image_id = store.images.iloc[0]["image_id"]
    with httpx.Client(transport=httpx.HTTPTransport(uds=host[len("unix://"):]), base_url="http://docker") as api:
        info = api.get("/info").json()
        found = api.get(f"/images/{image_id}/json")
    print("daemon:", info.get("ServerVersion"), "| storage driver:", info.get("Driver"), "| data root:", info.get("DockerRootDir"))
    if found.status_code != 200:
        print(f"the daemon has no image {image_id[:19]}: pull or load IMAGE there first")
    else:
        theirs = os.path.join(info["DockerRootDir"], "image", info["Driver"], "layerdb", "sha256")
        for row in store.layers.itertuples():
            path = os.path.join(theirs, row.chain_id[7:])
            if not os.access(path, os.R_OK):
                print("cannot read", path, "(run as root to compare files)")
                break
            mine = os.path.join(root, "image", "overlay2", "layerdb", "sha256", row.chain_id[7:])
            same = all(open(os.path.join(path, name)).read() == open(os.path.join(mine, name)).read() for name in ("diff", "size"))
            print(f"layer {row.layer}: {'the same diff and size' if same else 'DIFFERS'}")
"""),
    ],
    "09_container_filesystem.ipynb": [
        md("""
# 09 · A container's filesystem: lower, upper, work, merged

`docker create` puts two layers of its own on top of the image: an *init* layer with the
files the engine provides to every container, and an empty read-write layer. `docker start`
mounts them all with overlayfs. This notebook writes both for `IMAGE` (no daemon), shows the
mount Docker would make, and, run as root, makes it for real: a deleted file becomes a
whiteout and a changed file is copied up.
"""),
        code(
            """
IMAGE = "../data/teaching/oci"
SEED = 1
""",
            tags=("parameters",),
        ),
        code("""
import os
import stat
import tempfile

import imgexplore
from imgexplore.host.container import container_changes, create_container, directory_table
from imgexplore.host.docker import write_docker_store
from imgexplore.host.mount import docker_mount, mount, unmount
from imgexplore.tables import show
from imgexplore.viz import hostplots

image = imgexplore.open_image(IMAGE)
root = tempfile.mkdtemp(prefix="docker-root-")
store = write_docker_store([image], root, seed=SEED)
container = create_container(root, store.layers["chain_id"].iloc[-1], seed=SEED + 1)
print("container", container.container_id[:12], "| read-write layer", container.mount_id[:12], "| init layer", container.init_id[:12] + "…-init")
"""),
        md("""
## The container's own layers

`layerdb/mounts/<container id>/` records the two layer directories and the image's top
chain id. The init layer holds the mount points and files the engine fills in at start.
"""),
        code("""
mounts = os.path.join(root, "image", "overlay2", "layerdb", "mounts", container.container_id)
for name in sorted(os.listdir(mounts)):
    print(f"{name:9} {open(os.path.join(mounts, name)).read()}")
init_diff = os.path.join(root, "overlay2", container.init_id, "diff")
show(directory_table(init_diff)[["path", "type", "mode", "linkname"]])
"""),
        md("""
## The mount

Lower directories nearest first: the init layer, then the image's layers from the top down;
the read-write layer is the upper directory, `work/` the kernel's scratch space.
"""),
        code("""
spec = docker_mount(root, container.mount_id)
for option in spec.options.split(","):
    key, _, value = option.partition("=")
    print(f"{key}=" + value.replace(":", ":\\n         "))
print(f"{len(spec.options):,} bytes of mount data; a page is {os.sysconf('SC_PAGE_SIZE'):,}")
"""),
        code("""
hostplots.mount_stack(spec, store)
"""),
        md("""
## Copy-up and whiteouts, for real

Run as root, the next cell mounts the stack, deletes one file of the image, appends to
another and writes a new one, then unmounts and reads the upper directory back. The kernel
wrote a whiteout (a 0:0 character device) for the deleted file and a full copy of the
changed one; read as a layer, they are the same changes an image layer makes.
"""),
        code("""
regular = image.files().merged().query("type == 'file'")["path"].tolist()
if os.geteuid() != 0:
    print("mounting overlayfs needs root: run this notebook as root to see the kernel do it")
elif len(regular) < 2:
    print("this image has fewer than two regular files to change")
else:
    deleted, edited = regular[0], regular[-1]
    target = mount(spec, os.path.join(root, "overlay2", container.mount_id, "merged"))
    try:
        os.remove(os.path.join(target, deleted))
        with open(os.path.join(target, edited), "ab") as f:
            f.write(b"\\nchanged in the container\\n")
        with open(os.path.join(target, "made-in-the-container.txt"), "w") as f:
            f.write("hello\\n")
    finally:
        unmount(target)
    upper = os.path.join(root, "overlay2", container.mount_id, "diff")
    print("deleted", deleted, "| appended to", edited, "| wrote made-in-the-container.txt")
    print("\\nthe upper directory as the kernel left it:")
    for parent, dirs, names in sorted(os.walk(upper)):
        for name in sorted(dirs + names):
            info = os.lstat(os.path.join(parent, name))
            kind = ("whiteout: character device 0:0" if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0
                    else "directory (copied up to hold what changed below it)" if stat.S_ISDIR(info.st_mode)
                    else f"file, {info.st_size} bytes")
            print(f"  {os.path.relpath(os.path.join(parent, name), upper):40} {kind}")
    display(show(container_changes(image, upper, init_diff)))
"""),
    ],
    "10_lazy_pulling.ipynb": [
        md("""
# 10 · Lazy pulling: how much of a pull does a container read?

`docker pull` downloads every byte of every layer before a container starts. Harter et al.
(*Slacker*, FAST'16) measured that pulling took 76% of container start time while only 6.4%
of the pulled data was read. Lazy-pulling formats let a snapshotter fetch files on demand:
**eStargz** and **zstd:chunked** compress each file separately and append a table of
contents (TOC) that says where every file's bytes are, so a client reads the TOC with an HTTP
`Range` request and then only the pieces it needs. **SOCI** leaves the gzip layers as they are
and puts the TOC beside the image: an index artifact holding one *zTOC* per layer, with
*checkpoints* that let a client start decompressing in the middle of the gzip stream. This
notebook puts one image in these forms side by side and measures what each costs, from the
images themselves.
"""),
        code(
            """
IMAGES = {
    "gzip": "../data/teaching/oci",
    "eStargz": "../data/lazy/oci:estargz",
    "zstd:chunked": "../data/lazy/oci:zstd-chunked",
    "SOCI": "../data/lazy/oci:gzip",  # the gzip image, with a SOCI index beside it
}
PATHS = None  # the files a start reads; None: the image's entrypoint or command
""",
            tags=("parameters",),
        ),
        code("""
import pandas as pd

import imgexplore
from imgexplore.lazy import lazy_format, read_toc
from imgexplore.lazy.plan import verify_pieces
from imgexplore.lazy.soci import find_soci_index
from imgexplore.lazy.summary import lazy_layers, toc_headline
from imgexplore.lazy.toc import toc_file_table
from imgexplore.tables import show
from imgexplore.viz import lazyplots

images = {name: imgexplore.open_image(spec) for name, spec in IMAGES.items()}
show(pd.DataFrame([
    {"form": name, "layers": len(image.layers),
     "formats": ", ".join(sorted({lazy_format(layer) or "plain" for layer in image.layers})),
     "compressed_bytes": sum(layer.size for layer in image.layers),
     "same_diff_ids_as_gzip": image.diff_ids == images["gzip"].diff_ids}
    for name, image in images.items()
]))
"""),
        md("""
## Finding the TOC: footer first, then one Range request

An eStargz layer ends in a 51-byte empty gzip member whose Extra field holds `SG` and the
TOC's offset in hex; a zstd:chunked layer's annotations (or its footer) give the TOC's offset
and length directly. A SOCI index is found as a *referrer* of the image manifest (an artifact
whose `subject` is the image), or named by the image index; its zTOCs are ordinary blobs.
The requests below are every read imgexplore made, `(start, length)`.
"""),
        code("""
lazy = {name: image for name, image in images.items() if any(lazy_format(l) for l in image.layers)}
for name, image in lazy.items():
    layer = image.layers[-1]
    toc = read_toc(layer)
    print(f"{name}, layer {layer.index} ({layer.size:,} bytes): {toc_headline(toc)}; requests {toc.requests}")
    print("   checked:", ", ".join(f"{k.rsplit('/', 1)[-1]}={v}" for k, v in toc.checks.items()))
    if toc.format == "estargz":
        with layer.open_blob() as blob:
            print("   footer bytes:", blob.read()[-51:].hex(" ", 8))
    if toc.format == "soci":
        index = find_soci_index(image)
        print(f"   the SOCI index {index.digest[:19]} ({index.version}) was found as {index.found_by}")
"""),
        md("""
## The TOC itself

One row per file (and per further chunk of a big file): where its compressed piece starts
(`offset`), its size and the sha256 of its bytes. Directories and links have no piece. (In a
SOCI zTOC a file's piece is the run of spans that holds it, and no digest is recorded.)
"""),
        code("""
if lazy:
    display(show(read_toc(next(iter(lazy.values())).layers[0]).entries, max_rows=12))
else:
    print("none of IMAGES has an eStargz or zstd:chunked layer")
"""),
        md("""
## The file tree from TOCs alone

The TOC lists every entry of the layer's tar, so a layer's file table can be built without
downloading the layer. Compared here with the table listed from the whole layer:
"""),
        code("""
for name, image in lazy.items():
    full = image.files(cache=False).tables
    from_tocs = {layer.index: toc_file_table(read_toc(layer)) for layer in image.layers}
    without_digests = all(t["sha256"].isna().all() for t in from_tocs.values())
    columns = [c for c in full[0].columns if not (without_digests and c == "sha256")]
    same = all(
        t[columns].astype(str).equals(full[i][columns].reset_index(drop=True).astype(str))
        for i, t in from_tocs.items()
    )
    note = " (sha256 left out: this TOC records no file digests)" if without_digests else ""
    print(f"{name}: TOC-only tables equal the full listings in every layer: {same}{note}")
"""),
        md("""
## What a start reads

The files a container reads first: `PATHS`, or else the program the image runs (its
entrypoint or command, looked up in the merged view). Each is read from the layer a container
sees it in; a lazy pull fetches the TOC of every layer and the pieces of those files.
"""),
        code("""
config = images["gzip"].config.get("config") or {}
command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
start = PATHS or ([command[0].lstrip("/")] if command else [])
print("files a start reads:", start or "none recorded")
tables = {name: lazy_layers(image, start) for name, image in lazy.items()}
summary = pd.DataFrame([
    {"form": name, "requests": int(t["toc_requests"].sum() + t["data_requests"].sum()),
     "fetched_bytes": int(t["lazy_bytes"].sum()), "layer_bytes": int(t["layer_bytes"].sum()),
     "fraction_fetched": t["lazy_bytes"].sum() / t["layer_bytes"].sum()}
    for name, t in tables.items()
] + [{"form": "gzip (full pull)", "requests": len(images["gzip"].layers),
      "fetched_bytes": sum(l.size for l in images["gzip"].layers),
      "layer_bytes": sum(l.size for l in images["gzip"].layers), "fraction_fetched": 1.0}])
show(summary)
"""),
        code("""
for name, table in list(tables.items())[:1]:
    display(lazyplots.lazy_cost(table, title=f"{name}: what a lazy start fetches of each layer"))
"""),
        md("""
## SOCI: spans and checkpoints

A gzip stream can only be read from its start, unless one keeps, for a point inside it, the
bit where a deflate block begins and the 32 KiB of output before it (the window later
back-references may reach). SOCI keeps such a *checkpoint* every *span* of uncompressed
bytes; reading a file fetches the spans that hold it and decompresses from the first one's
checkpoint. Every checkpoint costs its window in the zTOC, which is why soci-snapshotter
skips small layers (under 10 MiB by default).
"""),
        code("""
soci = {name: image for name, image in lazy.items() if lazy_format(image.layers[0]) == "soci"}
for name, image in soci.items():
    tocs = [read_toc(layer) for layer in image.layers]
    toc = max(tocs, key=lambda t: len(t.zinfo.checkpoints))
    spans = pd.DataFrame([
        {"span": i, "compressed_start": p.start,
         "compressed_end": toc.zinfo.compressed_range(i, i, toc.blob_size)[1],
         "uncompressed_start": p.out, "starts_at_bit": p.bits, "digest": toc.ztoc.span_digests[i]}
        for i, p in enumerate(toc.zinfo.checkpoints)
    ])
    display(show(spans, max_rows=10))
    windows = sum(len(p.window) for t in tocs for p in t.zinfo.checkpoints)
    zbytes = sum(t.toc_length for t in tocs)
    layers = sum(layer.size for layer in image.layers)
    print(f"{name}: {sum(len(t.zinfo.checkpoints) for t in tocs)} checkpoints in {len(tocs)} zTOCs; their windows are "
          f"{windows:,} of the zTOCs' {zbytes:,} bytes, for {layers:,} bytes of layers "
          f"({zbytes / layers:.1f}x the layers themselves)")
"""),
        md("""
## Duplication, from TOCs alone

Zhao et al. asked how much of a registry's content is stored more than once. An eStargz or
zstd:chunked TOC records the sha256 of every file and of every chunk of it, so the question
can be answered without downloading a layer: over the distinct layers of these images, how
many file and chunk copies there are, and what deduplicating them would save. (A SOCI zTOC
records no digests; its layers are listed as not counted.)
"""),
        code("""
from imgexplore.lazy.dedup import duplication

counts = duplication(lazy.values())
display(show(pd.DataFrame([
    {"level": "file", "pieces": counts["files"], "unique": counts["unique_files"], "bytes": counts["bytes"],
     "unique_bytes": counts["unique_file_bytes"], "saved_bytes": counts["saved_by_file_dedup"]},
    {"level": "chunk", "pieces": counts["chunks"], "unique": counts["unique_chunks"], "bytes": counts["bytes"],
     "unique_bytes": counts["unique_chunk_bytes"], "saved_bytes": counts["saved_by_chunk_dedup"]},
])))
print(f"{counts['layers_counted']} distinct layers counted; not counted: {len(counts['layers_not_counted'])}")
"""),
        md("""
## Every piece checked

Each piece is decompressed from its offset in the whole blob and its sha256 compared with the
TOC's. A zTOC records no file digests: there each span's compressed bytes are hashed against
the span digest it records, and decompressed from its checkpoint alone.
"""),
        code("""
for name, image in lazy.items():
    results = []
    for layer in image.layers:
        with layer.open_blob() as blob:
            results.append(verify_pieces(read_toc(layer), blob.read()))
    checked = pd.concat(results)
    unit = "spans" if checked["path"].str.startswith("span ").all() else "pieces"
    print(f"{name}: {int(checked['ok'].sum())} of {len(checked)} {unit} hold the bytes their TOC entry says")
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
