#!/usr/bin/env python3
"""Build the sample images in ``data/`` from nothing, byte for byte the same on every run.

    python scripts/make_sample_data.py [--out data]

Three images, each written as an OCI image layout folder and as a ``docker save`` tarball:

* ``teaching`` — six layers and several metadata-only steps, made to show every layer
  mechanism: a file overwritten by a later layer, a file and a directory deleted by
  whiteouts, an opaque directory, a symlink, a hardlink, a path longer than 100 bytes, and a
  file whose mode alone changes. Its manifest is Docker schema 2; ``teaching/schema1.json``
  is the same image as a (unsigned) schema 1 manifest, with a 32-byte empty layer for every
  metadata-only step.
* ``derived`` — built FROM the teaching image's first two layers (same blobs), then a gzip
  layer, BuildKit's 32-byte empty layer and a zstd layer. OCI media types.
* ``multiarch`` — an OCI index with linux/amd64 and linux/arm64/v8 images that share their
  base layer, plus a BuildKit-style attestation manifest (platform unknown/unknown). Its
  docker-save tarball uses the Docker 25+ form (an OCI layout plus ``manifest.json``).

Only the standard library and ``zstandard`` are used. Timestamps, owners and compression
settings are fixed so the output (and every digest) is reproducible.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
from dataclasses import dataclass, field

MTIME = 1709287200  # 2024-03-01T10:00:00Z
EMPTY_GZIP_SCHEMA1 = bytes(
    [31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20]
    + [140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]
)
EMPTY_GZIP_BUILDKIT = bytes(
    [31, 139, 8, 0, 0, 0, 0, 0, 0, 255, 98, 24, 5, 163, 96, 20]
    + [140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pseudo_random(seed: str, size: int) -> bytes:
    """Incompressible but reproducible bytes."""
    return random.Random(seed).randbytes(size)


def text_block(seed: str, size: int) -> bytes:
    """Compressible, reproducible text."""
    rng = random.Random(seed)
    words = ["layer", "image", "digest", "manifest", "blob", "config", "history", "tar", "gzip", "whiteout"]
    out = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(10)) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out).encode()[:size]


# -- layer tars -----------------------------------------------------------------------------


@dataclass
class Entry:
    path: str
    kind: str = "file"  # file | dir | symlink | hardlink
    data: bytes = b""
    mode: int | None = None
    target: str = ""
    uid: int = 0
    gid: int = 0


def layer_tar(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar, entries in the given order (order matters for teaching)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.mtime = MTIME
            info.uid, info.gid = e.uid, e.gid
            info.uname = "root" if e.uid == 0 else "app"
            info.gname = "root" if e.gid == 0 else "app"
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = e.mode if e.mode is not None else 0o755
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                info.mode = 0o777
                tar.addfile(info)
            elif e.kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = e.target
                info.mode = e.mode if e.mode is not None else 0o755
                tar.addfile(info)
            else:
                info.size = len(e.data)
                info.mode = e.mode if e.mode is not None else 0o644
                tar.addfile(info, io.BytesIO(e.data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=10, write_checksum=True).compress(data)


@dataclass
class Layer:
    tar: bytes
    compression: str = "gzip"  # gzip | zstd | empty-buildkit

    @property
    def blob(self) -> bytes:
        if self.compression == "empty-buildkit":
            return EMPTY_GZIP_BUILDKIT
        return zstd_bytes(self.tar) if self.compression == "zstd" else gzip_bytes(self.tar)

    @property
    def diff_id(self) -> str:
        return sha256(self.tar)


@dataclass
class Step:
    created_by: str
    layer: Layer | None = None
    comment: str = ""


@dataclass
class ImageSpec:
    name: str
    steps: list[Step]
    config: dict
    architecture: str = "amd64"
    variant: str = ""
    oci: bool = False
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def layers(self) -> list[Layer]:
        return [s.layer for s in self.steps if s.layer is not None]


def created(step_index: int, base_minutes: int = 0) -> str:
    minutes = base_minutes + step_index * 7
    return f"2024-03-01T{10 + minutes // 60:02d}:{minutes % 60:02d}:00Z"


def build_config(spec: ImageSpec, base_minutes: int = 0) -> dict:
    history = []
    for i, step in enumerate(spec.steps):
        entry = {"created": created(i, base_minutes), "created_by": step.created_by}
        if step.comment:
            entry["comment"] = step.comment
        if step.layer is None:
            entry["empty_layer"] = True
        history.append(entry)
    config = {
        "architecture": spec.architecture,
        "os": "linux",
        "created": created(len(spec.steps) - 1, base_minutes),
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in spec.layers]},
        "history": history,
    }
    if spec.variant:
        config["variant"] = spec.variant
    return config


def dumps(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=False).encode() + b"\n"


def build_manifest(spec: ImageSpec, base_minutes: int = 0) -> tuple[bytes, bytes]:
    """(manifest bytes, config bytes); records every blob in ``spec.blobs``."""
    config_raw = dumps(build_config(spec, base_minutes))
    spec.blobs[sha256(config_raw)] = config_raw
    layer_descriptors = []
    for layer in spec.layers:
        blob = layer.blob
        spec.blobs[sha256(blob)] = blob
        if spec.oci:
            media_type = OCI_ZSTD if layer.compression == "zstd" else OCI_GZIP
        else:
            media_type = DOCKER_LAYER
        layer_descriptors.append({"mediaType": media_type, "size": len(blob), "digest": sha256(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if spec.oci else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if spec.oci else DOCKER_CONFIG,
            "size": len(config_raw),
            "digest": sha256(config_raw),
        },
        "layers": layer_descriptors,
    }
    manifest_raw = dumps(manifest)
    spec.blobs[sha256(manifest_raw)] = manifest_raw
    return manifest_raw, config_raw


# -- the images -------------------------------------------------------------------------------

LONG_DIR = "app/data/very/deeply/nested/directory/structure/kept/for/teaching"
LONG_PATH = f"{LONG_DIR}/a-file-name-long-enough-to-need-a-pax-header-in-the-tar.txt"


def base_layers() -> tuple[Step, Step, Step]:
    rootfs = layer_tar(
        [
            Entry("bin", "dir"),
            Entry(
                "bin/sh",
                data=b'#!/bin/sh\n# a stand-in shell for the teaching image\nexec "$@"\n',
                mode=0o755,
            ),
            Entry("etc", "dir"),
            Entry("etc/os-release", data=b'NAME="Teaching Linux"\nVERSION_ID="1.0"\nID=teaching\n'),
            Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
            Entry("etc/group", data=b"root:x:0:\n"),
            Entry("etc/motd", data=text_block("motd", 600)),
            Entry("root", "dir", mode=0o700),
            Entry("tmp", "dir", mode=0o1777),
            Entry("usr", "dir"),
            Entry("usr/bin", "dir"),
            Entry("usr/bin/env", data=pseudo_random("env", 3000), mode=0o755),
            Entry("usr/lib", "dir"),
            Entry("usr/lib/libteach.so.1", data=pseudo_random("libteach", 6000), mode=0o755),
            Entry("usr/lib/libteach.so", "symlink", target="libteach.so.1"),
            Entry("var", "dir"),
            Entry("var/cache", "dir"),
            Entry("var/cache/apt", "dir"),
            Entry("var/cache/apt/pkgcache.bin", data=pseudo_random("pkgcache", 8000)),
        ]
    )
    install = layer_tar(
        [
            Entry("usr/bin/tool", data=pseudo_random("tool", 16000), mode=0o755),
            Entry("usr/share", "dir"),
            Entry("usr/share/doc", "dir"),
            Entry("usr/share/doc/tool", "dir"),
            Entry("usr/share/doc/tool/README", data=text_block("tool-readme", 2000)),
            Entry("var/cache/apt/archives", "dir"),
            Entry("var/cache/apt/archives/tool_1.0_amd64.deb", data=pseudo_random("deb", 20000)),
            Entry("var/lib", "dir"),
            Entry("var/lib/dpkg", "dir"),
            Entry("var/lib/dpkg/status", data=b"Package: tool\nStatus: install ok installed\nVersion: 1.0\n"),
        ]
    )
    return (
        Step("/bin/sh -c #(nop) ADD file:5d1a0c1e3f7b9a2c4e6d8f0a1b3c5d7e9f1a3b5c in / ", Layer(rootfs)),
        Step("/bin/sh -c #(nop)  ENV PATH=/usr/local/bin:/usr/bin:/bin"),
        Step("/bin/sh -c apt-get update && apt-get install -y tool", Layer(install)),
    )


def teaching_image() -> ImageSpec:
    base, env_path, install = base_layers()
    server = pseudo_random("server", 8000)
    app = layer_tar(
        [
            Entry("app", "dir"),
            Entry("app/config.json", data=b'{"listen": ":8080", "debug": true, "workers": 1}\n'),
            Entry("app/bin", "dir"),
            Entry("app/bin/server", data=server, mode=0o755),
            Entry("app/bin/server-hardlink", "hardlink", target="app/bin/server", mode=0o755),
            Entry("app/releases", "dir"),
            Entry("app/releases/v1", "dir"),
            Entry("app/releases/v1/VERSION", data=b"1.0.0\n"),
            Entry("app/current", "symlink", target="/app/releases/v1"),
            *[
                Entry("/".join(LONG_DIR.split("/")[:i]), "dir")
                for i in range(2, len(LONG_DIR.split("/")) + 1)
            ],
            Entry(LONG_PATH, data=b"a path longer than the 100 bytes a classic tar header holds\n"),
            Entry("tmp/build", "dir"),
            Entry("tmp/build/cache.o", data=pseudo_random("cache.o", 12000)),
            Entry("tmp/build/objects", "dir"),
            Entry("tmp/build/objects/main.o", data=pseudo_random("main.o", 5000)),
        ]
    )
    configure = layer_tar(
        [
            Entry(
                "app/config.json", data=b'{"listen": ":8080", "debug": false, "workers": 4, "log": "json"}\n'
            ),
            Entry("etc/.wh.motd"),
            Entry("tmp/.wh.build"),
        ]
    )
    # The new file comes before the opaque marker on purpose: the marker hides only the
    # lower layers' contents of the directory, whatever its position in the tar.
    clean_cache = layer_tar(
        [
            Entry("var/cache/apt", "dir"),
            Entry("var/cache/apt/README", data=b"package cache emptied at build time\n"),
            Entry("var/cache/apt/.wh..wh..opq"),
        ]
    )
    harden = layer_tar(
        [
            Entry("app/bin/server", data=server, mode=0o700),  # same bytes, new mode
            Entry("app/README.md", data=text_block("app-readme", 1500)),
        ]
    )
    steps = [
        base,
        env_path,
        install,
        Step("/bin/sh -c #(nop)  LABEL org.opencontainers.image.title=teaching"),
        Step("/bin/sh -c #(nop) COPY dir:8c2f4e6a0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a in /app ", Layer(app)),
        Step("/bin/sh -c #(nop) WORKDIR /app"),
        Step(
            "/bin/sh -c sed -i s/debug/log/ /app/config.json && rm -rf /tmp/build /etc/motd", Layer(configure)
        ),
        Step(
            "/bin/sh -c rm -rf /var/cache/apt/* && echo emptied > /var/cache/apt/README", Layer(clean_cache)
        ),
        Step("/bin/sh -c #(nop)  EXPOSE 8080/tcp"),
        Step(
            "/bin/sh -c chmod 0700 /app/bin/server",
            Layer(harden),
            comment="same bytes, new mode: a metadata-only change",
        ),
        Step("/bin/sh -c #(nop)  ENV APP_ENV=production"),
        Step('/bin/sh -c #(nop)  CMD ["/app/bin/server"]'),
    ]
    config = {
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=production"],
        "Cmd": ["/app/bin/server"],
        "WorkingDir": "/app",
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.opencontainers.image.title": "teaching"},
    }
    return ImageSpec("teaching", steps, config)


def derived_image() -> ImageSpec:
    base, env_path, install = base_layers()
    add_user = layer_tar(
        [
            Entry(
                "etc/passwd",
                data=b"root:x:0:0:root:/root:/bin/sh\nworker:x:1000:1000::/home/worker:/bin/sh\n",
            ),
            Entry("etc/group", data=b"root:x:0:\nworker:x:1000:\n"),
            Entry("home", "dir"),
            Entry("home/worker", "dir", uid=1000, gid=1000),
            Entry("home/worker/.profile", data=b"export PS1='worker$ '\n", uid=1000, gid=1000),
        ]
    )
    worker = layer_tar(
        [
            Entry("home/worker/worker.py", data=text_block("worker.py", 9000), uid=1000, gid=1000),
            Entry("home/worker/requirements.txt", data=b"httpx\n", uid=1000, gid=1000),
        ]
    )
    empty_tar = b"\0" * 1024
    steps = [
        base,
        env_path,
        install,
        Step("RUN /bin/sh -c useradd -m worker # buildkit", Layer(add_user)),
        Step("WORKDIR /home/worker", Layer(empty_tar, "empty-buildkit"), comment="buildkit.dockerfile.v0"),
        Step(
            "COPY worker.py requirements.txt /home/worker/ # buildkit",
            Layer(worker, "zstd"),
            comment="buildkit.dockerfile.v0",
        ),
        Step("USER worker", comment="buildkit.dockerfile.v0"),
        Step('CMD ["python3", "worker.py"]', comment="buildkit.dockerfile.v0"),
    ]
    config = {
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
        "Cmd": ["python3", "worker.py"],
        "WorkingDir": "/home/worker",
        "User": "worker",
    }
    return ImageSpec("derived", steps, config, oci=True)


def multiarch_images() -> list[ImageSpec]:
    shared = Layer(
        layer_tar(
            [
                Entry("srv", "dir"),
                Entry("srv/site", "dir"),
                Entry("srv/site/index.html", data=b"<h1>served by every platform</h1>\n"),
                Entry("srv/site/style.css", data=text_block("css", 1200)),
            ]
        )
    )
    specs = []
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        binary = Layer(
            layer_tar(
                [
                    Entry("usr", "dir"),
                    Entry("usr/bin", "dir"),
                    Entry("usr/bin/httpd", data=pseudo_random(f"httpd-{arch}", 7000), mode=0o755),
                ]
            )
        )
        steps = [
            Step("COPY site/ /srv/site/ # buildkit", shared, comment="buildkit.dockerfile.v0"),
            Step(f"COPY httpd-{arch} /usr/bin/httpd # buildkit", binary, comment="buildkit.dockerfile.v0"),
            Step("EXPOSE map[80/tcp:{}]", comment="buildkit.dockerfile.v0"),
            Step('CMD ["/usr/bin/httpd", "-f", "/srv/site"]', comment="buildkit.dockerfile.v0"),
        ]
        config = {"Cmd": ["/usr/bin/httpd", "-f", "/srv/site"], "ExposedPorts": {"80/tcp": {}}}
        specs.append(ImageSpec("multiarch", steps, config, architecture=arch, variant=variant, oci=True))
    return specs


# -- schema 1 ---------------------------------------------------------------------------------


def schema1_manifest(spec: ImageSpec, config: dict, name: str, tag: str) -> bytes:
    """What a registry serves for the image to a client that only speaks schema 1: one
    fsLayer per history step, the 32-byte empty gzip for metadata-only steps, newest first."""
    fs_layers, history = [], []
    parent = ""
    for i, step in enumerate(spec.steps):
        blob_sum = sha256(step.layer.blob) if step.layer is not None else sha256(EMPTY_GZIP_SCHEMA1)
        v1_id = hashlib.sha256(f"{parent} {blob_sum} {i} {step.created_by}".encode()).hexdigest()
        v1 = {"id": v1_id}
        if parent:
            v1["parent"] = parent
        if step.comment:
            v1["comment"] = step.comment
        v1["created"] = config["history"][i]["created"]
        v1["container_config"] = {"Cmd": [step.created_by]}
        if step.layer is None:
            v1["throwaway"] = True
        if i == len(spec.steps) - 1:
            v1.update(
                {"architecture": config["architecture"], "os": config["os"], "config": config["config"]}
            )
        fs_layers.append({"blobSum": blob_sum})
        history.append({"v1Compatibility": json.dumps(v1, separators=(",", ":"))})
        parent = v1_id
    manifest = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": config["architecture"],
        "fsLayers": fs_layers[::-1],
        "history": history[::-1],
    }
    return json.dumps(manifest, indent=3).encode()


# -- writers ----------------------------------------------------------------------------------


def write_layout(path: str, blobs: dict[str, bytes], index: dict) -> None:
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    for digest in sorted(blobs):
        with open(os.path.join(path, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
            f.write(blobs[digest])
    with open(os.path.join(path, "oci-layout"), "wb") as f:
        f.write(b'{"imageLayoutVersion": "1.0.0"}\n')
    with open(os.path.join(path, "index.json"), "wb") as f:
        f.write(dumps(index))


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = mode
        tar.addfile(info, io.BytesIO(data))


def write_legacy_docker_save(path: str, spec: ImageSpec, config_raw: bytes, repo_tag: str) -> None:
    """``docker save`` as Docker before 25 wrote it: <config hex>.json, <layer id>/layer.tar."""
    config_hex = sha256(config_raw).split(":", 1)[1]
    layer_dirs = []
    parent = ""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for layer in spec.layers:
            layer_id = hashlib.sha256(f"{parent} {layer.diff_id}".encode()).hexdigest()
            _tar_add(tar, f"{layer_id}", None)
            _tar_add(tar, f"{layer_id}/VERSION", b"1.0")
            v1 = {"id": layer_id, "created": "1970-01-01T00:00:00Z"}
            if parent:
                v1["parent"] = parent
            _tar_add(tar, f"{layer_id}/json", json.dumps(v1).encode())
            _tar_add(tar, f"{layer_id}/layer.tar", layer.tar)
            layer_dirs.append(f"{layer_id}/layer.tar")
            parent = layer_id
        _tar_add(tar, f"{config_hex}.json", config_raw)
        manifest = [{"Config": f"{config_hex}.json", "RepoTags": [repo_tag], "Layers": layer_dirs}]
        _tar_add(tar, "manifest.json", json.dumps(manifest).encode())
        repo, tag = repo_tag.rsplit(":", 1)
        _tar_add(tar, "repositories", json.dumps({repo: {tag: parent}}).encode())


def write_docker25_save(path: str, layout_dir: str, manifest_json: list) -> None:
    """``docker save`` as Docker 25+ writes it: an OCI layout plus ``manifest.json``."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _tar_add(tar, "blobs", None)
        _tar_add(tar, "blobs/sha256", None)
        for name in sorted(os.listdir(os.path.join(layout_dir, "blobs", "sha256"))):
            with open(os.path.join(layout_dir, "blobs", "sha256", name), "rb") as f:
                _tar_add(tar, f"blobs/sha256/{name}", f.read())
        for name in ("index.json", "oci-layout"):
            with open(os.path.join(layout_dir, name), "rb") as f:
                _tar_add(tar, name, f.read())
        _tar_add(tar, "manifest.json", json.dumps(manifest_json).encode())


