"""Manifest parsing on real manifests from public projects' test suites (../shared/realdata).

Expected counts come from the fixtures' descriptions in INDEX.json, which were checked
independently of imgexplore; digests of signed schema 1 manifests were recomputed with
``head -c formatLength FILE; printf '\\n}'`` piped to ``sha256sum``."""

from __future__ import annotations

import contextlib

import pytest

from imgexplore import (
    ImageManifest,
    IndexManifest,
    LimitExceededError,
    ManifestError,
    PlatformNotFoundError,
    Schema1Manifest,
    UnsupportedMediaTypeError,
    parse_manifest,
)
from imgexplore import mediatypes as mt
from imgexplore.opener import choose_entry, flatten_index

CI = "containers__image/"
MOBY = "moby__moby/distribution/fixtures/validate_manifest/"


def load(realdata, rel):
    return (realdata / rel).read_bytes()


# (file, fsLayers, a3ed95 count, throwaway count, name)
SCHEMA1 = [
    (CI + "internal/image/fixtures/oci1-to-schema1.json", 15, 10, 10, "library/httpd-copy"),
    (CI + "internal/image/fixtures/schema1-for-oci-config.json", 3, 2, 0, "google_containers/pause-amd64"),
    (CI + "internal/image/fixtures/schema1.json", 6, 0, 0, "rhosp12/openstack-nova-api"),
    (CI + "internal/manifest/testdata/v2s1.manifest.json", 3, 0, 0, "mitr/busybox"),
    (CI + "internal/manifest/testdata/v2s1-unsigned.manifest.json", 3, 0, 0, "mitr/busybox"),
    (CI + "manifest/fixtures/v2s1.everything.json", 1, 0, 1, "foo"),
    (MOBY + "good_manifest", 2, 1, 0, "library/hello-world"),
    (
        "quay__quay/image/docker/schema2/test/conversion_data/simple.schema1.json",
        3,
        1,
        1,
        "devtable/somerepo",
    ),
]


@pytest.mark.parametrize(("rel", "layers", "empties", "throwaways", "name"), SCHEMA1)
def test_schema1_counts(realdata, rel, layers, empties, throwaways, name):
    m = parse_manifest(load(realdata, rel))
    assert isinstance(m, Schema1Manifest)
    assert len(m.steps) == len(m.fs_layers) == layers
    assert sum(1 for d in m.fs_layers if d == mt.EMPTY_LAYER_SCHEMA1) == empties
    assert sum(1 for s in m.steps if s.throwaway) == throwaways
    assert m.name.endswith(name)


def test_schema1_signed_digest_is_over_payload(realdata):
    good = parse_manifest(load(realdata, MOBY + "good_manifest"))
    assert good.signed
    assert good.digest == "sha256:02fee8c3220ba806531f606525eceb83f4feb654f62b207191b1c9209188dedd"
    # newest first on the wire; the model keeps oldest first
    assert good.fs_layers[0] == mt.EMPTY_LAYER_SCHEMA1
    assert good.steps[-1].created_by == '/bin/sh -c #(nop) CMD ["/hello"]'
    assert good.steps[-1].id == "af340544ed62de0680f441c71fa1a80cb084678fed42bae393e543faea3a572c"
    assert good.steps[-1].parent == "535020c3e8add9d6bb06e5ac15a261e73d9b213d62fb2c14d752b8e189b2b912"
    assert good.steps[0].id == good.steps[-1].parent


def test_signed_and_unsigned_schema1_share_a_digest(realdata):
    signed = parse_manifest(load(realdata, CI + "internal/manifest/testdata/v2s1.manifest.json"))
    unsigned = parse_manifest(load(realdata, CI + "internal/manifest/testdata/v2s1-unsigned.manifest.json"))
    assert signed.signed and not unsigned.signed
    # sha256sum of the unsigned file, which is exactly the signed file's payload
    expected = "sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000"
    assert signed.digest == unsigned.digest == expected


@pytest.mark.parametrize(
    "rel",
    [
        CI + "internal/image/fixtures/schema2-to-schema1-by-docker.json",
        "quay__quay/image/docker/schema2/test/conversion_data/simple.schema1.json",
    ],
)
def test_schema1_edited_after_signing_is_flagged(realdata, rel):
    """These fixtures were re-indented upstream after signing: formatLength no longer
    points at the end of the payload. They still parse, with the problem stated."""
    m = parse_manifest(load(realdata, rel))
    assert m.signed
    assert "signature does not cover this document" in m.signature_problem
    good = parse_manifest(load(realdata, MOBY + "good_manifest"))
    assert good.signature_problem is None


