"""Manifests in every format a user meets, parsed into one small model.

* Docker schema 1 (signed ``prettyjws`` or unsigned) → :class:`Schema1Manifest`
* Docker schema 2 and OCI image manifests → :class:`ImageManifest`
* Docker manifest lists and OCI indexes → :class:`IndexManifest`
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from . import mediatypes as mt
from .digest import sha256_digest, validate_digest
from .display import render
from .errors import InvalidDigestError, ManifestError, UnsupportedMediaTypeError
from .jsonutil import MAX_MANIFEST_BYTES, expect, loads_strict
from .platforms import Platform


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about a blob or a child manifest."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str | None = None

    @property
    def is_foreign(self) -> bool:
        """Non-distributable / foreign layers: registries may not hold them (see ``urls``)."""
        return self.media_type.removesuffix(mt.ENCRYPTED_SUFFIX) in mt.FOREIGN_LAYER_TYPES

    @property
    def is_encrypted(self) -> bool:
        """ocicrypt layers (``…+encrypted``)."""
        return mt.is_encrypted(self.media_type)

    @property
    def is_attestation(self) -> bool:
        """BuildKit attestation manifests (``unknown/unknown`` with a reference-type annotation)."""
        return self.annotations.get(mt.DOCKER_REFERENCE_TYPE) == "attestation-manifest" or bool(
            self.platform and self.platform.is_unknown
        )


class _ShownAsTable:
    def _repr_html_(self) -> str:
        """Notebooks show a table of what the manifest names, not a wall of JSON."""
        return render("manifest-html", self)


@dataclass(frozen=True)
class ImageManifest(_ShownAsTable):
    """A Docker schema 2 or OCI image manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes
    digest: str
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None

    schema_version = 2

    @property
    def is_artifact(self) -> bool:
        """An OCI artifact rather than a runnable image (its config is not an image config)."""
        return bool(self.artifact_type) or self.config.media_type not in mt.IMAGE_CONFIG_TYPES


