"""The Registry HTTP API V2 client: authentication, manifests, blobs, tags, uploads.

Its parts load on first use, so that reading a local image never imports the HTTP stack."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .options import RegistryOptions

if TYPE_CHECKING:
    from .client import RegistryClient
    from .transcript import Transcript
    from .urls import pull_urls

__all__ = ["RegistryClient", "RegistryOptions", "Transcript", "pull_urls"]
_LAZY = {"RegistryClient": ".client", "Transcript": ".transcript", "pull_urls": ".urls"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
