"""Build small layer tars (and hostile ones) for tests, and wrap them as images."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

from imgexplore import mediatypes as mt


def tar_bytes(entries: list[dict], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """entries: dicts with name, and type (file|dir|symlink|hardlink|char|fifo), data, linkname, mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.mtime = e.get("mtime", 1700000000)
            info.mode = e.get("mode", 0o644)
            kind = e.get("type", "file")
            data = e.get("data", b"")
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = e.get("mode", 0o755)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e["linkname"]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e["linkname"]
            elif kind == "char":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            else:
                info.size = len(data)
            for key in ("uid", "gid", "uname", "gname", "pax_headers"):
                if key in e:
                    setattr(info, key, e[key])
            tar.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return buf.getvalue()


def write_layout(
    path: str | os.PathLike,
    layer_tars: list[bytes],
    history: list[dict] | None = None,
    compress=gzip.compress,
    media_type: str = mt.OCI_LAYER_GZIP,
) -> str:
    """An OCI layout holding one image made of ``layer_tars``."""
    path = str(path)
    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return "sha256:" + digest

    layers = []
    for raw in layer_tars:
        blob = compress(raw)
        layers.append({"mediaType": media_type, "digest": put(blob), "size": len(blob)})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layer_tars],
            },
            "history": history
            if history is not None
            else [{"created_by": f"step {i}"} for i in range(len(layer_tars))],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": put(config), "size": len(config)},
            "layers": layers,
        }
    ).encode()
    digest = put(manifest)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "1.0.0"}')
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(
            {
                "schemaVersion": 2,
                "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": len(manifest)}],
            },
            f,
        )
    return path
