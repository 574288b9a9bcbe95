"""The Registry HTTP API V2 URLs a pull of an image uses, for teaching."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..reference import parse_reference
from .tls import base_url

if TYPE_CHECKING:
    import pandas as pd

    from ..image import Image


def pull_urls(reference: str, image: Image) -> pd.DataFrame:
    """The requests ``docker pull REFERENCE`` makes for ``image``, in order: the API check,
    the manifest by tag or digest (then the platform's manifest, when the registry's answer
    is an index), the config and each layer blob. URLs are whole: scheme (plain HTTP only for
    a registry on this machine), host and repository of ``reference``.

    To see the requests a registry really answered, use ``image.transcript`` (or
    :class:`~imgexplore.registry.byhand.RequestLog` for requests of your own)."""
    import pandas as pd

    ref = parse_reference(reference)
    root = base_url(ref.api_host)
    base = f"{root}/v2/{ref.repository}"
    rows = [("GET", f"{root}/v2/", "API version check: 200, or 401 with a challenge saying how to log in")]
    rows.append(("GET", f"{base}/manifests/{ref.identifier}", "manifest (or index), by tag or digest"))
    if image.index is not None and image.source.kind == "registry":
        rows.append(("GET", f"{base}/manifests/{image.digest}", "the platform's manifest, by digest"))
    if image.config_digest:
        rows.append(("GET", f"{base}/blobs/{image.config_digest}", "config: runtime settings and history"))
    seen = set()
    for layer in image.layers:
        if layer.digest in seen:
            continue
        seen.add(layer.digest)
        what = f"layer {layer.index}" + (" (an empty layer)" if layer.empty else "")
        rows.append(("GET", f"{base}/blobs/{layer.digest}", what))
    return pd.DataFrame(rows, columns=["method", "url", "what"])