# The two schema 2 kinds repeat their trailing fields on purpose: a shared dataclass base
# would put them first and force keyword-only construction everywhere.
@dataclass(frozen=True)
class IndexManifest(_ShownAsTable):
    """A Docker manifest list or an OCI image index."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes
    digest: str
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    subject: Descriptor | None = None

    schema_version = 2


@dataclass(frozen=True)
class Schema1Step:
    """One ``history[].v1Compatibility`` entry of a schema 1 manifest, with its blob."""

    id: str
    parent: str | None
    blob_sum: str
    created: str | None
    created_by: str
    throwaway: bool
    author: str | None
    comment: str | None
    v1: dict[str, Any]


@dataclass(frozen=True)
class Schema1Manifest(_ShownAsTable):
    """A Docker schema 1 manifest. ``steps`` are oldest first (the wire order is newest first)."""

    media_type: str
    name: str
    tag: str
    architecture: str
    steps: tuple[Schema1Step, ...]
    raw: bytes
    digest: str
    signed: bool
    payload: bytes
    #: set when a signed manifest no longer matches its JWS signature (edited after signing)
    signature_problem: str | None = None

    schema_version = 1

    @property
    def fs_layers(self) -> list[str]:
        """``fsLayers[].blobSum`` in wire order (newest first)."""
        return [s.blob_sum for s in reversed(self.steps)]


Manifest = ImageManifest | IndexManifest | Schema1Manifest


def parse_manifest(
    raw: bytes,
    media_type: str | None = None,
    *,
    max_bytes: int = MAX_MANIFEST_BYTES,
    what: str = "manifest",
) -> Manifest:
    """Parse manifest bytes into the model, validating structure, media types and digests.

    ``media_type`` is what the transport said (an HTTP ``Content-Type`` or a descriptor's
    ``mediaType``); when given it must agree with the document's own ``mediaType``.

    >>> manifest = parse_manifest(open("data/teaching/schema1.json", "rb").read())
    >>> type(manifest).__name__, len(manifest.steps), manifest.digest[:19]
    ('Schema1Manifest', 12, 'sha256:010d7f59fc3e')
    >>> parse_manifest(b'{"schemaVersion": 3}')
    Traceback (most recent call last):
    imgexplore.errors.ManifestError: manifest: unsupported schemaVersion 3 (imgexplore reads schema 1 and 2)
    """
    doc = loads_strict(raw, what, max_bytes)
    if not isinstance(doc, dict):
        raise ManifestError(f"{what} must be a JSON object, got {type(doc).__name__}")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestError(f"{what}: mediaType must be a string")
    version = doc.get("schemaVersion")
    if version is None:
        raise ManifestError(f"{what} has no schemaVersion: not an image manifest")
    if version == 1 or declared in mt.SCHEMA1_TYPES:
        if version != 1:
            raise ManifestError(f"{what}: schema 1 media type but schemaVersion {version!r}")
        return _parse_schema1(doc, raw, what)
    if version != 2:
        raise ManifestError(
            f"{what}: unsupported schemaVersion {version!r} (imgexplore reads schema 1 and 2)"
        )
    kind = declared or _guess_media_type(doc, what)
    if media_type and not _compatible(media_type, kind):
        raise ManifestError(
            f"{what}: served as {media_type!r} but the document says {kind!r}; refusing the mismatch"
        )
    if kind in mt.INDEX_TYPES:
        if "manifests" not in doc:
            raise ManifestError(f"{what}: {kind} has no 'manifests' array")
        return _parse_index(doc, raw, kind, what)
    if kind in mt.IMAGE_MANIFEST_TYPES:
        if "config" not in doc or "layers" not in doc:
            hint = " (it has fsLayers: a schema 1 body)" if "fsLayers" in doc else ""
            raise ManifestError(f"{what}: {kind} needs 'config' and 'layers'{hint}")
        return _parse_image_manifest(doc, raw, kind, what)
    raise UnsupportedMediaTypeError(
        f"{what}: unknown manifest media type {kind!r}; known: " + ", ".join(sorted(mt.ALL_MANIFEST_TYPES))
    )


def _compatible(transport: str, document: str) -> bool:
    transport = transport.split(";")[0].strip()
    if transport in ("", "application/json", "application/octet-stream", "text/plain"):
        return True
    # The digest pins the content; a Docker/OCI label swap within one kind is harmless,
    # but an index served as a manifest (or the reverse) is not.
    for family in (mt.INDEX_TYPES, mt.IMAGE_MANIFEST_TYPES, mt.SCHEMA1_TYPES):
        if transport in family:
            return document in family
    return transport == document


def _guess_media_type(doc: dict, what: str) -> str:
    # OCI allows mediaType to be absent; decide by structure as the image-spec suggests.
    has_manifests = "manifests" in doc
    has_image = "config" in doc or "layers" in doc
    if has_manifests and has_image:
        raise ManifestError(f"{what} has both 'manifests' and 'config'/'layers'; cannot tell its kind")
    if has_manifests:
        return mt.OCI_INDEX
    if has_image:
        return mt.OCI_MANIFEST
    if "fsLayers" in doc:
        raise ManifestError(f"{what}: schema 1 body (fsLayers) with schemaVersion 2")
    raise ManifestError(f"{what} has no mediaType, 'manifests', 'config' or 'layers': not a manifest")


def referrer_descriptors(index: Any, artifact_type: str | None = None) -> list[dict]:
    """The ``manifests`` entries of a referrers index (the referrers API's answer, a
    tag-schema index) as plain dicts, those of ``artifact_type`` only when one is given."""
    listed = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(listed, list):
        return []
    return [d for d in listed if isinstance(d, dict) and artifact_type in (None, d.get("artifactType"))]


def parse_descriptor(data: Any, where: str) -> Descriptor:
    """Validate and convert one descriptor object."""
    expect(data, dict, where)
    media_type = expect(data.get("mediaType"), str, f"{where}.mediaType")
    digest = expect(data.get("digest"), str, f"{where}.digest")
    try:
        validate_digest(digest)
    except InvalidDigestError as exc:
        raise ManifestError(f"{where}.digest: {exc}") from None
    size = expect(data.get("size"), int, f"{where}.size")
    if size < 0:
        raise ManifestError(f"{where}.size is negative ({size})")
    urls = data.get("urls") or []
    expect(urls, list, f"{where}.urls")
    for u in urls:
        expect(u, str, f"{where}.urls[]")
    annotations = _annotations(data.get("annotations"), where)
    platform = data.get("platform")
    if platform is not None:
        expect(platform, dict, f"{where}.platform")
    artifact_type = data.get("artifactType")
    if artifact_type is not None:
        expect(artifact_type, str, f"{where}.artifactType")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        urls=tuple(urls),
        annotations=annotations,
        platform=Platform.from_dict(platform),
        artifact_type=artifact_type,
    )


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    expect(value, dict, f"{where}.annotations")
    return {str(k): str(v) for k, v in value.items()}


def _parse_image_manifest(doc: dict, raw: bytes, kind: str, what: str) -> ImageManifest:
    config = parse_descriptor(doc.get("config"), f"{what}.config")
    layers = expect(doc.get("layers"), list, f"{what}.layers")
    descriptors = tuple(parse_descriptor(d, f"{what}.layers[{i}]") for i, d in enumerate(layers))
    for i, layer in enumerate(descriptors):
        base = layer.media_type.removesuffix(mt.ENCRYPTED_SUFFIX)
        if kind == mt.DOCKER_SCHEMA2 and base not in mt.LAYER_TYPES:
            raise UnsupportedMediaTypeError(
                f"{what}.layers[{i}]: unknown layer media type {layer.media_type!r}"
            )
        if (
            kind == mt.OCI_MANIFEST
            and not doc.get("artifactType")
            and config.media_type in mt.IMAGE_CONFIG_TYPES
            and base.startswith(("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs."))
            and base not in mt.LAYER_TYPES
        ):
            raise UnsupportedMediaTypeError(
                f"{what}.layers[{i}]: unknown layer media type {layer.media_type!r}"
            )
    subject = doc.get("subject")
    return ImageManifest(
        media_type=kind,
        config=config,
        layers=descriptors,
        raw=raw,
        digest=sha256_digest(raw),
        annotations=_annotations(doc.get("annotations"), what),
        artifact_type=doc.get("artifactType"),
        subject=parse_descriptor(subject, f"{what}.subject") if subject is not None else None,
    )


def _parse_index(doc: dict, raw: bytes, kind: str, what: str) -> IndexManifest:
    entries = expect(doc.get("manifests"), list, f"{what}.manifests")
    manifests = tuple(parse_descriptor(d, f"{what}.manifests[{i}]") for i, d in enumerate(entries))
    subject = doc.get("subject")
    return IndexManifest(
        media_type=kind,
        manifests=manifests,
        raw=raw,
        digest=sha256_digest(raw),
        annotations=_annotations(doc.get("annotations"), what),
        artifact_type=doc.get("artifactType"),
        subject=parse_descriptor(subject, f"{what}.subject") if subject is not None else None,
    )


def schema1_payload(raw: bytes, doc: dict, what: str = "schema 1 manifest") -> tuple[bytes, bool, str | None]:
    """The signed payload of a schema 1 manifest, whether it carried signatures, and what is
    wrong with them (``None`` if nothing).

    A signed (``prettyjws``) manifest is the payload with a ``signatures`` block spliced in;
    each signature's protected header says how to rebuild it: the first ``formatLength``
    bytes of what was received, then ``formatTail`` (base64url). Its digest is over that
    payload, which is why it stays stable while a registry re-signs on every GET.

    A manifest edited or re-indented after signing no longer matches its signature; its
    payload is then unknowable, so the bytes as given stand in and the problem is returned."""
    if "signatures" not in doc:
        return raw, False, None
    signatures = expect(doc["signatures"], list, f"{what}.signatures")
    if not signatures:
        raise ManifestError(f"{what}: 'signatures' is empty")
    payloads = set()
    for i, signature in enumerate(signatures):
        where = f"{what}.signatures[{i}]"
        expect(signature, dict, where)
        protected = expect(signature.get("protected"), str, f"{where}.protected")
        header = loads_strict(b64url_decode(protected, f"{where}.protected"), f"{where}.protected header")
        expect(header, dict, f"{where}.protected header")
        length = expect(header.get("formatLength"), int, f"{where}.protected formatLength")
        tail = b64url_decode(expect(header.get("formatTail"), str, f"{where}.protected formatTail"), where)
        if not 0 < length <= len(raw):
            raise ManifestError(f"{where}: formatLength {length} is outside the {len(raw)}-byte manifest")
        payloads.add(raw[:length] + tail)
    if len(payloads) != 1:
        raise ManifestError(f"{what}: its signatures describe different payloads")
    payload = payloads.pop()
    # The payload must be the document received, minus the signatures.
    try:
        signed_doc = loads_strict(payload, f"{what} signed payload")
    except ManifestError as exc:
        signed_doc, reason = None, str(exc)
    else:
        reason = "its content differs from the signed payload"
    unsigned = {k: v for k, v in doc.items() if k != "signatures"}
    if signed_doc != unsigned:
        problem = (
            f"the JWS signature does not cover this document ({reason}): it was edited or "
            "re-indented after signing, so its registry digest cannot be recomputed; the digest "
            "shown is of the bytes as given"
        )
        return raw, True, problem
    return payload, True, None


def b64url_decode(text: str, where: str = "base64url text") -> bytes:
    """Unpadded base64url (JWS, JWT) to bytes; :class:`ManifestError` naming ``where`` if invalid."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ManifestError(f"{where}: invalid base64url") from None


