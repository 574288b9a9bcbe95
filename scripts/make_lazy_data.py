#!/usr/bin/env python3
"""Make ``data/lazy/oci``: the teaching image converted by real lazy-pulling tools, for
notebook 10 and the offline tests.

    sudo python scripts/make_lazy_data.py [--out data]

Needs root and Debian's docker-registry, containerd and stargz-snapshotter
(``scripts/system-packages.sh``). The teaching image is pushed to a throwaway loopback
registry, pulled by a throwaway containerd, converted with ``ctr-remote image convert``
(``--estargz`` and ``--zstdchunked``, both ``--oci``), pushed back, and copied into one OCI
layout with ``imgexplore pull`` under the tags ``estargz`` and ``zstd-chunked``. The bytes
depend on ctr-remote's version, so the tests read this folder rather than remake it.

The plain gzip teaching image is added under the tag ``gzip`` with a SOCI index beside it
(v1: an ``index.json`` entry whose manifest names the image as its subject), built by
:mod:`imgexplore.lazy.socibuild` with 16 KiB spans — soci-snapshotter's default is 4 MiB and
it skips layers under 10 MiB, which would leave these small layers without a zTOC.
``--soci-only`` redoes only that part (no root needed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "data"))
    parser.add_argument(
        "--soci-only", action="store_true", help="only (re)add the gzip image and its SOCI index"
    )
    args = parser.parse_args()
    if args.soci_only:
        add_soci(os.path.join(args.out, "lazy", "oci"))
        return

    from engines import start_containerd
    from registry_server import start_registry

    from imgexplore.transfer import pull, push

    work = tempfile.mkdtemp(prefix="lazy-data-")
    registry = start_registry(os.path.join(work, "registry"))
    os.makedirs(os.path.join(work, "containerd"))
    daemon = start_containerd(os.path.join(work, "containerd"))
    try:
        plain = f"{registry.host}/lesson/teaching:gzip"
        push(os.path.join(ROOT, "data", "teaching", "oci"), plain)
        daemon.ctr("images", "pull", "--plain-http", plain)
        out = os.path.join(args.out, "lazy", "oci")
        shutil.rmtree(out, ignore_errors=True)
        for tag, flag in (("estargz", "--estargz"), ("zstd-chunked", "--zstdchunked")):
            ref = f"{registry.host}/lesson/teaching:{tag}"
            for command in (
                ["image", "convert", flag, "--oci", plain, ref],
                ["images", "push", "--plain-http", ref],
            ):
                subprocess.run(
                    ["ctr-remote", "--address", daemon.socket, *command], check=True, capture_output=True
                )
            pull(ref, out)
        index_path = os.path.join(out, "index.json")
        with open(index_path) as f:
            index = json.load(f)
        for entry in index["manifests"]:  # names that do not carry the throwaway registry's port
            tag = entry["annotations"]["org.opencontainers.image.ref.name"]
            entry["annotations"]["io.containerd.image.name"] = f"docker.io/library/teaching:{tag}"
        with open(index_path, "w") as f:
            json.dump(index, f, indent=2)
            f.write("\n")
        add_soci(out)
        print(f"wrote {out}")
    finally:
        daemon.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


SOCI_SPAN = 16 << 10


def add_soci(out: str) -> None:
    """Copy the gzip teaching image into the layout as ``gzip`` and put a v1 SOCI index for
    it beside it (its zTOCs as blobs, the index as an ``index.json`` entry)."""
    import hashlib

    import imgexplore
    from imgexplore.lazy.socibuild import build_soci_index
    from imgexplore.lazy.ztoc import SOCI_INDEX_V1

    teaching = os.path.join(ROOT, "data", "teaching", "oci")
    blobs = os.path.join(out, "blobs", "sha256")
    for name in os.listdir(os.path.join(teaching, "blobs", "sha256")):
        shutil.copyfile(os.path.join(teaching, "blobs", "sha256", name), os.path.join(blobs, name))
    image = imgexplore.open_image(teaching)
    index_document, ztocs = build_soci_index(image, span_size=SOCI_SPAN)
    for data in [*ztocs.values(), b"{}", index_document]:
        with open(os.path.join(blobs, hashlib.sha256(data).hexdigest()), "wb") as f:
            f.write(data)
    index_path = os.path.join(out, "index.json")
    with open(index_path) as f:
        index = json.load(f)
    kept = [
        entry for entry in index["manifests"]
        if entry.get("artifactType") != SOCI_INDEX_V1
        and entry.get("annotations", {}).get("org.opencontainers.image.ref.name") != "gzip"
    ]  # fmt: skip
    kept.append({
        "mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest.raw),
        "annotations": {"org.opencontainers.image.ref.name": "gzip",
                        "io.containerd.image.name": "docker.io/library/teaching:gzip"},
    })  # fmt: skip
    kept.append({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + hashlib.sha256(index_document).hexdigest(),
        "size": len(index_document), "artifactType": SOCI_INDEX_V1,
    })  # fmt: skip
    index["manifests"] = kept
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print(f"added the gzip image and a SOCI index ({len(ztocs)} zTOCs) to {out}")


if __name__ == "__main__":
    main()
