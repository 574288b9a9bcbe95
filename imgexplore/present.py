"""How images, layers and manifests are shown: text for the terminal (``imgexplore
inspect``), HTML for notebooks, and the byte counts both use. The model objects reach these
through :mod:`imgexplore.display`, never by importing this module."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import mediatypes as mt
from .digest import short
from .display import renders
from .manifest import ImageManifest, IndexManifest

if TYPE_CHECKING:
    from .image import Image, Layer
    from .manifest import Manifest


def human_bytes(n: int | float | None) -> str:
    """Bytes in the units ``docker images`` shows (powers of 1000): ``18047`` → ``18.0 kB``.

    >>> human_bytes(18047), human_bytes(512), human_bytes(1_500_000), human_bytes(-1)
    ('18.0 kB', '512 B', '1.5 MB', 'unknown')
    """
    if n is None or n < 0 or n != n:  # n != n: NaN
        return "unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def stored_as(media_types: Iterable[str]) -> str:
    """What the recorded sizes of layers with these media types measure: ``compressed``
    blobs, ``uncompressed`` tars (docker save's legacy layers, plain OCI layers) or ``mixed``."""
    kinds = {mt.layer_compression_from_media_type(m) for m in media_types if isinstance(m, str)}
    if kinds == {"none"}:
        return "uncompressed"
    return "mixed" if "none" in kinds else "compressed"


@renders("image-text")
def summary_text(image: Image) -> str:
    """What ``imgexplore inspect`` prints."""
    lines = [
        f"image:        {image.name or image.source.location}",
        f"source:       {image.source.kind} {image.source.location}",
        f"manifest:     {image.media_type}",
        f"digest:       {image.digest}",
    ]
    if image.index is not None:
        lines.append(f"index:        {image.index.media_type} {image.index.digest}")
    if image.platform is not None:
        lines.append(f"platform:     {image.platform}")
    if image.config_digest:
        lines.append(f"config:       {image.config_digest}")
    empty = sum(1 for layer in image.layers if layer.empty)
    sizes_known = all(layer.size >= 0 for layer in image.layers)
    as_stored = {
        "compressed": "compressed",
        "uncompressed": "uncompressed, as stored",
        "mixed": "as stored (some layers uncompressed)",
    }[stored_as(layer.media_type for layer in image.layers if not layer.empty)]
    lines.append(
        f"layers:       {len(image.layers)} ({empty} empty)"
        + (f", {human_bytes(image.total_size)} {as_stored}" if sizes_known else "")
    )
    empty_steps = sum(1 for s in image.history if s.empty_layer)
    lines.append(f"history:      {len(image.history)} steps ({empty_steps} metadata-only)")
    cfg = image.config.get("config") if isinstance(image.config.get("config"), dict) else {}
    for key, label in (
        ("Entrypoint", "entrypoint"),
        ("Cmd", "cmd"),
        ("WorkingDir", "workdir"),
        ("User", "user"),
    ):
        if cfg.get(key):
            lines.append(f"{label + ':':<14}{cfg[key]}")
    if cfg.get("Env"):
        lines.append(f"env:          {len(cfg['Env'])} variables")
    for layer in image.layers:
        flag = " (empty)" if layer.empty else ""
        size = human_bytes(layer.size) if layer.size >= 0 else "?"
        lines.append(f"  [{layer.index:>2}] {short(layer.digest)} {size:>9}{flag}  {layer.created_by[:60]}")
    client = getattr(image.source, "client", None)
    if client is not None:
        lines.append(f"requests:     {len(client.transcript)} to {client.host}")
        if client.rate_limit:
            lines.append("rate limit:   " + ", ".join(f"{k} {v}" for k, v in client.rate_limit.items()))
    for warning in image.warnings:
        lines.append(f"note: {warning}")
    return "\n".join(lines)


def _digest_cell(digest: str | None) -> str:
    if not digest:
        return ""
    return f"<code title='{html.escape(digest)}'>{html.escape(short(digest))}</code>"


@renders("image-html")
def image_html(image: Image) -> str:
    """The notebook view of an image: a summary line and the layers, digests shortened
    (the full digest shows on hover)."""
    head = (
        f"<b>{html.escape(image.name or image.source.location)}</b> · {html.escape(image.media_type)} · "
        f"{_digest_cell(image.digest)}"
        + (f" · {html.escape(str(image.platform))}" if image.platform else "")
        + f"<br>{len(image.layers)} layers ({sum(1 for layer in image.layers if layer.empty)} empty), "
        f"{len(image.history)} history steps ({sum(1 for s in image.history if s.empty_layer)} metadata-only)"
    )
    rows = "".join(
        f"<tr><td>{layer.index}</td><td>{_digest_cell(layer.digest)}</td>"
        f"<td style='text-align:right'>{human_bytes(layer.size) if layer.size >= 0 else '?'}</td>"
        f"<td>{_digest_cell(layer.diff_id)}</td><td>{'empty' if layer.empty else ''}</td>"
        f"<td style='text-align:left'>{html.escape((layer.created_by or '')[:80])}</td></tr>"
        for layer in image.layers
    )
    table = (
        "<table><thead><tr><th>#</th><th>digest</th><th>size</th><th>diff_id</th><th></th>"
        f"<th style='text-align:left'>created by</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    notes = "".join(f"<div style='color:#a60'>note: {html.escape(w)}</div>" for w in image.warnings)
    return f"<div class='imgexplore-image'>{head}{table}{notes}</div>"


@renders("layer-html")
def layer_html(layer: Layer) -> str:
    """One layer as a small HTML table (digests shortened, full on hover)."""
    rows = [
        ("index", str(layer.index)),
        ("digest", _digest_cell(layer.digest)),
        ("media type", html.escape(layer.media_type)),
        ("size", human_bytes(layer.size) if layer.size >= 0 else "unknown (schema 1)"),
        ("diff_id", _digest_cell(layer.diff_id) or "unknown until decompressed"),
        ("chain id", _digest_cell(layer.chain_id)),
        ("empty", "yes" if layer.empty else "no"),
        ("created by", html.escape(layer.created_by or "")),
    ]
    body = "".join(
        f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>" for k, v in rows
    )
    return f"<table class='imgexplore-layer'>{body}</table>"


@renders("manifest-html")
def manifest_html(manifest: Manifest) -> str:
    """A manifest as a table of what it names, not a wall of JSON."""
    head = f"<b>{html.escape(manifest.media_type)}</b> · {_digest_cell(manifest.digest)} · {len(manifest.raw)} bytes"
    if isinstance(manifest, IndexManifest):
        rows = "".join(
            f"<tr><td>{html.escape(str(d.platform or ''))}</td><td>{_digest_cell(d.digest)}</td>"
            f"<td>{html.escape(d.media_type)}</td><td>{'attestation' if d.is_attestation else ''}</td></tr>"
            for d in manifest.manifests
        )
        return f"{head}<table><tr><th>platform</th><th>digest</th><th>media type</th><th></th></tr>{rows}</table>"
    if isinstance(manifest, ImageManifest):
        items = [("config", manifest.config.digest, manifest.config.size, manifest.config.media_type)]
        items += [(f"layer {i}", d.digest, d.size, d.media_type) for i, d in enumerate(manifest.layers)]
    else:  # schema 1: no sizes or media types on the wire
        items = [
            (f"fsLayer {i} (newest first)", digest, -1, "") for i, digest in enumerate(manifest.fs_layers)
        ]
    rows = "".join(
        f"<tr><td>{name}</td><td>{_digest_cell(digest)}</td>"
        f"<td style='text-align:right'>{human_bytes(size) if size >= 0 else ''}</td>"
        f"<td>{html.escape(media_type)}</td></tr>"
        for name, digest, size, media_type in items
    )
    return f"{head}<table><tr><th></th><th>digest</th><th>size</th><th>media type</th></tr>{rows}</table>"
