"""File work shared by the engine stores: a root that may be written, layers decompressed and
checked before anything else is written, small files with the modes engines give them."""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from collections.abc import Callable, Sequence

from ..digest import short
from ..errors import OutputPathError
from .unpack import check_layer


def write(path: str, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` with exactly ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def mkdir(path: str, mode: int) -> None:
    """Make ``path`` (and missing parents) and give it exactly ``mode``."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


def prepare_root(root: str, force: bool) -> bool:
    """Make sure ``root`` can be written; returns whether it was created or empty."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise OutputPathError(f"{root} exists and is not a directory")
    fresh = not os.path.exists(root) or not os.listdir(root)
    if not fresh and not force:
        raise OutputPathError(
            f"{root} is not empty: give an empty or new directory, or --force to add these images "
            "to the store already there"
        )
    os.makedirs(root, exist_ok=True)
    return fresh


def begin_store(
    images: Sequence,
    root: str,
    names: Sequence[str | None] | None,
    *,
    force: bool,
    skeleton: dict[str, int],
    schema1: str,
) -> tuple[list[str | None], bool]:
    """What every store writer does first: one name (or None) per image, no schema 1 image
    (``schema1`` says what the engine would do with one), a root that may be written, and
    the directories the engine makes before any pull. Returns (names, whether the root was
    new or empty)."""
    from ..errors import InvalidArgumentError
    from ..manifest import Schema1Manifest

    names = list(names) if names is not None else [None] * len(images)
    if len(names) != len(images):
        raise InvalidArgumentError("give one name (or None) per image")
    for image in images:
        if isinstance(image.manifest, Schema1Manifest):
            raise InvalidArgumentError(
                f"{image.name or image.source.location} is a schema 1 image: {schema1}, which imgexplore "
                "does not compute; use the schema 2 or OCI form"
            )
    fresh = prepare_root(root, force)
    for relative, mode in skeleton.items():
        if not os.path.isdir(os.path.join(root, relative)):
            mkdir(os.path.join(root, relative), mode)
    return names, fresh


def stage_layer(layer, tmp: str) -> str:
    """Decompress a layer into a temporary tar in ``tmp`` (inside the store being written),
    checking its diff_id on the way. Returns the temporary file's path."""
    fd, path = tempfile.mkstemp(prefix="write-set-", suffix=".tar", dir=tmp)
    hasher = hashlib.sha256()
    with os.fdopen(fd, "wb") as out, layer.open_tar() as stream:
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
            out.write(chunk)
    layer.record_diff_id("sha256:" + hasher.hexdigest())  # DigestMismatchError if the config lies
    return path


def stage_layers(images: Sequence, tmp: str, staged: dict[str, str], done: Callable[[str], bool]) -> None:
    """Decompress and check (:func:`~imgexplore.host.unpack.check_layer`) every layer of
    ``images`` not ``done`` already, into ``staged`` (chain id -> temporary tar), before
    anything of the store is written."""
    for image in images:
        for layer in image.layers:
            if layer.chain_id in staged or (layer.chain_id and done(layer.chain_id)):
                continue
            path = stage_layer(layer, tmp)
            staged[layer.chain_id] = path
            with tarfile.open(path, "r:") as tar:
                check_layer(tar.getmembers(), f"layer {layer.index} ({short(layer.digest)})")
