"""The Registry HTTP API V2 client: authentication, manifests, blobs, tags, uploads."""

from .client import RegistryClient
from .transcript import Transcript
from .urls import pull_urls

__all__ = ["RegistryClient", "Transcript", "pull_urls"]
