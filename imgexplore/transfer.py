"""``pull``: a registry image into an OCI layout folder; ``push``: any source into a registry.

Pulls download blobs in parallel straight into the content-addressed cache (verified on the
way) and link them into the layout, so a second pull of the same layers downloads nothing."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import mediatypes as mt
from .errors import InvalidArgumentError
from .folders import make_folder
from .manifest import Descriptor, ImageManifest, IndexManifest, Manifest, Schema1Manifest
from .opener import flatten_index, open_source, select_image
from .platforms import Platform
from .progress import progress_bar
from .registry.options import RegistryOptions
from .sources.base import Source
from .sources.layout import REF_NAME, add_to_index, link_blob, write_blob


@dataclass
class TransferReport:
    """What a pull or push moved."""

    manifests: list[str] = field(default_factory=list)
    blobs: int = 0
    bytes_transferred: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0

    def summary(self) -> str:
        rate = self.bytes_transferred / self.seconds / 1e6 if self.seconds else 0.0
        text = (
            f"{len(self.manifests)} manifest(s), {self.blobs} blob(s), {self.bytes_transferred} bytes "
            f"transferred in {self.seconds:.2f} s ({rate:.0f} MB/s), {self.requests} requests"
        )
        if self.skipped:
            text += "; skipped: " + "; ".join(self.skipped)
        return text


def root_to_copy(src: Source) -> Manifest:
    """The manifest a copy of ``src`` names: its root, except that a layout's ``index.json``
    naming one image (or one index) stands for that image."""
    root = src.root_manifest()
    if isinstance(root, IndexManifest) and len(root.manifests) == 1 and src.kind == "oci-layout":
        only = root.manifests[0]
        root = src.fetch_manifest(only.digest, only.media_type, only.size)
    return root


def images_to_copy(
    source: Source, root: Manifest, platform: str | Platform | None
) -> tuple[Manifest, list[tuple[Descriptor | None, Manifest]]]:
    """The manifest to name (root or the chosen image) and every image manifest below it."""
    if platform == "all" and isinstance(root, IndexManifest):
        children = [
            (
                e.descriptor,
                source.fetch_manifest(e.descriptor.digest, e.descriptor.media_type, e.descriptor.size),
            )
            for e in flatten_index(source, root)
        ]
        return root, children
    entry, image = select_image(source, root, None if platform == "all" else platform)
    return image, [(entry.descriptor if entry else None, image)]


def blobs_of(manifest: Manifest) -> list[Descriptor]:
    if isinstance(manifest, Schema1Manifest):
        return [Descriptor(mt.DOCKER_LAYER_GZIP, d, -1) for d in dict.fromkeys(manifest.fs_layers)]
    if isinstance(manifest, ImageManifest):
        return [manifest.config, *manifest.layers]
    return []


LOCAL_PREFIXES = ("oci:", "docker-archive:", "manifest:")


def pull(
    reference: str,
    dest: str | os.PathLike,
    *,
    platform: str | Platform | None = None,
    jobs: int = 4,
    progress: bool | None = None,
    source: Source | None = None,
    registry: RegistryOptions | None = None,
) -> TransferReport:
    """Copy an image from a registry into an OCI image layout at ``dest`` (created or added
    to). ``platform="all"`` keeps the whole index; otherwise one platform is chosen as by
    :func:`~imgexplore.open_image`. ``registry`` holds the registry settings."""
    from .sources.registry import RegistrySource

    started = time.perf_counter()
    if source is None and (os.path.exists(reference) or reference.startswith(LOCAL_PREFIXES)):
        raise InvalidArgumentError(
            f"{reference!r} is a local image: pull copies from a registry. Every other command "
            "reads a local image as it is; `imgexplore push` puts it on a registry"
        )
    src = source or RegistrySource(reference, registry=registry)
    if not isinstance(src, RegistrySource):
        raise InvalidArgumentError("pull reads from a registry; for local sources use open_image")
    layout = make_folder(dest, "destination layout")  # before downloading anything
    report = TransferReport()
    before = len(src.client.transcript)
    root = src.root_manifest()
    top, images = images_to_copy(src, root, platform)
    blobs: dict[str, Descriptor] = {}
    for _, manifest in images:
        for descriptor in blobs_of(manifest):
            if descriptor.is_foreign and descriptor.urls:
                report.skipped.append(f"foreign layer {descriptor.digest} (served from {descriptor.urls[0]})")
                continue
            blobs.setdefault(descriptor.digest, descriptor)
    missing = [d for d in blobs.values() if not src.store.has(d.digest)]
    bar = progress_bar(
        sum(max(d.size, 0) for d in missing),
        f"pull {src.reference}",
        enabled=progress,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        leave=False,
    )

    def fetch(descriptor: Descriptor) -> int:
        size = descriptor.size if descriptor.size >= 0 else None
        src.ensure_blob(descriptor.digest, size, progress=bar.update)
        return max(descriptor.size, 0)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            report.bytes_transferred = sum(pool.map(fetch, missing))
    finally:
        bar.close()
    report.blobs = len(blobs)

    for digest in blobs:
        link_blob(layout, digest, src.store.path(digest))
    manifests = [m for _, m in images] + ([top] if top not in [m for _, m in images] else [])
    for manifest in manifests:
        write_blob(layout, manifest.digest, manifest.raw)
        report.manifests.append(manifest.digest)
    descriptor = {
        "mediaType": top.media_type,
        "digest": top.digest,
        "size": len(top.raw),
        "annotations": {
            REF_NAME: src.reference.tag or src.reference.digest or "latest",
            "io.containerd.image.name": str(src.reference),
        },
    }
    if isinstance(top, ImageManifest) and images[0][0] is not None and images[0][0].platform:
        p = images[0][0].platform
        descriptor["platform"] = {
            k: v for k, v in {"os": p.os, "architecture": p.architecture, "variant": p.variant}.items() if v
        }
    add_to_index(layout, descriptor)
    report.seconds = time.perf_counter() - started
    report.requests = len(src.client.transcript) - before
    return report


def _upload_form(manifest: Manifest) -> tuple[bytes, str]:
    """The bytes and Content-Type to upload. Registries take schema 1 only signed, so an
    unsigned one is signed first (its payload, and so its digest, do not change)."""
    from .registry.client import manifest_media_type

    if isinstance(manifest, Schema1Manifest) and not manifest.signed:
        from .schema1sign import sign_schema1

        return sign_schema1(manifest.raw), mt.DOCKER_SCHEMA1_SIGNED
    return manifest.raw, manifest_media_type(manifest)


def push(
    source: str | Source,
    dest: str,
    *,
    platform: str | Platform | None = "all",
    chunk_size: int | None = None,
    mount_from: str | None = None,
    client=None,
    registry: RegistryOptions | None = None,
) -> TransferReport:
    """Upload an image (any source imgexplore reads) to ``dest`` (a registry reference with a
    tag): blobs the registry lacks (monolithic, or chunked with ``chunk_size``; mounted from
    ``mount_from`` when it already holds them), then manifests, children before the index."""
    from .reference import parse_reference

    started = time.perf_counter()
    ref = parse_reference(dest)
    src = open_source(source)
    root = root_to_copy(src)
    top, images = images_to_copy(src, root, platform)
    registry_client = client or (registry or RegistryOptions()).client(ref.api_host)
    report = TransferReport()
    before = len(registry_client.transcript)
    repo = ref.repository
    for _, manifest in images:
        for descriptor in blobs_of(manifest):
            if registry_client.blob_exists(repo, descriptor.digest, push=True):
                continue
            if mount_from and registry_client.mount_blob(repo, descriptor.digest, mount_from):
                report.blobs += 1
                continue
            size = descriptor.size
            if size < 0:  # schema 1 does not record sizes: measure first
                with src.open_verified(descriptor.digest) as stream:
                    size = sum(len(c) for c in iter(lambda s=stream: s.read(1 << 20), b""))
            with src.open_verified(descriptor.digest, size) as stream:
                registry_client.upload_blob(repo, descriptor.digest, stream, size, chunk_size=chunk_size)
            report.blobs += 1
            report.bytes_transferred += size
    for _, manifest in images:
        if manifest is not top:
            registry_client.put_manifest(repo, manifest.digest, *_upload_form(manifest))
            report.manifests.append(manifest.digest)
    registry_client.put_manifest(repo, ref.tag or top.digest, *_upload_form(top))
    report.manifests.append(top.digest)
    report.seconds = time.perf_counter() - started
    report.requests = len(registry_client.transcript) - before
    return report
