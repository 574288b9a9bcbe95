"""A generated corpus for corpus-mode tests and benchmarks: images on a few shared bases,
each with its own top layer, pushed straight into a registry; and extra tags that name
manifests already pushed."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile

from imgexplore import mediatypes as mt
from imgexplore.registry import RegistryClient

BASES = 3
IMAGES = 210
EXTRA_TAGS = 20


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def generate(images_count: int = IMAGES, bases_count: int = BASES, payload: int | list[int] = 0):
    """(bases, images): every layer's files, so expectations can be computed without imgexplore.
    ``payload``: bytes of incompressible data in each top layer, or a list of sizes used in
    turn (image i gets ``payload[i % len(payload)]``)."""
    bases = []
    for b in range(bases_count):
        lower = {
            f"etc/base-{b}.conf": f"base {b}\n".encode(),
            "etc/os-release": b"NAME=corpus\n",
            "usr/lib/libshared.so": b"\x7fELF shared library" * 50,
        }
        upper = {f"usr/bin/tool-{b}": f"tool {b}".encode() * 40}
        bases.append([lower, upper])
    images = []
    for i in range(images_count):
        top = {
            f"app/unique-{i}.txt": f"image {i}\n".encode() * 10,
            "app/common.txt": b"the same in every image\n",
        }
        size = payload[i % len(payload)] if isinstance(payload, list) else payload
        if size:  # incompressible bytes, for measuring indexing throughput
            rng, piece = random.Random(i), 64 << 20  # randbytes takes at most 2**28 bytes at once
            top["app/payload.bin"] = b"".join(
                rng.randbytes(min(piece, size - at)) for at in range(0, size, piece)
            )
        images.append((i % bases_count, top))
    return bases, images


def push_corpus(
    host: str,
    images_count: int = IMAGES,
    extra_tags: int = EXTRA_TAGS,
    bases_count: int = BASES,
    payload: int | list[int] = 0,
    repository: str = "corpus/app",
):
    """Push the corpus; return (specs, bases, images)."""
    registry_host = host
    client = RegistryClient(registry_host)
    bases, images = generate(images_count, bases_count, payload)
    blobs: dict[str, bytes] = {}

    def layer(files):
        raw = tar_of(files)
        # big payloads are incompressible: the fastest level gives the same size, far sooner
        blob = gzip.compress(raw, compresslevel=9 if len(raw) <= 4 << 20 else 1, mtime=0)
        blobs[digest(blob)] = blob
        return {"mediaType": mt.OCI_LAYER_GZIP, "digest": digest(blob), "size": len(blob)}, digest(raw)

    base_layers = [[layer(f) for f in base] for base in bases]
    uploaded = set()

    def upload(repo, d):
        if (repo, d) not in uploaded:
            client.upload_blob(repo, d, io.BytesIO(blobs[d]), len(blobs[d]))
            uploaded.add((repo, d))

    specs = []
    manifests = []
    for i, (b, top) in enumerate(images):
        repo = f"{repository}{i % 30}"
        descriptors = [*base_layers[b], layer(top)]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in descriptors]},
                "history": [
                    {"created_by": f"base {b} step 1"},
                    {"created_by": "ENV X=1", "empty_layer": True},
                    {"created_by": f"base {b} step 2"},
                    {"created_by": f"COPY app {i}"},
                ],
            }
        ).encode()
        blobs[digest(config)] = config
        for descriptor, _ in descriptors:
            upload(repo, descriptor["digest"])
        upload(repo, digest(config))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": digest(config), "size": len(config)},
                "layers": [d for d, _ in descriptors],
            }
        ).encode()
        client.put_manifest(repo, f"v{i}", manifest, mt.OCI_MANIFEST)
        specs.append(f"{registry_host}/{repo}:v{i}")
        manifests.append((repo, manifest))
    for k in range(extra_tags):  # tags naming manifests that already have one
        repo, manifest = manifests[k]
        client.put_manifest(repo, f"alias{k}", manifest, mt.OCI_MANIFEST)
        specs.append(f"{registry_host}/{repo}:alias{k}")
    return specs, bases, images
