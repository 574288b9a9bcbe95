"""The sample images in data/: reproducible, and what the documentation says they hold."""

from __future__ import annotations

import filecmp
import subprocess
import sys

import pytest
from helpers import diff_id_of_file

import imgexplore
from imgexplore import mediatypes as mt

TEACHING_MANIFEST = "sha256:bc866432d235d9b255f5c9f257ec7f1a63e24e09012a7348f35cf5ec9ce7820b"
TEACHING_TIP_CHAIN_ID = "sha256:d6377691cdaa272fa1332dd5203b2dcf5f7f20c06cca8dd21ad74472c199c2e4"
SHARED_BASE = [
    "sha256:1aa08f2122fd41a67c28d71704d62c9e9caa48832ff94a9268a2ac4006b56c69",
    "sha256:00483b469036893b5797239815293293e8787a26a0ea94528f47fbddfd4aeda0",
]


def test_regenerating_gives_identical_bytes(tmp_path, data_dir):
    script = data_dir.parent / "scripts" / "make_sample_data.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in ("teaching", "derived", "multiarch"):
        comparison = filecmp.dircmp(data_dir / name, tmp_path / name)
        _assert_same(comparison)


def _assert_same(cmp):
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    assert not mismatch and not errors, mismatch
    for sub in cmp.subdirs.values():
        _assert_same(sub)


def test_data_is_small(data_dir):
    total = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024


def test_teaching_image(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    assert image.digest == TEACHING_MANIFEST
    assert image.media_type == mt.DOCKER_SCHEMA2
    assert len(image.layers) == 6
    assert len(image.history) == 12
    assert [s.step for s in image.history if s.empty_layer] == [1, 3, 5, 8, 10, 11]
    assert [layer.digest for layer in image.layers[:2]] == SHARED_BASE
    assert image.layers[-1].chain_id == TEACHING_TIP_CHAIN_ID
    assert not image.warnings
    for layer in image.layers:
        blob = data_dir / "teaching" / "oci" / "blobs" / "sha256" / layer.digest.split(":")[1]
        assert diff_id_of_file(blob) == layer.diff_id  # gzip -dc | sha256sum


def test_teaching_docker_save_matches_layout(data_dir):
    layout = imgexplore.open_image(data_dir / "teaching" / "oci")
    archive = imgexplore.open_image(data_dir / "teaching" / "docker-save.tar")
    assert archive.source.kind == "docker-archive"
    assert archive.config_digest == layout.config_digest
    assert archive.diff_ids == layout.diff_ids
    assert [layer.chain_id for layer in archive.layers] == [layer.chain_id for layer in layout.layers]
    # uncompressed layers in a legacy docker save: digest == diff_id
    assert [layer.digest for layer in archive.layers] == archive.diff_ids


def test_teaching_schema1(data_dir):
    image = imgexplore.open_image(
        data_dir / "teaching" / "schema1.json", blobs=str(data_dir / "teaching" / "oci")
    )
    assert image.schema_version == 1
    assert len(image.layers) == 12  # one fsLayer per history step
    empties = [layer.index for layer in image.layers if layer.digest == mt.EMPTY_LAYER_SCHEMA1]
    assert empties == [1, 3, 5, 8, 10, 11]
    assert all(image.layers[i].throwaway for i in empties)
    # v1 ids chain: each step's parent is the one before
    ids = [s.v1_id for s in image.history]
    assert [s.v1_parent for s in image.history] == [None] + ids[:-1]
    image.compute_diff_ids()
    assert image.layers[-1].diff_id == mt.EMPTY_LAYER_DIFF_ID
    # chain ids skip throwaway layers and end where the schema 2 image ends
    assert image.layers[9].chain_id == TEACHING_TIP_CHAIN_ID


def test_derived_shares_base_and_has_buildkit_empty_and_zstd(data_dir):
    image = imgexplore.open_image(data_dir / "derived" / "oci")
    assert image.media_type == mt.OCI_MANIFEST
    assert [layer.digest for layer in image.layers[:2]] == SHARED_BASE
    assert image.layers[3].digest == mt.EMPTY_LAYER_BUILDKIT and image.layers[3].empty
    assert image.layers[3].diff_id == mt.EMPTY_LAYER_DIFF_ID
    assert image.layers[4].media_type == mt.OCI_LAYER_ZSTD
    blob = data_dir / "derived" / "oci" / "blobs" / "sha256" / image.layers[4].digest.split(":")[1]
    assert diff_id_of_file(blob) == image.layers[4].diff_id  # zstd -dc | sha256sum
    assert image.compute_diff_ids() == image.diff_ids


@pytest.mark.parametrize("form", ["oci", "docker-save.tar"])
def test_multiarch(data_dir, form):
    path = data_dir / "multiarch" / form
    table = imgexplore.list_platforms(path)
    assert list(table["platform"]) == ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]
    assert list(table["attestation"]) == [False, False, True]
    amd = imgexplore.open_image(path, "linux/amd64")
    arm = imgexplore.open_image(path, "linux/arm64")
    assert amd.layers[0].digest == arm.layers[0].digest  # shared base layer
    assert amd.layers[1].digest != arm.layers[1].digest
    assert amd.config["architecture"] == "amd64" and arm.config["variant"] == "v8"
    with pytest.raises(imgexplore.PlatformNotFoundError, match="linux/amd64, linux/arm64/v8"):
        imgexplore.open_image(path, "linux/s390x")