# (file, class, layer count or index entry count)
WELL_FORMED = [
    (CI + "internal/image/fixtures/oci1.json", ImageManifest, 5),
    (CI + "internal/image/fixtures/oci1-all-media-types.json", ImageManifest, 6),
    (CI + "internal/image/fixtures/schema2.json", ImageManifest, 5),
    (CI + "internal/image/fixtures/schema2-all-media-types.json", ImageManifest, 5),
    (CI + "internal/manifest/testdata/v2s2.manifest.json", ImageManifest, 3),
    (CI + "internal/manifest/testdata/ociv1nomime.manifest.json", ImageManifest, 3),
    (CI + "manifest/fixtures/ociv1.zstd.manifest.json", ImageManifest, 3),
    (CI + "manifest/fixtures/ociv1.uncompressed.manifest.json", ImageManifest, 3),
    ("quay__quay/image/docker/schema2/test/conversion_data/simple.schema2.json", ImageManifest, 2),
    (CI + "internal/manifest/testdata/schema2list.json", IndexManifest, 7),
    (CI + "internal/manifest/testdata/ocilist-variants.json", IndexManifest, 6),
    (CI + "internal/manifest/testdata/oci1.index.zstd-selection.json", IndexManifest, 6),
    (CI + "internal/manifest/testdata/ociv1nomime.image.index.json", IndexManifest, 2),
    (CI + "internal/manifest/testdata/v2list.manifest.json", IndexManifest, 5),
]


@pytest.mark.parametrize(("rel", "kind", "count"), WELL_FORMED)
def test_well_formed(realdata, rel, kind, count):
    m = parse_manifest(load(realdata, rel))
    assert isinstance(m, kind)
    assert len(m.layers if isinstance(m, ImageManifest) else m.manifests) == count


def test_encrypted_foreign_and_artifacts(realdata):
    enc = parse_manifest(load(realdata, CI + "internal/image/fixtures/oci1.encrypted.json"))
    assert [d.is_encrypted for d in enc.layers] == [True] * 5
    foreign = parse_manifest(
        load(realdata, CI + "manifest/fixtures/ociv1.nondistributable.zstd.manifest.json")
    )
    assert foreign.layers[0].is_foreign
    with_urls = parse_manifest(load(realdata, CI + "internal/image/fixtures/oci1.json"))
    assert sum(1 for d in with_urls.layers if d.urls) == 1
    artifact = parse_manifest(load(realdata, CI + "internal/image/fixtures/oci1-artifact.json"))
    assert artifact.is_artifact
    everything = parse_manifest(load(realdata, CI + "manifest/fixtures/ociv1.everything.json"))
    assert everything.subject is not None and everything.artifact_type


# Deliberately broken fixtures: each must end in imgexplore's own error naming the problem.
BROKEN = [
    (MOBY + "bad_manifest", ManifestError, "schemaVersion 2"),
    (MOBY + "extra_data_manifest", ManifestError, "duplicate JSON key 'fsLayers'"),
    (
        CI + "internal/manifest/testdata/v2s1-invalid-signatures.manifest.json",
        ManifestError,
        "signatures must be an array",
    ),
    (CI + "internal/manifest/testdata/non-json.manifest.json", ManifestError, "not UTF-8"),
    (
        CI + "internal/manifest/testdata/unknown-version.manifest.json",
        ManifestError,
        "unsupported schemaVersion 99999",
    ),
    (
        CI + "internal/image/fixtures/oci1-invalid-media-type.json",
        UnsupportedMediaTypeError,
        "tar\\+invalid-suffix",
    ),
    (
        CI + "manifest/fixtures/ociv1.invalid.mediatype.manifest.json",
        UnsupportedMediaTypeError,
        "tar\\+unknown",
    ),
    (
        CI + "manifest/fixtures/ociv1list.manifest.json",
        UnsupportedMediaTypeError,
        "unknown manifest media type 'application/vnd.oci.image.manifest.list.v1\\+json'",
    ),
    (CI + "internal/image/fixtures/schema1-to-oci1.json", ManifestError, "config.size is negative"),
    (CI + "internal/manifest/testdata/ociv1.artifact.json", ManifestError, "config.digest: not a digest"),
]