def _parse_schema1(doc: dict, raw: bytes, what: str) -> Schema1Manifest:
    payload, signed, signature_problem = schema1_payload(raw, doc, what)
    fs_layers = expect(doc.get("fsLayers"), list, f"{what}.fsLayers")
    history = expect(doc.get("history"), list, f"{what}.history")
    if len(fs_layers) != len(history):
        raise ManifestError(
            f"{what}: {len(fs_layers)} fsLayers but {len(history)} history entries; they must pair up"
        )
    if not fs_layers:
        raise ManifestError(f"{what} has no fsLayers")
    steps: list[Schema1Step] = []
    # Wire order is newest first; the model keeps images oldest first.
    for wire_index in range(len(fs_layers) - 1, -1, -1):
        where = f"{what}.fsLayers[{wire_index}]"
        layer = expect(fs_layers[wire_index], dict, where)
        blob_sum = expect(layer.get("blobSum"), str, f"{where}.blobSum")
        try:
            validate_digest(blob_sum)
        except InvalidDigestError as exc:
            raise ManifestError(f"{where}.blobSum: {exc}") from None
        entry = expect(history[wire_index], dict, f"{what}.history[{wire_index}]")
        v1_text = expect(entry.get("v1Compatibility"), str, f"{what}.history[{wire_index}].v1Compatibility")
        v1 = expect(
            loads_strict(v1_text, f"{what}.history[{wire_index}].v1Compatibility"),
            dict,
            f"{what}.history[{wire_index}].v1Compatibility",
        )
        v1_id = expect(v1.get("id"), str, f"{what}.history[{wire_index}].v1Compatibility.id")
        parent = v1.get("parent")
        if parent is not None:
            expect(parent, str, f"{what}.history[{wire_index}].v1Compatibility.parent")
        steps.append(
            Schema1Step(
                id=v1_id,
                parent=parent or None,
                blob_sum=blob_sum,
                created=v1.get("created") if isinstance(v1.get("created"), str) else None,
                created_by=_schema1_created_by(v1),
                throwaway=v1.get("throwaway") is True,
                author=v1.get("author") if isinstance(v1.get("author"), str) else None,
                comment=v1.get("comment") if isinstance(v1.get("comment"), str) else None,
                v1=v1,
            )
        )
    return Schema1Manifest(
        media_type=mt.DOCKER_SCHEMA1_SIGNED if signed else mt.DOCKER_SCHEMA1,
        name=str(doc.get("name") or ""),
        tag=str(doc.get("tag") or ""),
        architecture=str(doc.get("architecture") or ""),
        steps=tuple(steps),
        raw=raw,
        digest=sha256_digest(payload),
        signed=signed,
        payload=payload,
        signature_problem=signature_problem,
    )


def _schema1_created_by(v1: dict) -> str:
    # Docker's schema1 → schema2 conversion joins container_config.Cmd with spaces.
    container_config = v1.get("container_config")
    cmd = container_config.get("Cmd") if isinstance(container_config, dict) else None
    if isinstance(cmd, list):
        return " ".join(str(c) for c in cmd)
    if isinstance(cmd, str):
        return cmd
    return ""
