"""One entry point for every place an image can live: ``open_image("oci:data/x")``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from . import mediatypes as mt
from .errors import (
    InvalidArgumentError,
    LimitExceededError,
    ManifestError,
    PlatformNotFoundError,
    SourceError,
)
from .image import Image, image_from_manifest
from .jsonutil import MAX_MANIFEST_BYTES
from .limits import MAX_INDEX_DEPTH
from .manifest import Descriptor, ImageManifest, IndexManifest, Manifest, Schema1Manifest
from .platforms import FALLBACK_PLATFORM, Platform, host_platform
from .reference import looks_like_reference
from .registry.options import RegistryOptions
from .sources import DockerArchiveSource, ManifestFileSource, OCILayoutSource, Source
from .sources.files import TarFiles, open_files
from .sources.layout import REF_NAME, is_oci_layout


def open_source(
    spec: str | os.PathLike | Source,
    *,
    config: str | None = None,
    blobs: str | None = None,
    registry: RegistryOptions | None = None,
    client=None,
) -> Source:
    """Turn a user's SOURCE string into a :class:`Source`.

    ``oci:PATH[:TAG]`` an OCI layout folder or tar; ``docker-archive:PATH[:TAG]`` a docker
    save tarball; ``manifest:PATH`` a saved manifest file (``config=`` its config file);
    ``docker-root:[DIR]NAME`` an image in Docker's data root (default ``/var/lib/docker``);
    ``docker-daemon:NAME`` an image in the Docker daemon the docker CLI would ask;
    ``containerd:[NAMESPACE/]NAME`` an image in containerd's content store;
    ``containers-storage:[[DRIVER@]ROOT[+RUNROOT]]NAME`` one in podman/buildah's store;
    a plain path is recognised by what it holds; anything else that parses as an image
    reference is read from its registry (``docker://REF`` forces that) with the settings in
    ``registry`` (a :class:`~imgexplore.RegistryOptions`), through ``client`` if given.

    >>> open_source("data/teaching/docker-save.tar").kind
    'docker-archive'
    >>> open_source("oci:data/teaching/oci").kind
    'oci-layout'
    """
    if registry is not None and not isinstance(registry, RegistryOptions):
        raise InvalidArgumentError(f"registry must be a RegistryOptions, not {type(registry).__name__}")
    registry_options = {"registry": registry, "client": client}
    if isinstance(spec, Source):
        return spec
    if not isinstance(spec, str | os.PathLike):
        raise InvalidArgumentError(
            f"an image is named by a path, a reference or a Source, not {type(spec).__name__} {spec!r:.40}"
        )
    text = os.fspath(spec)
    if text.startswith("oci:"):
        path, tag = _split_tag(text[4:])
        return OCILayoutSource(path, tag)
    if text.startswith("docker-archive:"):
        path, tag = _split_tag(text[len("docker-archive:") :])
        return _archive(path, tag)
    if text.startswith("manifest:"):
        return ManifestFileSource(text[len("manifest:") :], config=config, blobs=blobs)
    if text.startswith("containers-storage:"):
        from .sources.containers_storage import ContainersStorageSource

        return ContainersStorageSource(text[len("containers-storage:") :])
    if text.startswith("containerd:"):
        from .sources.containerd import ContainerdSource

        return ContainerdSource(text[len("containerd:") :])
    if text.startswith("docker-daemon:"):
        return open_docker_daemon(text[len("docker-daemon:") :])
    if text.startswith("docker-root:"):
        from .sources.docker_root import DockerRootSource

        return DockerRootSource(text[len("docker-root:") :])
    if text.startswith("docker://"):
        return _registry(text[len("docker://") :], registry_options)
    path, tag = _split_tag(text)
    if tag is not None:  # PATH:TAG of a layout folder or an archive
        return OCILayoutSource(path, tag) if os.path.isdir(path) else _archive(path, tag)
    if os.path.isdir(text):
        return OCILayoutSource(text)
    if os.path.exists(text) and not os.path.isfile(text):
        raise SourceError(f"{text}: not a regular file or a folder (a device, socket or pipe)")
    if os.path.isfile(text):
        if text.endswith(".json") or config is not None or _looks_like_json(text):
            return ManifestFileSource(text, config=config, blobs=blobs)
        return _archive(text, None)
    first = text.split("/", 1)[0]
    looks_local = text.startswith((".", "/", "~")) or ("/" in text and os.path.isdir(first))
    if looks_like_reference(text) and not looks_local:
        return _registry(text, registry_options)
    raise SourceError(
        f"{text!r:.200}: no such file or folder, and not an image reference; use a path, "
        "oci:PATH[:TAG], docker-archive:PATH[:TAG], manifest:PATH or a reference like docker.io/library/centos:7"
    )


def _split_tag(spec: str) -> tuple[str, str | None]:
    """``path:tag`` → (path, tag), where path is the shortest prefix that exists; paths that
    merely contain a colon are left alone. The tag may itself hold colons (``repo:tag``)."""
    if os.path.exists(spec):
        return spec, None
    for i, char in enumerate(spec):
        if char == ":" and i and i + 1 < len(spec) and os.path.exists(spec[:i]):
            return spec[:i], spec[i + 1 :]
    return spec, None


def open_docker_daemon(name: str, host: str | None = None, *, read_root: bool = True) -> Source:
    """The source for ``docker-daemon:NAME``: the daemon's data root read directly when it is
    readable here (and ``read_root``), else the daemon's export (``docker save``), cached."""
    from .sources.docker_daemon import daemon_image

    found = daemon_image(name, host, read_root=read_root)
    if isinstance(found, Source):
        return found
    source = _archive(str(found), None)
    source.notes.append(f"exported once by the daemon (docker save) into {found}")
    return source


def _archive(path: str, tag: str | None) -> Source:
    files = open_files(path)
    if not isinstance(files, TarFiles):
        raise SourceError(f"{path}: a docker save archive is a tar file, not a folder")
    if is_oci_layout(files) and not (files.exists("manifest.json") and _index_lists_nothing(files)):
        return OCILayoutSource(path, tag, files=files)  # Docker 25+ and OCI layout tars
    return DockerArchiveSource(path, tag, files=files)


def _index_lists_nothing(files: TarFiles) -> bool:
    """Some Docker 25+ archives write ``"manifests": null`` in ``index.json``; their
    ``manifest.json`` (the legacy listing, which they also carry) then names the image."""
    try:
        index = json.loads(files.read("index.json", MAX_MANIFEST_BYTES))
    except (ValueError, UnicodeDecodeError):
        return False  # a broken index.json is reported by the layout reader
    return isinstance(index, dict) and not index.get("manifests")


def _registry(reference: str, options: dict) -> Source:
    from .sources.registry import RegistrySource

    return RegistrySource(reference, registry=options["registry"], client=options["client"])


def _looks_like_json(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(64).lstrip().startswith(b"{")


# -- choosing one image from an index -----------------------------------------------------


@dataclass(frozen=True)
class IndexEntry:
    """A single-platform manifest reachable from an index (nested indexes flattened)."""

    descriptor: Descriptor
    platform: Platform | None
    parent: IndexManifest
    depth: int
    #: the ``org.opencontainers.image.ref.name`` of the top-level entry it was reached from
    ref_name: str = ""

    @property
    def is_attestation(self) -> bool:
        return self.descriptor.is_attestation


def flatten_index(source: Source, index: IndexManifest, max_depth: int = MAX_INDEX_DEPTH) -> list[IndexEntry]:
    """Every image manifest below ``index``, in order, following nested indexes."""
    entries: list[IndexEntry] = []

    def walk(
        current: IndexManifest, depth: int, inherited: Platform | None, ref_name: str, seen: frozenset[str]
    ) -> None:
        if depth > max_depth:
            raise LimitExceededError(f"indexes nest deeper than {max_depth} levels (max_index_depth)")
        for d in current.manifests:
            name = ref_name or d.annotations.get(REF_NAME, "")
            if d.media_type in mt.INDEX_TYPES:
                if d.digest in seen:
                    raise ManifestError(f"index {d.digest} contains itself")
                child = source.fetch_manifest(d.digest, d.media_type, d.size)
                if not isinstance(child, IndexManifest):
                    raise ManifestError(f"{d.digest} is described as an index but is not one")
                walk(child, depth + 1, d.platform or inherited, name, seen | {d.digest})
            elif d.media_type in mt.IMAGE_MANIFEST_TYPES or d.media_type in mt.SCHEMA1_TYPES:
                entries.append(IndexEntry(d, d.platform or inherited, current, depth, name))
            # other media types (artifacts, signatures) are not images: skipped

    walk(index, 0, None, "", frozenset({index.digest}))
    return entries


def choose_entry(entries: list[IndexEntry], platform: str | Platform | None) -> IndexEntry:
    """Pick one image: the requested platform, else the only image, else this machine's
    platform, else linux/amd64."""
    images = [e for e in entries if not e.is_attestation and not e.descriptor.artifact_type]
    others = len(entries) - len(images)
    if not images:
        raise PlatformNotFoundError(
            "the index holds no image manifests"
            + (f", only {others} attestation(s), signature(s) or other artifacts" if others else "")
        )
    listing = ", ".join(sorted({str(e.platform) for e in images if e.platform})) or "none recorded"
    if len({e.descriptor.digest for e in images}) == 1:
        images = images[:1]  # the same image listed several times (e.g. under several tags)
    if platform is not None:
        wanted = platform if isinstance(platform, Platform) else Platform.parse(platform)
        for entry in images:
            if entry.platform is not None and entry.platform.matches(wanted):
                return entry
        if len(images) == 1 and images[0].platform is None:
            return images[0]  # the index does not say; open_image checks the image's config
        raise PlatformNotFoundError(f"no image for platform {wanted}; platforms here: {listing}")
    if len(images) == 1:
        return images[0]
    defaults = list(dict.fromkeys([host_platform(), FALLBACK_PLATFORM]))
    for wanted in defaults:
        for entry in images:
            if entry.platform is not None and entry.platform.matches(wanted):
                return entry
    # advise only tags that single out one image (several entries may share a tag)
    counts: dict[str, int] = {}
    for entry in images:
        if entry.ref_name:
            counts[entry.ref_name] = counts.get(entry.ref_name, 0) + 1
    tags = sorted(tag for tag, count in counts.items() if count == 1)
    tag_hint = f"; or a tag, oci:PATH:TAG (tags here: {', '.join(tags)})" if tags else ""
    besides = f" (besides {others} attestation(s), signature(s) or other artifacts)" if others else ""
    raise PlatformNotFoundError(
        f"the index holds {len(images)} images{besides} and none is for "
        f"{' or '.join(str(p) for p in defaults)}; choose one with a platform "
        f"(platforms here: {listing}){tag_hint}"
    )


def open_image(
    spec: str | os.PathLike | Source,
    platform: str | Platform | None = None,
    *,
    config: str | None = None,
    blobs: str | None = None,
    registry: RegistryOptions | None = None,
    client=None,
) -> Image:
    """Open an image from a path, an ``oci:``/``docker-archive:``/``manifest:`` spec, a
    registry reference or a :class:`Source`; for multi-platform images pick ``platform``
    (default: this machine's, falling back to linux/amd64).

    Registry references are read with the settings of ``registry`` (a
    :class:`~imgexplore.RegistryOptions`: TLS, schema 1, timeouts…), through ``client`` (a
    :class:`~imgexplore.registry.RegistryClient`) if one is given.

    Only the manifest(s) and config are read here; layer blobs are read when asked for.

    >>> image = open_image("data/teaching/oci")
    >>> len(image.layers), len(image.history), str(image.platform)
    (6, 12, 'linux/amd64')
    >>> image.layers[-1].chain_id[:19]
    'sha256:d6377691cdaa'
    >>> str(open_image("data/multiarch/oci", "linux/arm64").platform)
    'linux/arm64/v8'
    """
    wanted = Platform.argument(platform)
    source = open_source(spec, config=config, blobs=blobs, registry=registry, client=client)
    root = source.root_manifest()
    manifest, chosen_platform, index = _resolve(source, root, wanted)
    name = str(spec) if not isinstance(spec, Source) else source.location
    image = image_from_manifest(source, manifest, platform=chosen_platform, index=index, name=name)
    if wanted is not None and chosen_platform is None:  # no index entry said: the config does
        if image.platform is None:
            image.warnings.append(
                f"asked for {wanted}, but the image records no platform to check it against"
            )
        elif not image.platform.matches(wanted):
            raise PlatformNotFoundError(
                f"{name} is a single-platform image for {image.platform}, not {wanted}"
            )
    return image


def select_image(
    source: Source, root: Manifest, platform: str | Platform | None
) -> tuple[IndexEntry | None, ImageManifest | Schema1Manifest]:
    """The one image ``root`` names: itself, or the index entry chosen for ``platform``
    (see :func:`choose_entry`) with its manifest fetched and verified."""
    if isinstance(root, ImageManifest | Schema1Manifest):
        return None, root
    entry = choose_entry(flatten_index(source, root), platform)
    child = source.fetch_manifest(entry.descriptor.digest, entry.descriptor.media_type, entry.descriptor.size)
    if isinstance(child, IndexManifest):
        raise ManifestError(f"{entry.descriptor.digest} is described as a manifest but is an index")
    return entry, child


def _resolve(
    source: Source, root: Manifest, platform: str | Platform | None
) -> tuple[ImageManifest | Schema1Manifest, Platform | None, IndexManifest | None]:
    entry, manifest = select_image(source, root, platform)
    if entry is None:
        return manifest, None, None
    return manifest, entry.platform, root


def list_platforms(spec: str | os.PathLike | Source, *, registry: RegistryOptions | None = None):
    """A DataFrame of every image reachable from the source's root: platform, digest,
    media type, size, whether it is an attestation, and its ref name.

    >>> table = list_platforms("data/multiarch/oci")
    >>> list(table["platform"]), list(table["attestation"])
    (['linux/amd64', 'linux/arm64/v8', 'unknown/unknown'], [False, False, True])
    """
    import pandas as pd

    source = open_source(spec, registry=registry)
    root = source.root_manifest()
    if not isinstance(root, IndexManifest):
        rows = [
            {
                "platform": "",
                "digest": root.digest,
                "media_type": root.media_type,
                "size": len(root.raw),
                "attestation": False,
                "ref_name": "",
            }
        ]
    else:
        rows = [
            {
                "platform": str(e.platform) if e.platform else "",
                "digest": e.descriptor.digest,
                "media_type": e.descriptor.media_type,
                "size": e.descriptor.size,
                "attestation": e.is_attestation,
                "ref_name": e.ref_name,
            }
            for e in flatten_index(source, root)
        ]
    return pd.DataFrame(rows, columns=["platform", "digest", "media_type", "size", "attestation", "ref_name"])
