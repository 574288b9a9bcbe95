"""The image model every analysis takes: :class:`Image`, its :class:`Layer` s and its
:class:`HistoryStep` s, built the same way whatever source the image came from."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from . import mediatypes as mt
from .compression import open_checked_tar
from .digest import chain_ids, short
from .display import render
from .errors import ManifestError
from .jsonutil import MAX_CONFIG_BYTES, expect, loads_strict
from .limits import MAX_UNCOMPRESSED_BYTES
from .manifest import ImageManifest, IndexManifest, Schema1Manifest
from .platforms import Platform

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pandas as pd

    from .sources.base import Source


@dataclass
class HistoryStep:
    """One build step (a Dockerfile instruction), oldest first.

    ``layer_index`` is the index in :attr:`Image.layers` of the layer this step made, or
    ``None`` for a metadata-only step (``empty_layer: true`` in schema 2/OCI)."""

    step: int
    created: str | None
    created_by: str
    empty_layer: bool
    layer_index: int | None = None
    author: str | None = None
    comment: str | None = None
    v1_id: str | None = None
    v1_parent: str | None = None


@dataclass
class Layer:
    """One layer blob as the manifest lists it, with what is known about its content."""

    index: int
    digest: str
    media_type: str
    size: int
    diff_id: str | None = None
    chain_id: str | None = None
    history_step: int | None = None
    created_by: str = ""
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    #: schema 1 only: the step was marked ``throwaway`` (the layer is not in the rootfs)
    throwaway: bool = False
    _image: Image | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        """The well-known 32-byte empty layers, or any layer whose diff_id is the empty tar."""
        return mt.is_empty_layer(self.digest, self.diff_id)

    @property
    def declared_compression(self) -> str:
        """What the media type says: ``gzip``, ``zstd``, ``none`` or ``unknown``."""
        return mt.layer_compression_from_media_type(self.media_type)

    @property
    def encrypted(self) -> bool:
        return mt.is_encrypted(self.media_type)

    @property
    def foreign(self) -> bool:
        """Non-distributable layer: registries often do not serve it (see ``urls``)."""
        return self.media_type.removesuffix(mt.ENCRYPTED_SUFFIX) in mt.FOREIGN_LAYER_TYPES

    @property
    def available(self) -> bool:
        """Whether the blob's bytes can be read from the image's source."""
        return self._image is not None and self._image.source.can_read(self.digest)

    def open_blob(self) -> BinaryIO:
        """The compressed blob as stored, verified against the digest as it is read."""
        size = self.size if self.size >= 0 else None  # schema 1 does not record sizes
        return self._source().open_verified(self.digest, size, what="layer")

    def open_tar(self, max_uncompressed_bytes: int | None = MAX_UNCOMPRESSED_BYTES) -> BinaryIO:
        """The uncompressed layer tar. Compression is decided by the bytes' magic number."""
        return self.open_tar_checked(max_uncompressed_bytes)[0]

    def open_tar_checked(
        self, max_uncompressed_bytes: int | None = MAX_UNCOMPRESSED_BYTES
    ) -> tuple[BinaryIO, str | None]:
        """:meth:`open_tar`, and the sha256 digest its bytes are checked against as they are
        read when the blob is an uncompressed tar (None otherwise): once the stream has been
        read to its end without an error, that digest is the tar's, its diff_id, and a reader
        need not hash the bytes a second time."""
        if self.encrypted:
            from .errors import UnsupportedMediaTypeError

            raise UnsupportedMediaTypeError(
                f"layer {self.index} ({short(self.digest)}) is encrypted ({self.media_type}); "
                "imgexplore does not decrypt layers"
            )
        return open_checked_tar(
            self.open_blob(),
            what=f"layer {self.index} ({short(self.digest)})",
            max_uncompressed_bytes=max_uncompressed_bytes,
        )

    @property
    def zstd_chunked(self) -> bool:
        """A zstd:chunked layer (containers/storage's lazy-pull format), known by its annotations."""
        return any(key in self.annotations for key in mt.ZSTD_CHUNKED_ANNOTATIONS)

    def record_diff_id(self, computed: str) -> None:
        """Record the diff_id learnt by decompressing this layer, and the chain ids it
        completes. It must be the one the config claims: otherwise the config describes
        another filesystem and :class:`DigestMismatchError` is raised. A zstd:chunked layer is
        the exception: its tar is rebuilt by its tooling and can hash differently from the
        diff_id the config records, so it is kept with a warning that names both."""
        claimed = self.diff_id
        if claimed is None or claimed == computed:
            self.diff_id = computed
            if claimed is None and self._image is not None:
                _assign_chain_ids(self._image.layers)
            return
        message = (
            f"layer {self.index} ({short(self.digest)}) decompresses to {computed}, "
            f"but the config says its diff_id is {claimed}"
        )
        if not self.zstd_chunked:
            from .errors import DigestMismatchError

            raise DigestMismatchError(message)
        warning = (
            f"{message}: it is a zstd:chunked layer, whose tar the building tool may write "
            "differently from the one it hashed; its files are listed as the blob holds them"
        )
        if self._image is not None and warning not in self._image.warnings:
            self._image.warnings.append(warning)
        log.warning("%s", warning)

    def release_blob(self) -> bool:
        """Drop the cached copy of this layer's blob if it was downloaded for this image (a
        registry image's layer); True if one was removed. See
        :meth:`~imgexplore.sources.base.Source.release_blob`."""
        return self._source().release_blob(self.digest)

    def compute_diff_id(self) -> tuple[str, int]:
        """Decompress the layer and hash it: ``(diff_id, uncompressed_size)``.

        Also verifies the compressed blob against its digest on the way."""
        hasher = hashlib.sha256()
        total = 0
        with self.open_tar() as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
                total += len(chunk)
        return "sha256:" + hasher.hexdigest(), total

    def _repr_html_(self) -> str:
        return render("layer-html", self)

    def _source(self) -> Source:
        if self._image is None:
            raise ManifestError("layer is not attached to an image")
        return self._image.source


