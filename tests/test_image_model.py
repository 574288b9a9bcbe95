"""History ↔ layer alignment, empty layers and chain ids on hand-made manifests and configs."""

from __future__ import annotations

import hashlib
import json

import pytest

import imgexplore
from imgexplore import mediatypes as mt


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_image(tmp_path, layers: list[str], diff_ids: list[str], history: list[dict] | None):
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if history is not None:
        config["history"] = history
    config_raw = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": digest(config_raw), "size": len(config_raw)},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": d, "size": 32} for d in layers],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "config.json").write_bytes(config_raw)
    return imgexplore.open_image(
        f"manifest:{tmp_path / 'manifest.json'}", config=str(tmp_path / "config.json")
    )


L1, L2, L3 = (digest(bytes([i])) for i in range(3))
D1, D2, D3 = (digest(bytes([i + 10])) for i in range(3))


def test_alignment_skips_empty_steps(tmp_path):
    history = [
        {"created_by": "ADD rootfs"},
        {"created_by": "ENV A=1", "empty_layer": True},
        {"created_by": "RUN make"},
        {"created_by": "CMD x", "empty_layer": True},
    ]
    image = write_image(tmp_path, [L1, L2], [D1, D2], history)
    assert [s.layer_index for s in image.history] == [0, None, 1, None]
    assert [layer.history_step for layer in image.layers] == [0, 2]
    assert image.layers[1].created_by == "RUN make"
    assert image.warnings == []
    chain2 = "sha256:" + hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    assert [layer.chain_id for layer in image.layers] == [D1, chain2]


def test_more_steps_than_layers_is_warned(tmp_path):
    history = [{"created_by": "A"}, {"created_by": "B"}, {"created_by": "C"}]
    image = write_image(tmp_path, [L1, L2], [D1, D2], history)
    assert [s.layer_index for s in image.history] == [0, 1, None]
    assert any("steps [2] have no layer" in w for w in image.warnings)


def test_base_without_history_is_warned(tmp_path):
    image = write_image(tmp_path, [L1, L2, L3], [D1, D2, D3], [{"created_by": "COPY app"}])
    assert image.layers[0].history_step == 0
    assert any("layer(s) [1, 2] have no history step" in w for w in image.warnings)


def test_no_history_at_all(tmp_path):
    image = write_image(tmp_path, [L1], [D1], None)
    assert image.history == []
    assert any("no history" in w for w in image.warnings)


def test_diff_id_count_mismatch_leaves_chain_unknown(tmp_path):
    image = write_image(tmp_path, [L1, L2], [D1], [{"created_by": "A"}, {"created_by": "B"}])
    assert any("1 diff_ids but the manifest has 2 layers" in w for w in image.warnings)
    assert image.layers[1].diff_id is None and image.layers[1].chain_id is None


def test_empty_layer_detection_by_diff_id(tmp_path):
    """A 32-byte empty layer from another compressor is still recognised by its diff_id."""
    other_empty = digest(b"some other gzip of an empty tar")
    image = write_image(
        tmp_path,
        [L1, other_empty, mt.EMPTY_LAYER_BUILDKIT],
        [D1, mt.EMPTY_LAYER_DIFF_ID, mt.EMPTY_LAYER_DIFF_ID],
        [{"created_by": "A"}, {"created_by": "B"}, {"created_by": "C"}],
    )
    assert [layer.empty for layer in image.layers] == [False, True, True]
    table = image.layers_table()
    assert list(table["empty"]) == [False, True, True]


def test_well_known_empty_blob_needs_no_storage(tmp_path):
    image = write_image(tmp_path, [mt.EMPTY_LAYER_SCHEMA1], [mt.EMPTY_LAYER_DIFF_ID], [{"created_by": "A"}])
    diff_id, size = image.layers[0].compute_diff_id()
    assert (diff_id, size) == (mt.EMPTY_LAYER_DIFF_ID, 1024)


def test_missing_layer_blob(tmp_path):
    image = write_image(tmp_path, [L1], [D1], [{"created_by": "A"}])
    assert not image.layers[0].available
    with pytest.raises(imgexplore.BlobNotFoundError, match="saved manifest carries no blobs"):
        image.layers[0].compute_diff_id()


def test_artifact_is_not_an_image(tmp_path):
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": "application/example.sbom",
            "config": {"mediaType": mt.OCI_EMPTY, "digest": digest(b"{}"), "size": 2},
            "layers": [],
        }
    )
    (tmp_path / "m.json").write_text(raw)
    with pytest.raises(imgexplore.ManifestError, match="artifact \\(application/example.sbom\\)"):
        imgexplore.open_image(tmp_path / "m.json")


def test_config_that_is_not_json(tmp_path):
    (tmp_path / "c.json").write_bytes(b"\x00\x01 not json")
    config_digest = digest(b"\x00\x01 not json")
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": config_digest, "size": 11},
            "layers": [],
        }
    )
    (tmp_path / "m.json").write_text(raw)
    with pytest.raises(imgexplore.ManifestError, match="is not valid JSON|not UTF-8"):
        imgexplore.open_image(tmp_path / "m.json", config=str(tmp_path / "c.json"))


def test_schema1_broken_chain_is_warned(realdata):
    raw = json.loads(
        (realdata / "containers__image/internal/manifest/testdata/v2s1-unsigned.manifest.json").read_text()
    )
    compat = json.loads(raw["history"][0]["v1Compatibility"])
    compat["parent"] = "f" * 64
    raw["history"][0]["v1Compatibility"] = json.dumps(compat)
    image_manifest = imgexplore.parse_manifest(json.dumps(raw).encode())
    from imgexplore.image import _check_schema1_chain

    warnings = _check_schema1_chain(image_manifest)
    assert any("names parent sha256:ffffffffffff" in w or "names parent ffffffffffff" in w for w in warnings)
