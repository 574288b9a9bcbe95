"""Opening images from OCI layouts and docker save tarballs, on real fixtures.

Layer counts come from INDEX.json (checked independently); diff_ids are recomputed here
with GNU tar, gzip, zstd and sha256sum, not with imgexplore."""

from __future__ import annotations

import json

import pytest
from helpers import diff_id_of_member

import imgexplore
from imgexplore import BlobNotFoundError, DigestMismatchError, PlatformNotFoundError, SourceError
from imgexplore import mediatypes as mt

DIVE = "wagoodman__dive/.data/"

# (archive, source kind, layers, compression of every layer, history steps, empty history steps)
ARCHIVES = [
    (DIVE + "test-docker-image.tar", "docker-archive", 14, "none", 15, 1),
    (DIVE + "test-kaniko-image.tar", "docker-archive", 14, "gzip", 15, 1),
    (DIVE + "test-oci-gzip-image.tar", "oci-layout", 1, "gzip", 1, 0),
    (DIVE + "test-oci-zstd-image.tar", "oci-layout", 1, "zstd", 1, 0),
    (DIVE + "test-oci-uncompressed-image.tar", "oci-layout", 1, "none", 1, 0),
    (DIVE + "test-oci-estargz-image.tar", "oci-layout", 1, "gzip", 1, 0),
    ("containers__image/docker/archive/fixtures/almostempty.tar", "docker-archive", 1, "none", 1, 0),
    (
        "google__go-containerregistry/pkg/v1/tarball/testdata/test_image_1.tar",
        "docker-archive",
        1,
        "none",
        1,
        0,
    ),
    ("google__go-containerregistry/pkg/v1/tarball/testdata/foreign.tar", "docker-archive", 2, "gzip", 2, 0),
    ("google__go-containerregistry/v1/tarball/testdata/whiteout.tar", "docker-archive", 4, "none", 5, 1),
]


@pytest.mark.parametrize(("rel", "kind", "layers", "compression", "steps", "empty_steps"), ARCHIVES)
def test_archives(realdata, rel, kind, layers, compression, steps, empty_steps):
    image = imgexplore.open_image(realdata / rel)
    assert image.source.kind == kind
    assert len(image.layers) == layers
    assert len(image.history) == steps
    assert sum(1 for s in image.history if s.empty_layer) == empty_steps
    # every non-empty step has exactly one layer, in order
    assert [s.layer_index for s in image.history if not s.empty_layer] == list(range(layers))
    # diff_ids: decompressing with imgexplore agrees with the config ...
    config_ids = list(image.diff_ids)
    computed = image.compute_diff_ids()
    assert computed == config_ids
    # ... and with GNU tar + gzip/zstd + sha256sum on the blob inside the archive
    members = _layer_members(realdata / rel, image)
    for layer, member in zip(image.layers, members, strict=True):
        assert diff_id_of_member(realdata / rel, member) == layer.diff_id
        with image.source.open_blob(layer.digest) as blob:
            head = blob.read(4)
        detected = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}.get(
            head[:2] if head[:2] == b"\x1f\x8b" else head, "none"
        )
        assert detected == compression
    # chain ids by the OCI formula, computed here independently
    import hashlib

    chain = []
    for diff_id in computed:
        chain.append(
            diff_id
            if not chain
            else "sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest()
        )
    assert [layer.chain_id for layer in image.layers] == chain


def _layer_members(archive, image):
    import tarfile

    with tarfile.open(archive) as tar:
        names = tar.getnames()
    if "manifest.json" in names and image.source.kind == "docker-archive":
        import subprocess

        entry = json.loads(
            subprocess.run(
                ["tar", "-xOf", str(archive), "manifest.json"], check=True, capture_output=True
            ).stdout
        )[0]
        return entry["Layers"]
    return [f"blobs/sha256/{layer.digest.split(':')[1]}" for layer in image.layers]


def test_dive_image_history_and_whiteouts(realdata):
    image = imgexplore.open_image(realdata / (DIVE + "test-docker-image.tar"))
    # step 1 (CMD ["sh"]) is metadata-only, so layer 9 was made by step 10
    assert image.history[1].empty_layer and image.history[1].layer_index is None
    assert image.layers[9].history_step == 10
    assert image.layers[9].created_by == "/bin/sh -c rm -rf /root/example/"
    assert image.platform is not None and str(image.platform) == "linux/amd64"
    assert image.source.repo_tags == ["dive-test:latest"]


