"""SOCI (Seekable OCI): a lazy-pulling index kept *beside* an unchanged gzip image.

Where eStargz and zstd:chunked rewrite the layers, SOCI leaves them alone and adds an
artifact: the SOCI index, an OCI manifest whose layers are zTOCs, one per (large) image
layer. It is found

* v2 (soci-snapshotter 0.10+): through the image index, whose entry for the image manifest
  carries ``com.amazon.soci.index-digest``;
* v1: as a referrer of the image manifest (its ``subject``) — the registry's referrers API
  (``GET /v2/NAME/referrers/DIGEST``), else the tag schema's index (tag ``sha256-<hex>``),
  or, in an OCI layout, an ``index.json`` entry with that subject.

A layer covered by a zTOC becomes a :class:`~imgexplore.lazy.toc.Toc` of format ``soci``:
its entries say where each file's data lies in the *uncompressed* tar, and the spans that
hold it are the compressed byte ranges to fetch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from .. import mediatypes as mt
from ..errors import ImgExploreError, ManifestError
from .toc import ENTRY_COLUMNS, TOC_TYPES, Toc
from .zinfo import Zinfo, inflate_span, parse_zinfo
from .ztoc import SOCI_INDEX_DIGEST, SOCI_INDEX_V1, SOCI_INDEX_V2, SOCI_LAYER_DIGEST, Ztoc, parse_ztoc

if TYPE_CHECKING:
    from ..image import Image, Layer

MAX_ZTOC_BYTES = 64 << 20


@dataclass
class SociIndex:
    """An image's SOCI index: its manifest, how it was found and what finding it cost."""

    digest: str
    version: str  # "v1" or "v2"
    found_by: str
    manifest: dict
    requests: list[tuple[str, int]] = field(default_factory=list)  # (what, bytes) per request

    @cached_property
    def ztocs(self) -> dict[str, dict]:
        """Image layer digest → the descriptor of its zTOC."""
        return {
            d["annotations"][SOCI_LAYER_DIGEST]: d
            for d in self.manifest.get("layers", [])
            if isinstance(d, dict) and SOCI_LAYER_DIGEST in (d.get("annotations") or {})
        }


def find_soci_index(image: Image) -> SociIndex | None:
    """The image's SOCI index, or None; looked for once per image."""
    cache = image.__dict__.setdefault("_soci", {})
    if "index" not in cache:
        cache["index"] = _find(image)
    return cache["index"]


def _find(image: Image) -> SociIndex | None:
    source = image.source
    if image.index is not None:
        for entry in image.index.manifests:
            digest = (entry.annotations or {}).get(SOCI_INDEX_DIGEST)
            if entry.digest == image.digest and digest:
                return _load(source, digest, "the image index's com.amazon.soci.index-digest", [])
    try:
        found = source.referrers(image.digest, SOCI_INDEX_V1)  # v2 indexes have no subject
    except ImgExploreError as exc:  # a registry refusing the lookup: no index found, and said
        warning = f"the image's SOCI index could not be looked for: {exc}"
        if warning not in image.warnings:
            image.warnings.append(warning)
        return None
    if found is None or not found.descriptors:
        return None
    requests = [("referrers lookup", 0)] * found.requests
    return _load(
        source, found.descriptors[-1]["digest"], f"a referrer of the image, through {found.via}", requests
    )


