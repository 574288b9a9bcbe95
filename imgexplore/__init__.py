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

from .digest import chain_ids
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
from .image import HistoryStep, Image, Layer
from .ipython import install as _install_notebook_errors
from .manifest import Descriptor, ImageManifest, IndexManifest, Schema1Manifest, parse_manifest
from .opener import list_platforms, open_image, open_source
from .platforms import Platform
from .reference import Reference, parse_reference
from .registry.options import RegistryOptions

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