def test_docker_zstd_layer_type_is_accepted(realdata):
    """containers/image treats application/vnd.docker.image.rootfs.diff.tar.zstd as invalid in
    this fixture, but containerd and BuildKit write it for zstd layers: it is read as zstd."""
    manifest = parse_manifest(load(realdata, CI + "internal/image/fixtures/schema2-invalid-media-type.json"))
    from imgexplore.mediatypes import layer_compression_from_media_type

    declared = [layer_compression_from_media_type(layer.media_type) for layer in manifest.layers]
    assert declared == ["zstd", "gzip", "gzip", "gzip", "gzip"]


@pytest.mark.parametrize(("rel", "error", "message"), BROKEN)
def test_broken_fixtures(realdata, rel, error, message):
    with pytest.raises(error, match=message):
        parse_manifest(load(realdata, rel))


def test_every_realdata_manifest_parses_or_fails_cleanly(realdata, realdata_index):
    """No fixture makes the parser raise anything but imgexplore's own errors."""
    from imgexplore import ImgExploreError

    tried = 0
    for rel, entry in realdata_index.items():
        desc = entry["description"]
        if not any(w in desc for w in ("manifest", "index/list", "OCI image index", "Docker manifest list")):
            continue
        if "docker-save" in desc or "OCI layout" in desc:
            continue
        tried += 1
        with contextlib.suppress(ImgExploreError):
            parse_manifest(load(realdata, rel))
    assert tried >= 60


def _entries(realdata, rel):
    index = parse_manifest(load(realdata, rel))
    return flatten_index(None, index)  # no nested indexes here: no source needed


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64", "linux/arm64/v8"),
        ("linux/arm64/v8", "linux/arm64/v8"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/s390x", "linux/s390x"),
        ("386", "linux/386"),
    ],
)
def test_platform_selection(realdata, wanted, expected):
    entries = _entries(realdata, CI + "internal/manifest/testdata/schema2list.json")
    assert str(choose_entry(entries, wanted).platform) == expected


def test_platform_selection_variants(realdata):
    entries = _entries(realdata, CI + "internal/manifest/testdata/ocilist-variants.json")
    # plain linux/arm means arm/v7 (containerd's normalisation): the first v7 entry wins
    assert choose_entry(entries, "linux/arm") is entries[1]
    with pytest.raises(PlatformNotFoundError, match="linux/arm/v5"):
        choose_entry(entries, "linux/arm/v5")
    none_here = _entries(realdata, CI + "internal/manifest/testdata/schema2list.json")
    with pytest.raises(PlatformNotFoundError, match="platforms here: .*linux/ppc64le"):
        choose_entry(none_here, "linux/riscv64")


def test_default_platform_prefers_amd64_fallback(realdata):
    entries = _entries(realdata, CI + "internal/manifest/testdata/schema2list.json")
    chosen = choose_entry(entries, None)
    assert chosen.platform.architecture in ("amd64", "arm64")


@pytest.mark.parametrize(
    ("raw", "message", "error"),
    [
        (b"[]", "must be a JSON object", ManifestError),
        (b"{", "not valid JSON", ManifestError),
        (b'{"schemaVersion": 2}', "no mediaType", ManifestError),
        (
            b'{"schemaVersion": 2, "mediaType": "text/html"}',
            "unknown manifest media type",
            UnsupportedMediaTypeError,
        ),
        (
            b'{"schemaVersion": 2, "config": {}, "layers": []}',
            "config.mediaType must be a string",
            ManifestError,
        ),
        (
            b'{"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "sha256:00", "size": 1}]}',
            "64 lowercase hex",
            ManifestError,
        ),
        (b'{"schemaVersion": 2, "manifests": [], "manifests": []}', "duplicate JSON key", ManifestError),
        (b'{"schemaVersion": NaN}', "invalid JSON number", ManifestError),
        (b"\xff\xfe", "not UTF-8", ManifestError),
    ],
)
def test_malformed_manifests(raw, message, error):
    with pytest.raises(error, match=message):
        parse_manifest(raw)


def test_size_limit_names_the_cap():
    with pytest.raises(LimitExceededError, match="over the limit of 100 bytes"):
        parse_manifest(b" " * 101, max_bytes=100)


def test_transport_media_type_must_agree():
    raw = b'{"schemaVersion": 2, "mediaType": "' + mt.OCI_INDEX.encode() + b'", "manifests": []}'
    assert isinstance(parse_manifest(raw, mt.DOCKER_MANIFEST_LIST), IndexManifest)  # same kind
    with pytest.raises(ManifestError, match="served as"):
        parse_manifest(raw, mt.OCI_MANIFEST)
