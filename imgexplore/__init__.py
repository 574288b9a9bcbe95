"""imgexplore: look inside container images — manifests, configs, layers, history and
file trees — from a notebook or the command line.

>>> import imgexplore
>>> image = imgexplore.open_image("data/teaching/oci")
>>> image.layers_table()[["index", "size", "empty"]].head(2)
   index   size  empty
0      0  18047  False
1      1  37175  False
>>> files = image.files()
>>> list(files.changes(3)["change"])
['modified', 'deleted', 'deleted', 'deleted', 'deleted', 'deleted']
"""

import importlib

from .errors import (
    AccessDeniedError,
    ArchiveError,
    AuthenticationError,
    BlobNotFoundError,
    CorpusError,
    DigestMismatchError,
    ImgExploreError,
    InsecureRegistryError,
    InvalidArgumentError,
    InvalidDigestError,
    InvalidReferenceError,
    LayerIndexError,
    LimitExceededError,
    ManifestError,
    MissingDependencyError,
    MountError,
    NotFoundError,
    NotInImageError,
    OutputPathError,
    PlatformNotFoundError,
    RateLimitError,
    RegistryError,
    SourceError,
    TarSplitError,
    UnsafePathError,
    UnsupportedMediaTypeError,
)
from .ipython import install as _install_notebook_errors

# The rest is imported on first use (PEP 562), so that ``imgexplore --help`` and the commands
# that need no image model start without loading it.
_LAZY = {
    "chain_ids": "digest",
    "HistoryStep": "image",
    "Image": "image",
    "Layer": "image",
    "Descriptor": "manifest",
    "ImageManifest": "manifest",
    "IndexManifest": "manifest",
    "Schema1Manifest": "manifest",
    "parse_manifest": "manifest",
    "list_platforms": "opener",
    "open_image": "opener",
    "open_source": "opener",
    "Platform": "platforms",
    "Reference": "reference",
    "parse_reference": "reference",
    "RegistryOptions": "registry.options",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imgexplore' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"
_install_notebook_errors()

__all__ = [
    "AccessDeniedError",
    "ArchiveError",
    "AuthenticationError",
    "BlobNotFoundError",
    "CorpusError",
    "Descriptor",
    "DigestMismatchError",
    "HistoryStep",
    "Image",
    "ImageManifest",
    "ImgExploreError",
    "IndexManifest",
    "InsecureRegistryError",
    "InvalidArgumentError",
    "InvalidDigestError",
    "InvalidReferenceError",
    "Layer",
    "LayerIndexError",
    "LimitExceededError",
    "TarSplitError",
    "ManifestError",
    "MissingDependencyError",
    "MountError",
    "NotFoundError",
    "NotInImageError",
    "OutputPathError",
    "Platform",
    "PlatformNotFoundError",
    "RateLimitError",
    "Reference",
    "RegistryError",
    "RegistryOptions",
    "Schema1Manifest",
    "SourceError",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
    "chain_ids",
    "list_platforms",
    "open_image",
    "open_source",
    "parse_manifest",
    "parse_reference",
]
