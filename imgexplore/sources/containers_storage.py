"""``containers-storage:[[DRIVER@]ROOT[+RUNROOT]]NAME`` — an image in the store podman,
buildah and CRI-O share (containers/storage), read directly, in skopeo's syntax.

``overlay-images/images.json`` names the images; each image keeps "big data" files beside
it (the pulled ``manifest``, the config under its digest; a key that is not a plain word is
stored as ``=`` + base64 of the key). ``overlay-layers/layers.json`` lists the layers with
the compressed digest they came from and their uncompressed ``diff-digest``; each layer's
tar is rebuilt from ``overlay-layers/<id>.tar-split.gz`` and ``overlay/<id>/diff``.

The store keeps the manifest as it was pulled, so the image's digests are the registry's;
it does not keep compressed blobs, so a layer is served as its rebuilt, uncompressed tar,
checked against the ``diff-digest`` (the diff_id) instead of the compressed digest. A layer
pulled in part (zstd:chunked, from its table of contents) may have no ``diff-digest``
recorded; it is checked against the diff_id the image's config names at its position.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from typing import BinaryIO

from ..digest import VerifyingReader, validate_digest
from ..errors import BlobNotFoundError, InvalidReferenceError, SourceError
from ..host import tarsplit
from ..manifest import Manifest, parse_manifest
from ..reference import parse_reference
from .base import Source

DEFAULT_ROOT = "/var/lib/containers/storage"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9._-]+$")


def parse_spec(text: str) -> tuple[str, str, str]:
    """``[[DRIVER@]ROOT[+RUNROOT]]NAME`` → (driver, root, name).

    >>> parse_spec("[overlay@/tmp/s+/run/s]alpine"), parse_spec("alpine")[1:]
    (('overlay', '/tmp/s', 'alpine'), ('/var/lib/containers/storage', 'alpine'))
    """
    if not text.startswith("["):
        return "overlay", DEFAULT_ROOT, text
    inside, sep, name = text[1:].partition("]")
    if not sep:
        raise SourceError(f"containers-storage:{text}: the store in brackets needs its closing bracket")
    driver, at, rest = inside.partition("@")
    if not at:
        driver, rest = "overlay", inside
    root = rest.partition("+")[0] or DEFAULT_ROOT
    return driver, root, name


def big_data_name(key: str) -> str:
    """The file containers/storage keeps a big-data item in.

    >>> big_data_name("manifest"), big_data_name("sha256:ab")
    ('manifest', '=c2hhMjU2OmFi')
    """
    return key if _PLAIN_KEY.match(key) else "=" + base64.b64encode(key.encode()).decode()


class ContainersStorageSource(Source):
    """An image in containers/storage (see the module's description)."""

    kind = "containers-storage"

    def __init__(self, spec: str):
        self.driver, self.root, name = parse_spec(spec)
        super().__init__(f"containers-storage:{spec}")
        if self.driver != "overlay":
            raise SourceError(f"{self.location}: only the overlay driver's store is read (not {self.driver})")
        images = self._json(os.path.join(self.root, "overlay-images", "images.json"), "the image list")
        self.image = self._find(images, name)
        self.image_dir = os.path.join(self.root, "overlay-images", self.image["id"])
        layers = self._json(os.path.join(self.root, "overlay-layers", "layers.json"), "the layer list")
        by_id = {layer["id"]: layer for layer in layers}
        chain, current = [], by_id.get(self.image.get("layer"))
        while current is not None:
            chain.append(current)
            current = by_id.get(current.get("parent"))
        chain.reverse()  # base first
        # The manifest's layers, position by position: a layer another image brought first
        # records that image's compressed digest, so digests alone do not find it.
        manifest = self.root_manifest()
        descriptors = [d.digest for d in manifest.layers]
        if len(descriptors) != len(chain):
            raise SourceError(
                f"{self.location}: the manifest lists {len(descriptors)} layers, the store {len(chain)}: the store is damaged"
            )
        self.layers: dict[str, dict] = dict(zip(descriptors, chain, strict=True))
        self.layers.update({layer["diff-digest"]: layer for layer in chain if layer.get("diff-digest")})
        # what each layer's rebuilt tar must hash to: the store's record, else the config's
        diff_ids = self._config_diff_ids(manifest.config.digest, len(chain))
        self._expected = {
            layer["id"]: layer.get("diff-digest") or diff_id
            for layer, diff_id in zip(chain, diff_ids, strict=True)
        }

    def _json(self, path: str, what: str):
        try:
            with open(path, "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            raise SourceError(
                f"{self.location}: {path} is missing ({what}); is {self.root} a containers/storage root?"
            ) from None
        except PermissionError:
            raise SourceError(
                f"{self.location}: permission denied reading {path}: run as the store's owner (root)"
            ) from None
        except ValueError:
            raise SourceError(f"{self.location}: {path} is not JSON") from None

    def _config_diff_ids(self, config_digest: str, count: int) -> list[str]:
        try:
            diff_ids = json.loads(self._big_data(config_digest))["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(
                f"{self.location}: the stored config {config_digest} has no rootfs.diff_ids"
            ) from None
        if len(diff_ids) != count:
            raise SourceError(
                f"{self.location}: the config lists {len(diff_ids)} layers, the store {count}: the store is damaged"
            )
        return diff_ids

    def _find(self, images: list[dict], name: str) -> dict:
        wanted = {name}
        try:
            reference = parse_reference(name)
            wanted.add(
                f"{reference.name}:{reference.tag or 'latest'}" if not reference.digest else str(reference)
            )
        except InvalidReferenceError:  # an id, not a reference
            pass
        for image in images:
            if (
                wanted & set(image.get("names") or [])
                or image["id"] == name
                or (len(name) >= 12 and image["id"].startswith(name))
            ):
                return image
        listed = ", ".join(n for image in images for n in image.get("names") or [])[:300] or "none"
        raise SourceError(f"{self.location}: no image {name!r} in {self.root} (names there: {listed})")

    def _big_data(self, key: str) -> bytes:
        path = os.path.join(self.image_dir, big_data_name(key))
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise BlobNotFoundError(f"{self.location}: the store keeps no {key!r} for this image") from None

    # -- the Source interface ------------------------------------------------------------------
    def root_manifest(self) -> Manifest:
        return parse_manifest(self._big_data("manifest"), what=f"{self.location} (its stored manifest)")

    def open_blob(self, digest: str) -> BinaryIO:
        validate_digest(digest)
        if digest in self.layers:
            layer = self.layers[digest]
            records = tarsplit.read(os.path.join(self.root, "overlay-layers", f"{layer['id']}.tar-split.gz"))
            return io.BufferedReader(
                tarsplit.AssembledStream(records, os.path.join(self.root, "overlay", layer["id"], "diff"))
            )
        return io.BytesIO(self._big_data(digest))

    def open_verified(self, digest: str, size: int | None = None, what: str = "blob") -> VerifyingReader:
        """Layers come back uncompressed: checked against their diff-digest (else the config's
        diff_id) and diff-size."""
        layer = self.layers.get(digest)
        if layer is None or digest == self._expected[layer["id"]]:
            return super().open_verified(digest, size, what)
        return VerifyingReader(
            self.open_blob(digest), self._expected[layer["id"]], layer.get("diff-size"), what
        )

    def has_blob(self, digest: str) -> bool:
        if digest in self.layers:
            return True
        return os.path.exists(os.path.join(self.image_dir, big_data_name(digest)))