@dataclass
class Image:
    """A single-platform image: manifest, config, layers and history.

    Build one with :func:`imgexplore.open_image`."""

    source: Source
    manifest: ImageManifest | Schema1Manifest
    config: dict[str, Any]
    layers: list[Layer]
    history: list[HistoryStep]
    platform: Platform | None = None
    index: IndexManifest | None = None
    config_digest: str | None = None
    config_raw: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    name: str = ""
    _files: Any = field(default=None, repr=False, compare=False)
    _files_key: Any = field(default=None, repr=False, compare=False)

    @property
    def digest(self) -> str:
        """The manifest digest (for signed schema 1: of the signed payload)."""
        return self.manifest.digest

    @property
    def media_type(self) -> str:
        return self.manifest.media_type

    @property
    def schema_version(self) -> int:
        return self.manifest.schema_version

    @property
    def diff_ids(self) -> list[str | None]:
        return [layer.diff_id for layer in self.layers]

    @property
    def total_size(self) -> int:
        """Sum of compressed layer sizes (what a pull downloads, counting each blob once)."""
        seen: dict[str, int] = {}
        for layer in self.layers:
            seen[layer.digest] = layer.size
        return sum(seen.values())

    @property
    def transcript(self):
        """For registry images: every request made so far (method, URL, status, masked auth,
        content type, digest, bytes, time) as a DataFrame; None for local sources."""
        client = getattr(self.source, "client", None)
        return client.transcript.table() if client is not None else None

    def compute_diff_ids(self) -> list[str]:
        """Decompress every layer to learn (or check) its diff_id, and fill in chain ids.

        For schema 2/OCI the result is checked against the config's ``rootfs.diff_ids``;
        a difference is an error, since the config then describes another filesystem."""
        result = []
        for layer in self.layers:
            diff_id, _ = layer.compute_diff_id()
            layer.record_diff_id(diff_id)
            result.append(diff_id)
        _assign_chain_ids(self.layers)
        return result

    def files(
        self, *, cache: bool = True, hash_files: bool = True, progress: bool = False, toc_only: bool = False
    ):
        """The file-tree views (:class:`~imgexplore.filetree.ImageFiles`); layer blobs are read
        on first use and their tables cached by diff_id. ``toc_only``: from the layers' lazy-pull
        TOCs (eStargz, zstd:chunked, SOCI zTOCs) alone, no layer downloaded."""
        from .filetree import ImageFiles  # the file-tree code (numpy, pandas) only when asked for

        key = (cache, hash_files, toc_only)
        if self._files is None or self._files_key != key:
            self._files = ImageFiles(
                self, cache=cache, hash_files=hash_files, progress=progress, toc_only=toc_only
            )
            self._files_key = key
        return self._files

    def layers_table(self) -> pd.DataFrame:
        """One row per layer: index, digest, media type, size, diff_id, chain id, empty, step."""
        from .rows import layers_table  # pandas is imported when a table is first asked for

        return layers_table(self)

    def history_table(self) -> pd.DataFrame:
        """One row per history step, with the layer it produced (or none)."""
        from .rows import history_table

        return history_table(self)

    def summary(self) -> str:
        """A short human-readable description."""
        return render("image-text", self)

    def _repr_html_(self) -> str:
        return render("image-html", self)

    def __repr__(self) -> str:
        return (
            f"<Image {self.name or self.source.location} {short(self.digest)} "
            f"{len(self.layers)} layers, {len(self.history)} steps>"
        )


