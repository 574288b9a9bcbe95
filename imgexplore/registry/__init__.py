"""The Registry HTTP API V2 client: authentication, manifests, blobs, tags, uploads."""

from .client import RegistryClient
from .transcript import Transcript

__all__ = ["RegistryClient", "Transcript"]
