"""Docker's image store, computed: the files ``dockerd`` (overlay2 storage driver) writes under
its data root when it pulls images, written without a daemon.

Under ``ROOT/image/overlay2/``: ``repositories.json`` (names), ``imagedb/content/sha256/<id>``
(config bytes; the image id is their sha256), ``distribution/`` (which blob gave which
diff_id, and from which repository), ``layerdb/sha256/<chain id>/`` (``diff``, ``size``,
``cache-id``, ``parent``, ``tar-split.json.gz``). Under ``ROOT/overlay2/``: one directory per
layer named by a random cache-id (``diff/`` the unpacked layer, ``link``, ``lower``,
``work/``) and ``l/`` with the short links that keep overlay mount options within a page.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..errors import InvalidArgumentError
from ..image import Image
from ..reference import Reference, familiar_name, looks_like_reference, parse_reference
from . import tarsplit
from .files import begin_store, stage_layers
from .files import mkdir as _mkdir
from .files import write as _write
from .ids import IdSource
from .unpack import is_privileged, unpack

IMAGE_DIR = os.path.join("image", "overlay2")
# what dockerd creates in its data root at start, before any pull (mode of each)
SKELETON = {
    "image": 0o700,
    "image/overlay2": 0o700,
    "image/overlay2/distribution": 0o700,
    "image/overlay2/imagedb": 0o700,
    "image/overlay2/imagedb/content": 0o700,
    "image/overlay2/imagedb/content/sha256": 0o700,
    "image/overlay2/imagedb/metadata": 0o700,
    "image/overlay2/imagedb/metadata/sha256": 0o700,
    "image/overlay2/layerdb": 0o700,
    "image/overlay2/layerdb/sha256": 0o755,
    "image/overlay2/layerdb/tmp": 0o755,
    "overlay2": 0o710,
    "overlay2/l": 0o700,
}


@dataclass
class DockerStore:
    """What :func:`write_docker_store` wrote: one row per layer and per image."""

    root: str
    layers: pd.DataFrame
    images: pd.DataFrame
    privileged: bool
    notes: list[str] = field(default_factory=list)

    def tree(self) -> pd.DataFrame:
        """Every path written under the root (``layer diff/`` contents excluded), with its type,
        mode and size: the host tree a lesson draws."""
        rows = []
        for directory, dirs, files in os.walk(self.root):
            relative = os.path.relpath(directory, self.root)
            if relative.startswith("overlay2" + os.sep) and os.sep + "diff" in relative[len("overlay2") :]:
                dirs[:] = []
                continue
            for name in sorted(dirs) + sorted(files):
                path = os.path.join(directory, name)
                info = os.lstat(path)
                kind = "symlink" if os.path.islink(path) else ("dir" if os.path.isdir(path) else "file")
                rows.append(
                    {
                        "path": os.path.relpath(path, self.root),
                        "type": kind,
                        "mode": info.st_mode & 0o7777,
                        "size": info.st_size,
                        "target": os.readlink(path) if kind == "symlink" else None,
                    }
                )
            dirs.sort()
        return pd.DataFrame(rows, columns=["path", "type", "mode", "size", "target"])


def _image_reference(image: Image, name: str | None) -> Reference | None:
    if name:
        return parse_reference(name)
    if image.source.kind == "registry" and looks_like_reference(image.source.location):
        return parse_reference(image.source.location)
    return None


def _go_json(value) -> bytes:
    """JSON as Go's encoding/json writes it for these files: compact, map keys sorted."""
    return json.dumps(value, separators=(",", ":"), sort_keys=isinstance(value, dict)).encode()


def docker_size_text(size: int) -> str:
    """A size as ``docker image ls`` prints it (go-units ``HumanSizeWithPrecision(size, 3)``:
    powers of 1000, three significant digits, no space).

    >>> docker_size_text(90584), docker_size_text(1_234_567), docker_size_text(512)
    ('90.6kB', '1.23MB', '512B')
    """
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{value:.3g}{units[unit]}"


