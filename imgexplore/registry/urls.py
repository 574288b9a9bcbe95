"""The Registry HTTP API V2 URLs a pull of an image uses, for teaching."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..reference import parse_reference

if TYPE_CHECKING:
    import pandas as pd

    from ..image import Image


def pull_urls(reference: str, image: Image) -> pd.DataFrame:
    """The requests ``docker pull REFERENCE`` makes for ``image``, in order: the API check,
    the manifest (by tag, then by digest for an index), the config and each layer blob."""
    ref = parse_reference(reference)
    base = f"https://{ref.api_host}/v2/{ref.repository}"
    import pandas as pd

    rows = [("GET", f"https://{ref.api_host}/v2/", "API version check (answers 401 with a token challenge)")]
    rows.append(("GET", f"{base}/manifests/{ref.identifier}", "manifest (or index) by tag"))
    if image.index is not None:
        rows.append(("GET", f"{base}/manifests/{image.digest}", "the platform's manifest, by digest"))
    if image.config_digest:
        rows.append(("GET", f"{base}/blobs/{image.config_digest}", "config: runtime settings and history"))
    seen = set()
    for layer in image.layers:
        if layer.digest in seen:
            continue
        seen.add(layer.digest)
        what = f"layer {layer.index}" + (
            " (the 32-byte empty layer)" if layer.empty and layer.size in (32, -1) else ""
        )
        rows.append(("GET", f"{base}/blobs/{layer.digest}", what))
    return pd.DataFrame(rows, columns=["method", "url", "what"])
