"""Media types of manifests, configs and layers, and the well-known empty layers."""

from __future__ import annotations

# Manifests and indexes
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
IMAGE_MANIFEST_TYPES = frozenset({DOCKER_SCHEMA2, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
ALL_MANIFEST_TYPES = SCHEMA1_TYPES | IMAGE_MANIFEST_TYPES | INDEX_TYPES

# Configs
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
IMAGE_CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})

# Layers
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
# not in Docker's own spec, but containerd and BuildKit write it for zstd layers
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_FOREIGN_TAR = "application/vnd.docker.image.rootfs.foreign.diff.tar"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_NONDIST_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

LAYER_TYPES = frozenset(
    {
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_TAR,
        DOCKER_LAYER_ZSTD,
        DOCKER_FOREIGN_GZIP,
        DOCKER_FOREIGN_TAR,
        OCI_LAYER_TAR,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_NONDIST_TAR,
        OCI_NONDIST_GZIP,
        OCI_NONDIST_ZSTD,
    }
)
FOREIGN_LAYER_TYPES = frozenset(
    {DOCKER_FOREIGN_GZIP, DOCKER_FOREIGN_TAR, OCI_NONDIST_TAR, OCI_NONDIST_GZIP, OCI_NONDIST_ZSTD}
)
ENCRYPTED_SUFFIX = "+encrypted"

# Layer annotations that mark containers/storage's zstd:chunked format.
ZSTD_CHUNKED_ANNOTATIONS = (
    "io.github.containers.zstd-chunked.manifest-checksum",
    "io.github.containers.zstd-chunked.manifest-position",
)

# The 32-byte gzip of an empty tar (1024 zero bytes) that schema 1 lists for every
# metadata-only step. Docker's copy has a non-zero gzip mtime; BuildKit's has mtime 0.
EMPTY_LAYER_SCHEMA1 = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
EMPTY_LAYER_BUILDKIT = "sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1"
EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
EMPTY_LAYER_DIGESTS = frozenset({EMPTY_LAYER_SCHEMA1, EMPTY_LAYER_BUILDKIT})

EMPTY_LAYER_SCHEMA1_BYTES = bytes(
    [31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20]
    + [140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]
)
EMPTY_LAYER_BUILDKIT_BYTES = bytes(
    [31, 139, 8, 0, 0, 0, 0, 0, 0, 255, 98, 24, 5, 163, 96, 20]
    + [140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]
)

# Annotation that marks BuildKit attestation manifests inside an index.
DOCKER_REFERENCE_TYPE = "vnd.docker.reference.type"


def is_empty_layer(digest: str | None, diff_id: str | None = None) -> bool:
    """True for the well-known 32-byte empty layers, or any layer whose diff_id is the
    empty tar (1024 zero bytes), whatever compressor produced it."""
    return digest in EMPTY_LAYER_DIGESTS or diff_id == EMPTY_LAYER_DIFF_ID


def is_encrypted(media_type: str) -> bool:
    """True for ocicrypt layer types (``…+encrypted``), which imgexplore reports but never decrypts."""
    return media_type.endswith(ENCRYPTED_SUFFIX)


def layer_compression_from_media_type(media_type: str) -> str:
    """The compression a layer media type declares: ``gzip``, ``zstd``, ``none`` or ``unknown``.

    The bytes' magic number has the last word (see :mod:`imgexplore.compression`)."""
    base = media_type.removesuffix(ENCRYPTED_SUFFIX)
    if base.endswith((".gzip", "+gzip")):
        return "gzip"
    if base.endswith((".zstd", "+zstd")):
        return "zstd"
    if base.endswith((".tar", "v1.tar")):
        return "none"
    return "unknown"
