"""containerd's store, computed: what ``ctr images pull`` (with the overlayfs snapshotter)
writes under containerd's root, without a daemon.

* ``io.containerd.content.v1.content/blobs/sha256/<hex>``: every blob of the pull, as
  fetched (index, manifest, config, compressed layers), read-only;
* ``io.containerd.snapshotter.v1.overlayfs/snapshots/<n>/{fs,work}``: one numbered directory
  per layer, unpacked; ``n`` counts snapshots in the order they were made;
* the metadata (image names, the labels on each blob, which snapshot is which chain id) that
  containerd keeps in a bolt database (``io.containerd.metadata.v1.bolt/meta.db``) and the
  snapshotter in its own (``metadata.db``): written here as one JSON file instead,
  ``imgexplore-metadata.json``, and returned as tables. No bolt file is written.

The labels are containerd's garbage-collection references and provenance:
``containerd.io/gc.ref.content.m.<i>`` (index → manifests), ``…gc.ref.content.config`` and
``…gc.ref.content.l.<i>`` (manifest → config and layers), ``containerd.io/uncompressed``
(layer → diff_id), ``containerd.io/gc.ref.snapshot.overlayfs`` (config → the top snapshot)
and ``containerd.io/distribution.source.<registry host>`` (the repository a blob came from;
label keys cannot hold a port, so the host goes without it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..errors import InvalidArgumentError
from ..image import Image
from ..reference import Reference, looks_like_reference, parse_reference
from .files import begin_store, mkdir, stage_layers, write
from .unpack import is_privileged, unpack

CONTENT = "io.containerd.content.v1.content"
SNAPSHOTTER = "io.containerd.snapshotter.v1.overlayfs"
METADATA = "imgexplore-metadata.json"
SKELETON = {
    CONTENT: 0o755,
    f"{CONTENT}/blobs": 0o755,
    f"{CONTENT}/blobs/sha256": 0o755,
    f"{CONTENT}/ingest": 0o755,
    SNAPSHOTTER: 0o700,
    f"{SNAPSHOTTER}/snapshots": 0o700,
}


@dataclass
class ContainerdStore:
    """What :func:`write_containerd_store` wrote, as tables."""

    root: str
    content: pd.DataFrame  # digest, size, kind, labels
    snapshots: pd.DataFrame  # id, key (chain id), parent, kind, written
    images: pd.DataFrame  # name, target digest, media type
    privileged: bool


def _reference(image: Image, name: str | None) -> Reference | None:
    if name:
        return parse_reference(name)
    if image.source.kind == "registry" and looks_like_reference(image.source.location):
        return parse_reference(image.source.location)
    return None


def _metadata(root: str) -> dict:
    path = os.path.join(root, METADATA)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"namespaces": {}}


def write_containerd_store(
    images: Sequence[Image],
    root: str | os.PathLike,
    *,
    names: Sequence[str | None] | None = None,
    namespace: str = "default",
    force: bool = False,
    privileged: bool | None = None,
) -> ContainerdStore:
    """Write containerd's content store and overlayfs snapshots for ``images`` under
    ``root``, as ``ctr -n NAMESPACE images pull`` of each would (one platform each). Layers
    are decompressed and checked before anything is written; shared layers are written once."""
    root = os.fspath(root)
    privileged = is_privileged() if privileged is None else privileged
    names, fresh = begin_store(
        images, root, names, force=force, skeleton=SKELETON, schema1="containerd converts those on pull"
    )
    tmp = os.path.join(root, CONTENT, "ingest")
    meta = _metadata(root)
    space = meta["namespaces"].setdefault(namespace, {"images": {}, "content": {}, "snapshots": {}})
    staged: dict[str, str] = {}
    try:
        stage_layers(images, tmp, staged, done=lambda chain: chain in space["snapshots"])
        written: set[str] = set()
        for image, name in zip(images, names, strict=True):
            _write_image(root, image, _reference(image, name), space, staged, privileged, written)
    except BaseException:
        if fresh:
            for entry in os.listdir(root):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        raise
    finally:
        for path in staged.values():
            if os.path.exists(path):
                os.unlink(path)
    write(os.path.join(root, METADATA), json.dumps(meta, indent=1, sort_keys=True).encode(), 0o600)
    return ContainerdStore(
        root=root,
        content=pd.DataFrame(
            [{"digest": d, **{k: v for k, v in entry.items()}} for d, entry in space["content"].items()]
        ),
        snapshots=pd.DataFrame(
            [{"key": key, **entry, "written": key in written} for key, entry in space["snapshots"].items()]
        ),
        images=pd.DataFrame([{"name": n, **entry} for n, entry in space["images"].items()]),
        privileged=privileged,
    )


def _put_blob(root: str, digest: str, data_or_layer, space: dict, kind: str, labels: dict) -> None:
    path = os.path.join(root, CONTENT, "blobs", "sha256", digest.partition(":")[2])
    if not os.path.exists(path):
        partial = path + ".partial"
        if isinstance(data_or_layer, bytes):
            write(partial, data_or_layer, 0o444)
        else:
            with data_or_layer.open_blob() as source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.chmod(partial, 0o444)
        os.rename(partial, path)
    entry = space["content"].setdefault(digest, {"size": os.path.getsize(path), "kind": kind, "labels": {}})
    entry["labels"].update(labels)


def _write_image(root, image: Image, reference, space, staged, privileged, written: set[str]) -> None:
    source = {}
    if reference is not None and image.source.kind == "registry":
        host = reference.registry.split(":")[0]  # label keys hold no port
        source = {f"containerd.io/distribution.source.{host}": reference.repository}
    before = set(written)
    top_chain = _unpack_snapshots(root, image, space, staged, privileged, written)
    for layer in image.layers:
        # the unpacker labels only what it unpacked: a layer whose snapshot another image
        # already made (the same chain id from other blobs) gets no uncompressed label
        unpacked = layer.chain_id in written - before
        labels = {**source, "containerd.io/uncompressed": layer.diff_id} if unpacked else source
        _put_blob(root, layer.digest, layer, space, "layer", labels)
    if image.config_raw is None or image.config_digest is None:
        raise InvalidArgumentError(f"{image.name or image.source.location}: its config bytes are not at hand")
    _put_blob(
        root,
        image.config_digest,
        image.config_raw,
        space,
        "config",
        {**source, "containerd.io/gc.ref.snapshot.overlayfs": top_chain} if top_chain else source,
    )
    manifest_labels = {"containerd.io/gc.ref.content.config": image.config_digest}
    manifest_labels.update(
        {f"containerd.io/gc.ref.content.l.{i}": layer.digest for i, layer in enumerate(image.layers)}
    )
    _put_blob(root, image.digest, image.manifest.raw, space, "manifest", {**source, **manifest_labels})
    target = {"digest": image.digest, "media_type": image.media_type, "size": len(image.manifest.raw)}
    if image.index is not None and image.source.kind == "registry":
        # every child is referenced, fetched or not (ctr fetches only its own platform's)
        children = {
            f"containerd.io/gc.ref.content.m.{i}": d.digest for i, d in enumerate(image.index.manifests)
        }
        _put_blob(root, image.index.digest, image.index.raw, space, "index", {**source, **children})
        target = {
            "digest": image.index.digest,
            "media_type": image.index.media_type,
            "size": len(image.index.raw),
        }
    if reference is not None:
        space["images"][str(reference if reference.tag or reference.digest else f"{reference}:latest")] = (
            target
        )


def _unpack_snapshots(root, image: Image, space, staged, privileged, written: set[str]) -> str | None:
    """One committed snapshot per layer, named by chain id, numbered in order of creation."""
    snapshots = space["snapshots"]
    directory = os.path.join(root, SNAPSHOTTER, "snapshots")
    parent = None
    for layer in image.layers:
        key = layer.chain_id
        if key not in snapshots:
            number = max((entry["id"] for entry in snapshots.values()), default=0) + 1
            home = os.path.join(directory, str(number))
            mkdir(os.path.join(home, "fs"), 0o755)
            mkdir(os.path.join(home, "work"), 0o711)
            os.chmod(home, 0o700)
            lowers = [os.path.join(directory, str(n), "fs") for n in _lower_ids(snapshots, parent)]
            with open(staged[key], "rb") as stream:
                unpack(stream, os.path.join(home, "fs"), privileged=privileged, lowers=lowers)
            snapshots[key] = {"id": number, "parent": parent, "kind": "committed"}
            written.add(key)
        parent = key
    return parent


def _lower_ids(snapshots: dict, parent: str | None) -> list[int]:
    """The snapshot numbers below ``parent`` (included), nearest first."""
    ids = []
    while parent is not None:
        ids.append(snapshots[parent]["id"])
        parent = snapshots[parent]["parent"]
    return ids


def snapshot_dir(root: str | os.PathLike, number: int) -> str:
    """``snapshots/<number>/fs`` under the overlayfs snapshotter of ``root``."""
    return os.path.join(os.fspath(root), SNAPSHOTTER, "snapshots", str(number), "fs")


def containerd_mount(root: str | os.PathLike, chain_id: str, namespace: str = "default") -> str:
    """The overlay options containerd's snapshotter gives a container on the image whose top
    layer is ``chain_id``: absolute ``snapshots/<n>/fs`` paths, nearest first (the container's
    own upper and work directories are a new snapshot, here ``snapshots/NEW``)."""
    snapshots = _metadata(os.fspath(root))["namespaces"][namespace]["snapshots"]
    lowers = [snapshot_dir(root, n) for n in _lower_ids(snapshots, chain_id)]
    new = os.path.join(os.fspath(root), SNAPSHOTTER, "snapshots", "NEW")
    return f"workdir={new}/work,upperdir={new}/fs,lowerdir={':'.join(lowers)}"