# -- building images from manifests -------------------------------------------------------


def image_from_manifest(
    source: Source,
    manifest: ImageManifest | Schema1Manifest,
    *,
    platform: Platform | None = None,
    index: IndexManifest | None = None,
    name: str = "",
) -> Image:
    """Build the :class:`Image` for a single-platform manifest (reading its config)."""
    if isinstance(manifest, Schema1Manifest):
        image = _from_schema1(source, manifest)
    else:
        image = _from_image_manifest(source, manifest)
    image.index = index
    image.name = name
    if platform is not None:
        image.platform = platform
    image.warnings.extend(source.notes)
    return image


def _from_image_manifest(source: Source, manifest: ImageManifest) -> Image:
    artifact = ManifestError(
        f"manifest {short(manifest.digest)} is an artifact "
        f"({manifest.artifact_type or manifest.config.media_type}), not a container image"
    )
    if manifest.is_artifact and (manifest.artifact_type or not _all_image_layers(manifest)):
        raise artifact
    config_raw = source.read_blob(
        manifest.config.digest, manifest.config.size, max_bytes=MAX_CONFIG_BYTES, what="config"
    )
    config = expect(
        loads_strict(config_raw, f"config {manifest.config.digest}", MAX_CONFIG_BYTES), dict, "image config"
    )
    warnings: list[str] = []
    if manifest.is_artifact:
        # Some tools label an ordinary image config application/octet-stream or the like;
        # what decides is whether it is one (it describes a layered root filesystem).
        rootfs = config.get("rootfs")
        if not (isinstance(rootfs, dict) and rootfs.get("type") == "layers"):
            raise artifact
        warnings.append(
            f"the config's media type {manifest.config.media_type!r} is not an image config's, "
            "but its content is an image config: read as one"
        )
    rootfs = config.get("rootfs")
    diff_ids: list = []
    if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
        diff_ids = rootfs["diff_ids"]
    else:
        warnings.append("config has no rootfs.diff_ids: diff_ids and chain ids are unknown until computed")
    if diff_ids and len(diff_ids) != len(manifest.layers):
        warnings.append(
            f"config lists {len(diff_ids)} diff_ids but the manifest has {len(manifest.layers)} layers"
        )
    layers = []
    for i, d in enumerate(manifest.layers):
        diff_id = diff_ids[i] if i < len(diff_ids) and isinstance(diff_ids[i], str) else None
        layers.append(
            Layer(
                index=i,
                digest=d.digest,
                media_type=d.media_type,
                size=d.size,
                diff_id=diff_id,
                urls=d.urls,
                annotations=d.annotations,
            )
        )
    _assign_chain_ids(layers)
    raw_history = config.get("history") if isinstance(config.get("history"), list) else []
    history = []
    for i, h in enumerate(raw_history):
        h = h if isinstance(h, dict) else {}
        history.append(
            HistoryStep(
                step=i,
                created=_str_or_none(h.get("created")),
                created_by=str(h.get("created_by") or ""),
                empty_layer=h.get("empty_layer") is True,
                author=_str_or_none(h.get("author")),
                comment=_str_or_none(h.get("comment")),
            )
        )
    warnings.extend(_align_history(history, layers))
    image = Image(
        source=source,
        manifest=manifest,
        config=config,
        layers=layers,
        history=history,
        platform=_config_platform(config),
        config_digest=manifest.config.digest,
        config_raw=config_raw,
        warnings=warnings,
    )
    for layer in layers:
        layer._image = image
    return image


def _all_image_layers(manifest: ImageManifest) -> bool:
    return all(d.media_type.removesuffix(mt.ENCRYPTED_SUFFIX) in mt.LAYER_TYPES for d in manifest.layers)


