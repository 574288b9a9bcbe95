"""Places an image can live. Each source only hands out raw bytes by digest and names its
root manifest; everything else is written once against :class:`Source`."""

from .archive import DockerArchiveSource
from .base import Source
from .layout import OCILayoutSource
from .manifest_file import ManifestFileSource

__all__ = ["DockerArchiveSource", "ManifestFileSource", "OCILayoutSource", "Source"]
