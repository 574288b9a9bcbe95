"""containers-storage:[overlay@ROOT+RUNROOT]NAME: images a real rootful podman (Debian's,
with its own store in a temporary folder) pulled from the tests' loopback registry, read
straight from podman's store and compared with the registry copy: manifest and layer
digests, diff_ids, chain ids, history, the merged file tree; every layer rebuilt from its
tar-split and diff directory hashes to its diff_id."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
from engines import podman
from hostimages import derived_image
from test_host_docker import same_image

import imgexplore
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT


@pytest.fixture(scope="module")
def store(registry, tmp_path_factory):
    refs = [
        f"{registry.host}/podman/teaching:v1",
        f"{registry.host}/podman/derived:v1",
        f"{registry.host}/podman/multi:v1",
    ]
    push(str(ROOT / "data" / "teaching" / "oci"), refs[0])
    push(derived_image(tmp_path_factory.mktemp("derived")), refs[1])
    push(str(ROOT / "data" / "multiarch" / "oci"), refs[2])
    root = str(tmp_path_factory.mktemp("podman"))
    for ref in refs:
        podman(root, "pull", "--tls-verify=false", ref)
    return root, refs


@pytest.mark.parametrize("position", [0, 1, 2], ids=["teaching", "derived", "index"])
def test_podman_store_reads_as_the_registry_copy(store, position, isolated_cache):
    root, refs = store
    local = imgexplore.open_image(f"containers-storage:[overlay@{root}/storage+{root}/run]{refs[position]}")
    remote = imgexplore.open_image(refs[position])
    assert local.source.kind == "containers-storage"
    assert local.digest == remote.digest  # the manifest as pulled is kept
    assert [layer.digest for layer in local.layers] == [layer.digest for layer in remote.layers]
    same_image(local, remote)


def test_a_missing_image_names_what_is_there(store, capsys):
    from imgexplore.cli import main

    root, refs = store
    assert main(["inspect", f"containers-storage:[{root}/storage]nothing:here"]) == 1
    err = capsys.readouterr().err
    assert "no image 'nothing:here'" in err and refs[0] in err and len(err.strip().splitlines()) == 1


def store_copy(store, tmp_path) -> str:
    """The podman store copied as it is (``cp -a``: whiteouts are device nodes)."""
    root, _ = store
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", root, str(copy)], check=True)
    return str(copy)


def test_a_layer_recorded_without_its_diff_digest_is_checked_against_the_config(
    store, tmp_path, isolated_cache
):
    """containers/storage records no ``diff-digest`` for a layer it pulled in part (a
    zstd:chunked layer fetched from its table of contents): such a layer is rebuilt and checked
    against the diff_id the config names at its position. Debian's podman 4.3 always records
    it, so the record is removed from a copy of a real store."""
    _, refs = store
    copy = store_copy(store, tmp_path)
    path = pathlib.Path(copy, "storage", "overlay-layers", "layers.json")
    layers = json.loads(path.read_text())
    assert all(layer.get("diff-digest") for layer in layers)
    for layer in layers:
        del layer["diff-digest"]
    path.write_text(json.dumps(layers))
    local = imgexplore.open_image(f"containers-storage:[overlay@{copy}/storage]{refs[1]}")
    remote = imgexplore.open_image(refs[1])
    same_image(local, remote)
    for layer in local.layers:  # every rebuilt tar hashed and found equal to the config's diff_id
        assert layer.compute_diff_id()[0] == layer.diff_id


def test_a_damaged_store_ends_in_one_line_naming_the_place(store, tmp_path, isolated_cache, capsys):
    from imgexplore.cli import main

    _, refs = store
    copy = store_copy(store, tmp_path)
    spec = f"containers-storage:[overlay@{copy}/storage]{refs[0]}"
    layers = json.loads(pathlib.Path(copy, "storage", "overlay-layers", "layers.json").read_text())
    image = imgexplore.open_image(spec)
    by_diff_id = {layer["diff-digest"]: layer["id"] for layer in layers}
    first, second = (by_diff_id[layer.diff_id] for layer in image.layers[:2])
    # a file changed after it was unpacked
    diff = pathlib.Path(copy, "storage", "overlay", first, "diff")
    changed = next(
        p for p in sorted(diff.rglob("*")) if p.is_file() and not p.is_symlink() and p.stat().st_size
    )
    changed.write_bytes(b"changed\n" + changed.read_bytes())
    with pytest.raises(
        imgexplore.TarSplitError, match=f"{changed.relative_to(diff)} .* changed after it was unpacked"
    ):
        image.layers[0].compute_diff_id()
    # a tar-split that is not gzip any more
    pathlib.Path(copy, "storage", "overlay-layers", f"{second}.tar-split.gz").write_bytes(b"\x1f\x8bdamaged")
    assert main(["tree", spec, "--layer", "1", "--format", "csv"]) == 1
    err = capsys.readouterr().err.strip()
    assert f"{second}.tar-split.gz: not a readable tar-split file" in err and len(err.splitlines()) == 1, err


def test_a_user_without_rights_is_told_so_in_one_line(store):
    """As ``nobody``, a rootful store (root's, as podman makes it) refuses: one line naming the
    file and the fix, nothing written."""
    from engines import run_unprivileged
    from test_host_docker import reachable_by_others

    root, refs = store
    with reachable_by_others(f"{root}/storage"):
        done = run_unprivileged(["inspect", f"containers-storage:[{root}/storage]{refs[0]}"])
    assert done.returncode == 1 and done.stdout == "" and done.written == []
    assert done.stderr.strip().splitlines() == [
        f"imgexplore: error: containers-storage:[{root}/storage]{refs[0]}: permission denied reading "
        f"{root}/storage/overlay-images/images.json: run as the store's owner (root)"
    ]
