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
    args = parser.parse_args()

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
        print(f"wrote {out}")
    finally:
        daemon.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