def native_diff_size(directory: str) -> int:
    """What overlay2 records as a layer's ``size``: the bytes of everything in its ``diff/``
    but directories (st_size: a symlink counts its target's length), each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for parent, dirs, files in os.walk(directory):
        for name in dirs + files:
            info = os.lstat(os.path.join(parent, name))
            if os.path.isdir(os.path.join(parent, name)) and not os.path.islink(os.path.join(parent, name)):
                continue
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total


def write_docker_store(
    images: Sequence[Image],
    root: str | os.PathLike,
    *,
    names: Sequence[str | None] | None = None,
    seed: int | None = None,
    force: bool = False,
    privileged: bool | None = None,
) -> DockerStore:
    """Write Docker's overlay2 image store for ``images`` under ``root``, as ``docker pull``
    of each would. ``names[i]`` names image ``i`` (``registry/repo:tag``); an image opened from
    a registry is named by its reference and also gets the ``name@digest`` entry and the
    ``distribution/`` records a pull makes. Layers shared between images are written once.

    Every layer is decompressed, checked against its diff_id and checked for safety (no path
    outside its directory, no device nodes) before anything else is written; ``root`` must be
    new or empty unless ``force``. ``seed`` makes the random cache-ids and links reproducible.
    Layers are staged as uncompressed tars inside the root's own ``layerdb/tmp`` (as Docker
    stages them), so the root needs room for them until they are unpacked. A failure in a
    new or empty root leaves it empty; with ``force`` the layers already complete stay.
    """
    root = os.fspath(root)
    privileged = is_privileged() if privileged is None else privileged
    names, fresh = begin_store(
        images,
        root,
        names,
        force=force,
        skeleton=SKELETON,
        schema1="Docker makes a config of its own for those",
    )
    base = os.path.join(root, IMAGE_DIR)
    tmp = os.path.join(base, "layerdb", "tmp")
    ids = IdSource(seed)
    staged: dict[str, str] = {}  # chain id -> temporary tar
    try:
        stage_layers(images, tmp, staged, done=lambda chain: os.path.isdir(_chain_dir(base, chain)))
        layer_rows, image_rows = [], []
        for image, name in zip(images, names, strict=True):
            reference = _image_reference(image, name)
            for position, layer in enumerate(image.layers):
                parent = image.layers[position - 1].chain_id if position else None
                row = _write_layer(root, base, layer, parent, staged, ids, privileged)
                row["image"] = name or image.name
                layer_rows.append(row)
                if image.source.kind == "registry" and reference is not None:
                    _record_distribution(base, layer, reference)
            image_rows.append(_write_image(base, image, reference))
    except BaseException:
        for path in staged.values():
            if os.path.exists(path):
                os.unlink(path)
        if fresh:  # nothing half-written is left: the root goes back to empty
            for entry in os.listdir(root):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        raise
    for path in staged.values():
        if os.path.exists(path):
            os.unlink(path)
    notes = []
    if not privileged:
        notes.append(
            "written without root: whiteouts stay .wh. files and opaque directories carry "
            "user.overlay.opaque (as rootless engines write them), owners are this user's"
        )
    return DockerStore(
        root=root,
        layers=pd.DataFrame(layer_rows),
        images=pd.DataFrame(image_rows),
        privileged=privileged,
        notes=notes,
    )


def _chain_dir(base: str, chain_id: str) -> str:
    return os.path.join(base, "layerdb", "sha256", chain_id.partition(":")[2])


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _write_layer(root, base, layer, parent, staged, ids, privileged) -> dict:
    chain_dir = _chain_dir(base, layer.chain_id)
    row = {
        "layer": layer.index,
        "digest": layer.digest,
        "diff_id": layer.diff_id,
        "chain_id": layer.chain_id,
        "parent": parent,
    }
    if os.path.isdir(chain_dir):  # a layer another image brought: shared, not written again
        cache_id = _read_text(os.path.join(chain_dir, "cache-id"))
        link = _read_text(os.path.join(root, "overlay2", cache_id, "link"))
        size = int(_read_text(os.path.join(chain_dir, "size")))
        return {**row, "cache_id": cache_id, "link": link, "size": size, "written": False}
    cache_id, link = ids.cache_id(), ids.link_id()
    layer_dir = os.path.join(root, "overlay2", cache_id)
    _mkdir(layer_dir, 0o710)
    _mkdir(os.path.join(layer_dir, "diff"), 0o755)
    _write(os.path.join(layer_dir, "link"), link.encode())
    os.symlink(os.path.join("..", cache_id, "diff"), os.path.join(root, "overlay2", "l", link))
    if parent is not None:
        parent_cache = _read_text(os.path.join(_chain_dir(base, parent), "cache-id"))
        parent_dir = os.path.join(root, "overlay2", parent_cache)
        lower = _read_text(os.path.join(parent_dir, "link"))
        below = os.path.join(parent_dir, "lower")
        lowers = "l/" + lower + (":" + _read_text(below) if os.path.exists(below) else "")
        _write(os.path.join(layer_dir, "lower"), lowers.encode())
        _mkdir(os.path.join(layer_dir, "work"), 0o700)
        _write(os.path.join(parent_dir, "committed"), b"", 0o600)
    staged_tar = staged[layer.chain_id]
    with open(staged_tar, "rb") as stream:
        unpacked = unpack(stream, os.path.join(layer_dir, "diff"), privileged=privileged)
    size = native_diff_size(os.path.join(layer_dir, "diff"))
    tmp_chain = chain_dir + ".tmp"
    _mkdir(tmp_chain, 0o700)
    with open(staged_tar, "rb") as stream:
        tarsplit.write(tarsplit.disassemble(stream), os.path.join(tmp_chain, "tar-split.json.gz"))
    os.chmod(os.path.join(tmp_chain, "tar-split.json.gz"), 0o644)
    _write(os.path.join(tmp_chain, "diff"), layer.diff_id.encode())
    _write(os.path.join(tmp_chain, "size"), str(size).encode())
    _write(os.path.join(tmp_chain, "cache-id"), cache_id.encode())
    if parent is not None:
        _write(os.path.join(tmp_chain, "parent"), parent.encode())
    os.rename(tmp_chain, chain_dir)  # the chain directory appears complete or not at all
    return {
        **row,
        "cache_id": cache_id,
        "link": link,
        "size": size,
        "written": True,
        "whiteouts": len(unpacked.whiteouts),
        "opaque_dirs": len(unpacked.opaque_dirs),
    }


def _record_distribution(base: str, layer, reference: Reference) -> None:
    """What a pull remembers of where a layer came from (moby ``distribution/metadata``)."""
    distribution = os.path.join(base, "distribution")
    by_digest = os.path.join(distribution, "diffid-by-digest", "sha256")
    by_diff = os.path.join(distribution, "v2metadata-by-diffid", "sha256")
    for directory in (os.path.dirname(by_digest), by_digest, os.path.dirname(by_diff), by_diff):
        if not os.path.isdir(directory):
            _mkdir(directory, 0o755)
    _write(os.path.join(by_digest, layer.digest.partition(":")[2]), layer.diff_id.encode())
    path = os.path.join(by_diff, layer.diff_id.partition(":")[2])
    entries = json.loads(_read_text(path)) if os.path.exists(path) else []
    entry = {"Digest": layer.digest, "SourceRepository": reference.name, "HMAC": ""}
    if entry not in entries:
        entries.append(entry)
    _write(path, json.dumps(entries, separators=(",", ":")).encode())


def _write_image(base: str, image: Image, reference: Reference | None) -> dict:
    config = image.config_raw
    if config is None:
        raise InvalidArgumentError(f"{image.name or image.source.location}: its config bytes are not at hand")
    image_id = "sha256:" + hashlib.sha256(config).hexdigest()
    _write(os.path.join(base, "imagedb", "content", "sha256", image_id.partition(":")[2]), config, 0o600)
    keys = []
    if reference is not None:
        repository = familiar_name(reference)
        keys.append(
            f"{repository}:{reference.tag or 'latest'}" if not reference.digest or reference.tag else None
        )
        if image.source.kind == "registry":
            pulled = reference.digest or (image.index.digest if image.index is not None else image.digest)
            keys.append(f"{repository}@{pulled}")
        keys = [key for key in keys if key]
        path = os.path.join(base, "repositories.json")
        stored = json.loads(_read_text(path)) if os.path.exists(path) else {"Repositories": {}}
        entries = stored["Repositories"].setdefault(repository, {})
        for key in keys:
            entries[key] = image_id
        _write(path, _go_json(stored), 0o600)
    return {"image_id": image_id, "names": keys, "layers": len(image.layers)}
