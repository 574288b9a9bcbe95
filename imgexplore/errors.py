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


class InvalidArgumentError(ImgExploreError, ValueError):
    """An argument the function cannot take: wrong type, unknown name, out of range."""


class LayerIndexError(InvalidArgumentError, IndexError):
    """A layer number the image does not have."""


class NotInImageError(ImgExploreError, LookupError):
    """A path that is not in the image (or not in the layer asked for)."""


class OutputPathError(ImgExploreError):
    """A folder or file to write cannot be used (it is a file, not writable, …)."""


class MissingDependencyError(ImgExploreError):
    """An optional package a feature needs is not installed."""


class UnsafePathError(ImgExploreError):
    """A path would escape the extraction folder (``..``, absolute, or through a symlink)."""


class TarSplitError(ImgExploreError):
    """tar-split records that do not describe a tar, or an unpacked file that no longer
    matches its record."""


class MountError(ImgExploreError):
    """An overlay mount that cannot be described or made: no such layer directory, mount
    data over a page, or the mount command failing."""


class LimitExceededError(ImgExploreError):
    """Input went past a safety limit (size, depth, count); the message names the limit."""


class CorpusError(ImgExploreError):
    """A corpus dataset cannot be written or read as asked (e.g. another scan is writing it)."""


class RegistryError(ImgExploreError):
    """A registry answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class InsecureRegistryError(RegistryError):
    """Plain HTTP to a registry that is not on this machine, without ``insecure``."""


class AuthenticationError(RegistryError):
    """The registry refused the credentials (401), or needs some and none were found."""


class AccessDeniedError(RegistryError):
    """The registry knows who you are but refuses the operation (403)."""


class NotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist (404)."""


class RateLimitError(RegistryError):
    """The registry kept answering 429 Too Many Requests after the allowed retries."""
