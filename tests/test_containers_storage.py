"""containers-storage:[overlay@ROOT+RUNROOT]NAME: images a real rootful podman (Debian's,
with its own store in a temporary folder) pulled from the tests' loopback registry, read
straight from podman's store and compared with the registry copy: manifest and layer
digests, diff_ids, chain ids, history, the merged file tree; every layer rebuilt from its
tar-split and diff directory hashes to its diff_id."""

from __future__ import annotations

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
