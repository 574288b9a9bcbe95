"""The exception hierarchy: everything imgexplore raises on bad input derives from
:class:`ImgExploreError`, so callers need a single ``except`` to handle any of it."""

from __future__ import annotations


class ImgExploreError(Exception):
    """Base class of every error imgexplore raises for bad input, faults or limits."""


class InvalidReferenceError(ImgExploreError, ValueError):
    """An image reference (``name[:tag][@digest]``) does not follow the reference grammar."""


class InvalidDigestError(ImgExploreError, ValueError):
    """A digest string is not ``algorithm:hex`` with a known algorithm and length."""


class ManifestError(ImgExploreError):
    """A manifest, index or image config is malformed or cannot be understood."""


class UnsupportedMediaTypeError(ManifestError):
    """A media type is not one imgexplore knows how to read."""


class PlatformNotFoundError(ImgExploreError):
    """No entry of an index or manifest list matches the requested platform."""


class DigestMismatchError(ImgExploreError):
    """Bytes read for a digest hash to something else: corrupt, truncated or tampered."""


class BlobNotFoundError(ImgExploreError):
    """A blob named by a manifest is not in the source."""


class SourceError(ImgExploreError):
    """An image source (folder, tarball, file) cannot be opened or is not the expected kind."""


class ArchiveError(SourceError):
    """A tarball (docker save, OCI layout tar, layer) is malformed or truncated."""


class LimitExceededError(ImgExploreError):
    """Input went past a safety limit (size, depth, count); the message names the limit."""