def _load(source, digest: str, found_by: str, requests: list) -> SociIndex:
    raw = source.fetch_manifest(digest, mt.OCI_MANIFEST).raw
    requests.append(("SOCI index manifest", len(raw)))
    try:
        manifest = json.loads(raw)
        kind = manifest.get("artifactType") or manifest["config"]["mediaType"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ManifestError(f"SOCI index {digest}: not an OCI manifest") from None
    if kind not in (SOCI_INDEX_V1, SOCI_INDEX_V2):
        raise ManifestError(f"SOCI index {digest}: its artifact type is {kind!r}, not a SOCI index's")
    version = "v1" if kind == SOCI_INDEX_V1 else "v2"
    return SociIndex(digest, version, found_by, manifest, requests)


def read_soci_toc(layer: Layer) -> Toc:
    """The layer's zTOC (one GET, verified by its digest) as a :class:`Toc` of format
    ``soci``: each file's piece is the compressed range of the spans holding its data."""
    image = layer._image
    index = find_soci_index(image) if image is not None else None
    what = f"layer {layer.index} ({layer.digest[:19]})"
    if index is None or layer.digest not in index.ztocs:
        raise ManifestError(
            f"{what}: no SOCI zTOC for it (the image has no SOCI index, or it skips this layer)"
        )
    descriptor = index.ztocs[layer.digest]
    raw = layer._source().read_blob(
        descriptor["digest"], descriptor.get("size"), max_bytes=MAX_ZTOC_BYTES, what=f"zTOC of {what}"
    )
    ztoc = parse_ztoc(raw, f"zTOC of {what}")
    zinfo = parse_zinfo(ztoc.checkpoints, f"zTOC of {what}")
    if len(zinfo.checkpoints) != ztoc.max_span_id + 1:
        raise ManifestError(
            f"zTOC of {what}: {len(zinfo.checkpoints)} checkpoints for {ztoc.max_span_id + 1} spans"
        )
    if ztoc.compressed_size != layer.size:
        raise ManifestError(
            f"zTOC of {what}: made for a {ztoc.compressed_size:,}-byte layer; this one has {layer.size:,}"
        )
    requests = [(0, len(raw))]
    toc = Toc(
        "soci",
        layer.digest,
        layer.size,
        raw,
        layer.size,
        len(raw),
        _entries(ztoc, zinfo, layer.size, what),
        requests,
    )
    toc.checks["zTOC digest"] = True  # read_blob verified it
    toc.checks["compressed size"] = True
    toc.ztoc, toc.zinfo = ztoc, zinfo
    return toc


def _entries(ztoc: Ztoc, zinfo: Zinfo, blob_size: int, what: str) -> pd.DataFrame:
    rows = []
    for entry in ztoc.entries:
        if entry.type not in TOC_TYPES:
            raise ManifestError(f"{what}: zTOC entry {entry.name!r} has an unknown type {entry.type!r}")
        if entry.offset < 0 or entry.size < 0 or entry.offset + entry.size > ztoc.uncompressed_size:
            raise ManifestError(
                f"{what}: zTOC entry {entry.name!r} claims bytes {entry.offset}..{entry.offset + entry.size} "
                f"of a {ztoc.uncompressed_size:,}-byte tar"
            )
        start = end = 0
        if entry.type == "reg" and entry.size:
            start, end = zinfo.compressed_range(
                zinfo.span_of(entry.offset), zinfo.span_of(entry.offset + entry.size - 1), blob_size
            )
        rows.append({"path": entry.name.strip("/"), "type": TOC_TYPES[entry.type], "size": entry.size,
                     "offset": start, "end_offset": end, "chunk_offset": 0,
                     "chunk_size": entry.size if entry.type == "reg" else 0, "chunk_digest": None,
                     "digest": None, "mode": entry.mode, "uid": entry.uid, "gid": entry.gid,
                     "linkname": entry.linkname})  # fmt: skip
    return pd.DataFrame(rows, columns=ENTRY_COLUMNS)


def verify_spans(toc: Toc, blob: bytes) -> pd.DataFrame:
    """Each span's compressed bytes hashed against the digest its zTOC records, and
    decompressed from its checkpoint alone: one row per span."""
    ztoc, zinfo = toc.ztoc, toc.zinfo
    rows = []
    for number, point in enumerate(zinfo.checkpoints):
        start, end = zinfo.compressed_range(number, number, len(blob))
        digest = "sha256:" + hashlib.sha256(blob[start:end]).hexdigest()
        following = (
            zinfo.checkpoints[number + 1].out
            if number + 1 < len(zinfo.checkpoints)
            else ztoc.uncompressed_size
        )
        length = following - point.out
        inflated = len(inflate_span(zinfo, number, blob[start:end], 0, length))
        rows.append({"path": f"span {number}", "chunk_offset": point.out, "chunk_size": length,
                     "ok": digest == ztoc.span_digests[number] and inflated == length,
                     "computed": digest, "recorded": ztoc.span_digests[number]})  # fmt: skip
    return pd.DataFrame(rows, columns=["path", "chunk_offset", "chunk_size", "ok", "computed", "recorded"])


def read_file(toc: Toc, path: str, fetch) -> bytes:
    """A file's bytes read as a SOCI snapshotter reads them: ``fetch(start, end)`` returns
    the compressed bytes of the spans that hold it, decompressed from the first one's
    checkpoint."""
    ztoc, zinfo = toc.ztoc, toc.zinfo
    entry = next((e for e in ztoc.entries if e.name.strip("/") == path.strip("/") and e.type == "reg"), None)
    if entry is None:
        raise ManifestError(f"{path}: not a file in the zTOC of {toc.layer_digest[:19]}")
    if not entry.size:
        return b""
    first, last = zinfo.span_of(entry.offset), zinfo.span_of(entry.offset + entry.size - 1)
    start, end = zinfo.compressed_range(first, last, toc.blob_size)
    data = inflate_span(
        zinfo, first, fetch(start, end), entry.offset - zinfo.checkpoints[first].out, entry.size
    )
    if len(data) != entry.size:
        raise ManifestError(f"{path}: its spans decompress to {len(data)} bytes, the zTOC says {entry.size}")
    return data