def _align_history(history: list[HistoryStep], layers: list[Layer]) -> list[str]:
    """Give each non-empty step the next layer, in order; report any mismatch."""
    warnings = []
    next_layer = 0
    unmatched_steps = []
    for step in history:
        if step.empty_layer:
            continue
        if next_layer < len(layers):
            step.layer_index = next_layer
            layers[next_layer].history_step = step.step
            layers[next_layer].created_by = step.created_by
            next_layer += 1
        else:
            unmatched_steps.append(step.step)
    if unmatched_steps:
        warnings.append(
            f"history has {len(layers) + len(unmatched_steps)} steps that make a layer but the image "
            f"has {len(layers)} layers; steps {unmatched_steps} have no layer"
        )
    if history and next_layer < len(layers):
        missing = list(range(next_layer, len(layers)))
        warnings.append(
            f"{len(missing)} layer(s) {missing} have no history step (history lists "
            f"{next_layer} steps that make a layer); an image built from a base without history does this"
        )
    elif not history and layers:
        warnings.append("config has no history: layers cannot be tied to build steps")
    return warnings


def _assign_chain_ids(layers: list[Layer]) -> None:
    """Chain ids over the layers that are in the rootfs, as far as diff_ids are known."""
    rootfs = [layer for layer in layers if not layer.throwaway]
    known = []
    for layer in rootfs:
        if layer.diff_id is None:
            break
        known.append(layer.diff_id)
    for layer, chain_id in zip(rootfs, chain_ids(known), strict=False):
        layer.chain_id = chain_id


# _from_schema1 and _from_image_manifest each end in an Image(...) call of the same shape:
# the two manifest kinds fill the same model from different places, deliberately side by side.
def _from_schema1(source: Source, manifest: Schema1Manifest) -> Image:
    layers = []
    history = []
    for i, s1 in enumerate(manifest.steps):
        diff_id = mt.EMPTY_LAYER_DIFF_ID if s1.blob_sum in mt.EMPTY_LAYER_DIGESTS else None
        layers.append(
            Layer(
                index=i,
                digest=s1.blob_sum,
                media_type=mt.DOCKER_LAYER_GZIP,
                size=-1,
                diff_id=diff_id,
                history_step=i,
                created_by=s1.created_by,
                throwaway=s1.throwaway,
            )
        )
        history.append(
            HistoryStep(
                step=i,
                created=s1.created,
                created_by=s1.created_by,
                # older schema 1 manifests never wrote throwaway: their metadata-only
                # steps show only as the 32-byte empty blob
                empty_layer=s1.throwaway or s1.blob_sum in mt.EMPTY_LAYER_DIGESTS,
                layer_index=i,
                author=s1.author,
                comment=s1.comment,
                v1_id=s1.id,
                v1_parent=s1.parent,
            )
        )
    _assign_chain_ids(layers)
    # The newest step's v1Compatibility carries the image config (docker does the same).
    config = {k: v for k, v in manifest.steps[-1].v1.items() if k not in ("id", "parent", "throwaway")}
    warnings = _check_schema1_chain(manifest)
    if manifest.signature_problem:
        warnings.append(manifest.signature_problem)
    warnings.append(
        "schema 1 manifests do not record compressed layer sizes (size shown as -1) or "
        "diff_ids; compute_diff_ids() decompresses the layers to learn them"
    )
    image = Image(
        source=source,
        manifest=manifest,
        config=config,
        layers=layers,
        history=history,
        platform=Platform(
            str(config.get("os") or "linux"), manifest.architecture or str(config.get("architecture") or "")
        ),
        warnings=warnings,
    )
    for layer in layers:
        layer._image = image
    return image


def _check_schema1_chain(manifest: Schema1Manifest) -> list[str]:
    """Each step's parent must be the step before it (the wire order is the chain)."""
    warnings = []
    ids = [s.id for s in manifest.steps]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        warnings.append(f"schema 1 history repeats ids {[short(d) for d in dupes]}")
    for prev, step in zip(manifest.steps, manifest.steps[1:], strict=False):
        if step.parent != prev.id:
            warnings.append(
                f"schema 1 step {short(step.id)} names parent {short(step.parent) or 'none'}, "
                f"but the step before it is {short(prev.id)}"
            )
    base_parent = manifest.steps[0].parent if manifest.steps else None
    if base_parent and base_parent in ids:
        warnings.append(
            f"schema 1 base step names as its parent {short(base_parent)}, a step of this same "
            "manifest: the ids form a cycle"
        )
    elif base_parent:
        warnings.append(f"schema 1 base step names a parent ({short(base_parent)}) not in the manifest")
    return warnings


def _config_platform(config: dict) -> Platform | None:
    os_name, arch = config.get("os"), config.get("architecture")
    if isinstance(os_name, str) and isinstance(arch, str) and (os_name or arch):
        return Platform(os_name, arch, str(config.get("variant") or ""), str(config.get("os.version") or ""))
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