def test_foreign_layer_keeps_its_descriptor(realdata):
    image = imgexplore.open_image(
        realdata / "google__go-containerregistry/pkg/v1/tarball/testdata/foreign.tar"
    )
    foreign = image.layers[1]
    assert foreign.media_type == mt.DOCKER_FOREIGN_GZIP
    assert foreign.foreign and foreign.urls == ("example.com",)
    assert foreign.digest == "sha256:015b6ec6d1bc15e26c868d36ef75577c7a0405609ea9abc028b69204b56e7325"
    assert foreign.diff_id == "sha256:7f7a4a3ef87ee4ad745aa3a1da078bc7a75362a9518596753636d1f03ecb69b8"


def test_regclient_layout_platforms(realdata):
    table = imgexplore.list_platforms(realdata / "regclient__regclient/testdata/testrepo")
    assert {"linux/amd64", "linux/arm64"} <= set(table["platform"])
    amd = imgexplore.open_image(realdata / "regclient__regclient/testdata/testrepo", "linux/amd64")
    arm = imgexplore.open_image(realdata / "regclient__regclient/testdata/testrepo", "linux/arm64")
    assert str(amd.platform) == "linux/amd64" and str(arm.platform) == "linux/arm64"
    assert amd.digest == "sha256:2f295c8e37f19a4fb8d49a3f2130863ec40288cb010f721742748e3dde5b1819"
    assert arm.digest != amd.digest


def test_layout_with_several_untagged_images_asks_for_a_tag(realdata):
    path = realdata / "regclient__regclient/testdata/external"
    with pytest.raises(PlatformNotFoundError, match="tags here: a3, a4"):
        imgexplore.open_image(path)
    with pytest.raises(imgexplore.ManifestError, match="artifact \\(application/example.sbom\\)"):
        imgexplore.open_image(f"oci:{path}:a3")


def test_same_image_listed_three_times_opens(realdata):
    image = imgexplore.open_image(realdata / "google__go-containerregistry/pkg/v1/layout/testdata/test_index")
    assert image.digest == "sha256:eebff607b1628d67459b0596643fc07de70d702eccf030f0bc7bb6fc2b278650"


def test_broken_layouts(realdata):
    base = realdata / "containers__image/oci/layout/fixtures"
    with pytest.raises(DigestMismatchError, match="740 bytes but its descriptor says 585"):
        imgexplore.open_image(base / "delete_image_only_one_image")
    with pytest.raises(BlobNotFoundError, match="blob sha256:eaa95f3cfaac.* is missing"):
        imgexplore.open_image(base / "delete_image_shared_blobs_dir")
    with pytest.raises(SourceError, match="not an OCI image layout \\(no oci-layout file\\)"):
        imgexplore.open_image(base / "manifest")


def test_blob_verified_on_read(tmp_path, data_dir):
    """A flipped byte in a layer blob is caught when the layer is read."""
    import shutil

    layout = tmp_path / "oci"
    shutil.copytree(data_dir / "teaching" / "oci", layout)
    image = imgexplore.open_image(layout)
    blob = layout / "blobs" / "sha256" / image.layers[2].digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises((DigestMismatchError, imgexplore.ArchiveError)):
        image.layers[2].compute_diff_id()
    # the same corruption in the config is caught when opening
    config = layout / "blobs" / "sha256" / image.config_digest.split(":")[1]
    config.write_bytes(config.read_bytes().replace(b"teaching", b"TEACHING"))
    with pytest.raises(
        DigestMismatchError, match="config sha256:fa29186301c4.* content does not match its digest"
    ):
        imgexplore.open_image(layout)


def test_truncated_docker_save(tmp_path, data_dir):
    raw = (data_dir / "teaching" / "docker-save.tar").read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(imgexplore.ImgExploreError) as info:
        image = imgexplore.open_image(cut)
        image.compute_diff_ids()
    assert isinstance(
        info.value, (imgexplore.ArchiveError, BlobNotFoundError, SourceError, DigestMismatchError)
    )


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar file at all" * 100)
    with pytest.raises(imgexplore.ArchiveError, match="not a readable tar archive"):
        imgexplore.open_image(junk)
    with pytest.raises(SourceError, match="no such file or folder"):
        imgexplore.open_image(tmp_path / "missing" / "x.tar")