def ref_annotations(name: str, tag: str) -> dict:
    return {
        "io.containerd.image.name": f"docker.io/library/{name}:{tag}",
        "org.opencontainers.image.ref.name": tag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    out = os.path.abspath(parser.parse_args().out)
    for name in ("teaching", "derived", "multiarch"):
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    os.makedirs(out, exist_ok=True)

    # teaching: Docker schema 2 in an OCI layout, docker save (legacy), and schema 1
    teaching = teaching_image()
    manifest_raw, config_raw = build_manifest(teaching)
    write_layout(
        os.path.join(out, "teaching", "oci"),
        teaching.blobs,
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": DOCKER_MANIFEST,
                    "digest": sha256(manifest_raw),
                    "size": len(manifest_raw),
                    "annotations": ref_annotations("teaching", "latest"),
                }
            ],
        },
    )
    write_legacy_docker_save(
        os.path.join(out, "teaching", "docker-save.tar"), teaching, config_raw, "teaching:latest"
    )
    with open(os.path.join(out, "teaching", "schema1.json"), "wb") as f:
        f.write(schema1_manifest(teaching, json.loads(config_raw), "library/teaching", "latest"))
    with open(os.path.join(out, "teaching", "manifest.json"), "wb") as f:
        f.write(manifest_raw)
    with open(os.path.join(out, "teaching", "config.json"), "wb") as f:
        f.write(config_raw)

    # derived: OCI manifest sharing the teaching image's base layers
    derived = derived_image()
    manifest_raw, config_raw = build_manifest(derived, base_minutes=120)
    write_layout(
        os.path.join(out, "derived", "oci"),
        derived.blobs,
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(manifest_raw),
                    "size": len(manifest_raw),
                    "annotations": ref_annotations("derived", "latest"),
                }
            ],
        },
    )
    write_legacy_docker_save(
        os.path.join(out, "derived", "docker-save.tar"), derived, config_raw, "derived:latest"
    )

    # multiarch: an OCI index of two platforms and an attestation
    blobs: dict[str, bytes] = {}
    entries = []
    for spec in multiarch_images():
        manifest_raw, _ = build_manifest(spec, base_minutes=240)
        blobs.update(spec.blobs)
        platform = {"architecture": spec.architecture, "os": "linux"}
        if spec.variant:
            platform["variant"] = spec.variant
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256(manifest_raw),
                "size": len(manifest_raw),
                "platform": platform,
            }
        )
    provenance = dumps(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://slsa.dev/provenance/v0.2",
            "subject": [{"name": "multiarch", "digest": {"sha256": entries[0]["digest"][7:]}}],
        }
    )
    empty_config = b"{}"
    attestation = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(empty_config),
                "size": len(empty_config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.in-toto+json",
                    "digest": sha256(provenance),
                    "size": len(provenance),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
                }
            ],
        }
    )
    for blob in (provenance, empty_config, attestation):
        blobs[sha256(blob)] = blob
    entries.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(attestation),
            "size": len(attestation),
            "annotations": {
                "vnd.docker.reference.digest": entries[0]["digest"],
                "vnd.docker.reference.type": "attestation-manifest",
            },
            "platform": {"architecture": "unknown", "os": "unknown"},
        }
    )
    index_raw = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    blobs[sha256(index_raw)] = index_raw
    layout = os.path.join(out, "multiarch", "oci")
    write_layout(
        layout,
        blobs,
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_INDEX,
                    "digest": sha256(index_raw),
                    "size": len(index_raw),
                    "annotations": ref_annotations("multiarch", "latest"),
                }
            ],
        },
    )
    amd64 = json.loads(blobs[entries[0]["digest"]])
    write_docker25_save(
        os.path.join(out, "multiarch", "docker-save.tar"),
        layout,
        [
            {
                "Config": "blobs/sha256/" + amd64["config"]["digest"][7:],
                "RepoTags": ["multiarch:latest"],
                "Layers": ["blobs/sha256/" + d["digest"][7:] for d in amd64["layers"]],
            }
        ],
    )
    print(f"sample images written to {out}")


if __name__ == "__main__":
    main()
