"""Notebook 01 (a pull done by hand) on images of every kind served by the real test registry,
with only IMAGE changed; and the correctness fixes it needed, each on a real-shaped input."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import re
import tarfile

import nbformat
import pytest
from nbclient import NotebookClient

import imgexplore
from imgexplore import mediatypes as mt

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"


def run_notebook(name: str, image: str, tmp_path) -> str:
    """Execute a notebook with its IMAGE (or IMAGE_A) parameter set; return every text output."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source, count = re.subn(
        r"^(IMAGE|IMAGE_A) = .*$", rf'\1 = "{image}"', parameters.source, flags=re.M
    )
    assert count == 1
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        coalesce_streams=True,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    nbformat.write(nb, tmp_path / name)  # the executed copy, for a look on failure
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", output
            if output.output_type == "stream":
                texts.append(output.text)
            elif "text/plain" in output.get("data", {}):
                texts.append(output.data["text/plain"])
    return "\n\x00".join(texts)  # outputs apart, so a test can look at one at a time


@pytest.fixture(scope="module")
def lesson_images(registry, tmp_path_factory):
    """The sample images pushed to the test registry as each kind a registry serves: an OCI
    manifest, a schema 2 manifest, a signed schema 1 manifest, a Docker manifest list whose
    entry is that signed schema 1 manifest (named by its payload digest), and an OCI index."""
    import os

    from imgexplore.registry import RegistryClient
    from imgexplore.sources import ManifestFileSource
    from imgexplore.transfer import push

    os.environ.setdefault("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
    host = registry.host
    refs = {
        "oci": f"{host}/lesson/oci:1",
        "v2s2": f"{host}/lesson/v2s2:1",
        "v2s1": f"{host}/lesson/v2s1:1",
        "list-of-v2s1": f"{host}/lesson/v2s1:list",
        "index": f"{host}/lesson/index:1",
    }
    push(str(DATA / "derived" / "oci"), refs["oci"])
    push(str(DATA / "teaching" / "oci"), refs["v2s2"])
    schema1 = ManifestFileSource(
        str(DATA / "teaching" / "schema1.json"), blobs=str(DATA / "teaching" / "oci")
    )
    push(schema1, refs["v2s1"])
    payload_digest = schema1.root_manifest().digest
    signed = RegistryClient(host).get_manifest("lesson/v2s1", payload_digest)
    manifest_list = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.DOCKER_SCHEMA1_SIGNED,
                "size": len(signed.raw),
                "digest": payload_digest,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    RegistryClient(host).put_manifest(
        "lesson/v2s1", "list", json.dumps(manifest_list, indent=3).encode(), mt.DOCKER_MANIFEST_LIST
    )
    push(str(DATA / "multiarch" / "oci"), refs["index"])
    return refs


def layer_digests(reference: str) -> set[str]:
    image = imgexplore.open_image(reference)
    return {layer.digest for layer in image.layers}


@pytest.mark.parametrize("kind", ["oci", "v2s2", "v2s1", "list-of-v2s1", "index"])
def test_notebook_01_pulls_the_image_it_is_given(kind, lesson_images, registry, isolated_cache, tmp_path):
    reference = lesson_images[kind]
    repository = reference.split("/", 1)[1].split(":")[0]
    out = run_notebook("01_what_docker_pull_downloads.ipynb", reference, tmp_path)

    api = f"http://{registry.host}/v2/"
    assert f"GET {api} -> 200" in out
    assert f"GET {api}{repository}/manifests/{reference.rsplit(':', 1)[1]} -> 200" in out
    # a layer blob of this image was downloaded and its sha256, computed in the cell, equals its digest
    computed = re.search(r"sha256 computed here: (sha256:[0-9a-f]{64})", out).group(1)
    asked = re.search(r"the digest asked for: (sha256:[0-9a-f]{64})", out).group(1)
    assert computed == asked and "equal: True" in out
    assert asked in layer_digests(reference)
    assert f"GET {api}{repository}/blobs/{asked} -> 200" in out
    # the whole exchange lists whole URLs with this registry's scheme, host and repository
    assert f"http://{registry.host}/v2/{repository}/blobs/{asked}" in out.split("The whole exchange")[-1]
    for foreign in ("registry-1.docker.io", "docker.io/library/teaching", "../data/", "https://"):
        assert foreign not in out, foreign
    # only an index or a list makes the second, by-digest manifest request
    by_digest = f"{api}{repository}/manifests/sha256:"
    assert (by_digest in out) == (kind in ("index", "list-of-v2s1"))
    if kind in ("index", "list-of-v2s1"):
        assert re.search(r"asked for (sha256:\w+) \| got \1 \| equal: True", out)
    if kind in ("v2s1", "list-of-v2s1", "v2s2"):  # the registry serves (or converts to) signed schema 1
        assert "payload_digest" in out and "every chain id equal: True" in out


def test_notebook_01_without_a_registry_program_says_it_uses_its_own_server(
    monkeypatch, isolated_cache, tmp_path
):
    monkeypatch.setenv("IMGEXPLORE_REGISTRY_BINARY", "")
    out = run_notebook("01_what_docker_pull_downloads.ipynb", "../data/teaching/oci", tmp_path)
    assert "pushed to imgexplore's read-only server on 127.0.0.1:" in out
    assert "it does not serve this image as schema 1" in out
    assert "equal: True" in out


@pytest.mark.parametrize(
    "name",
    [
        "02_layer_dag.ipynb",
        "03_layer_sizes.ipynb",
        "04_file_trees.ipynb",
        "05_compare_images.ipynb",
        "06_report_figures.ipynb",
    ],
)
@pytest.mark.parametrize("kind", ["v2s1", "index"])
def test_notebooks_show_no_missing_chain_id(name, kind, lesson_images, isolated_cache, tmp_path):
    """A schema 1 image records no diff_ids, an index names several images: every chain id
    shown must still be computed, for the image IMAGE names."""
    outputs = run_notebook(name, lesson_images[kind], tmp_path).split("\n\x00")
    shown = [text for text in outputs if "chain" in text.lower()]
    for text in shown:
        assert not re.search(r"\b(None|NaN)\b", text), text
    if name == "02_layer_dag.ipynb" and kind == "v2s1":
        assert "schema 1 form: the image is itself a schema 1 manifest" in outputs[0]
    if name == "05_compare_images.ipynb" and kind == "v2s1":  # they share their two base layers
        (layers,) = [text for text in shown if "index_a" in text]
        assert len(re.findall(r"^\s*both\b", layers, flags=re.M)) == 2


# -- the correctness fixes behind the notebook --------------------------------------------------


def test_list_of_signed_schema1_manifests_opens(lesson_images, isolated_cache):
    """The list names its entry by the payload digest; the registry re-signs on every GET."""
    image = imgexplore.open_image(lesson_images["list-of-v2s1"])
    direct = imgexplore.open_image(lesson_images["v2s1"])
    assert image.digest == direct.digest  # the payload digest, stable across re-signing
    assert image.manifest.signed and image.index is not None
    assert [layer.digest for layer in image.layers] == [layer.digest for layer in direct.layers]
    again = imgexplore.open_image(lesson_images["list-of-v2s1"])  # warm cache: still opens
    assert again.digest == image.digest


def test_cli_inspects_a_list_of_signed_schema1_manifests(lesson_images, isolated_cache, capsys):
    from imgexplore.cli import main

    assert main(["inspect", lesson_images["list-of-v2s1"]]) == 0
    assert "DigestMismatch" not in capsys.readouterr().err


def test_old_schema1_without_throwaway_counts_metadata_only_steps(realdata):
    """google_containers/pause-amd64:3.0 (2016): 3 steps, two of them on the a3ed95 blob and
    no throwaway flags anywhere (docker of that time never wrote them)."""
    path = realdata / "containers__image/internal/image/fixtures/schema1-for-oci-config.json"
    doc = json.loads(path.read_text())
    assert not any("throwaway" in json.loads(h["v1Compatibility"]) for h in doc["history"])
    image = imgexplore.open_image(str(path))
    history = image.history_table()
    assert int(history["empty_layer"].sum()) == 2
    assert [layer.empty for layer in image.layers] == [True, False, True]
    # the layers stay in the rootfs (as docker pulled them): none is marked throwaway
    assert not any(layer.throwaway for layer in image.layers)


def test_newest_schema1_entry_without_container_config(lesson_images, isolated_cache):
    """The registry's own schema 2 → schema 1 conversion writes the newest entry without
    container_config: the image opens, and that step's command is simply unknown."""
    image = imgexplore.open_image(lesson_images["v2s2"], registry=imgexplore.RegistryOptions(schema1=True))
    assert isinstance(image.manifest, imgexplore.Schema1Manifest)
    newest = json.loads(json.loads(image.manifest.raw)["history"][0]["v1Compatibility"])
    assert "container_config" not in newest
    assert image.history[-1].created_by == ""
    assert int(image.history_table()["empty_layer"].sum()) == 6


def test_docker25_archive_with_null_manifests_falls_back_on_manifest_json(tmp_path):
    original = DATA / "multiarch" / "docker-save.tar"
    patched = tmp_path / "null-manifests.tar"
    with tarfile.open(original) as src, tarfile.open(patched, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "index.json":
                index = json.loads(data)
                index["manifests"] = None
                data = json.dumps(index).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    image = imgexplore.open_image(str(patched))
    listing = json.loads(tarfile.open(original).extractfile("manifest.json").read())[0]
    assert image.source.kind == "docker-archive"
    assert image.config_digest == "sha256:" + listing["Config"].rsplit("/", 1)[1]
    assert [layer.diff_id for layer in image.layers] == image.config["rootfs"]["diff_ids"]
    assert len(image.layers) == len(listing["Layers"]) == 2


def test_a_library_error_in_a_notebook_is_one_line(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('import imgexplore\nimgexplore.open_image("no/such/place:1.0/x")')]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", coalesce_streams=True, allow_errors=True)
    client.execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert error.ename.endswith("Error")
    assert len(error.traceback) == 1 and "imgexplore/" not in error.traceback[0]


def test_gzip_anatomy_of_the_empty_layers():
    from imgexplore.registry.byhand import gzip_anatomy

    docker = gzip_anatomy(mt.EMPTY_LAYER_SCHEMA1_BYTES)
    buildkit = gzip_anatomy(mt.EMPTY_LAYER_BUILDKIT_BYTES)
    assert hashlib.sha256(mt.EMPTY_LAYER_SCHEMA1_BYTES).hexdigest().startswith("a3ed95caeb02")
    assert list(docker["offset"]) == [0, 2, 3, 4, 8, 9, 10, 24, 28]
    differ = docker["bytes"] != buildkit["bytes"]
    assert list(docker.loc[differ, "field"]) == ["MTIME"]
    assert docker.loc[3, "bytes"] == "00 09 6e 88" and buildkit.loc[3, "bytes"] == "00 00 00 00"
    assert "Go's zero time.Time" in docker.loc[3, "meaning"]
    assert docker.loc[7, "bytes"] == "2e af b5 ef" and "matches" in docker.loc[7, "meaning"]


def test_pull_urls_are_whole_and_true_to_the_reference():
    from imgexplore.registry import pull_urls

    image = imgexplore.open_image(str(DATA / "teaching" / "oci"))  # its index.json is no registry index
    local = pull_urls("127.0.0.1:5000/class/teaching:v1", image)
    assert local["url"][0] == "http://127.0.0.1:5000/v2/"
    assert local["url"][1] == "http://127.0.0.1:5000/v2/class/teaching/manifests/v1"
    assert not local["what"].str.contains("platform").any()
    assert len(local) == 2 + 1 + 6  # API check, manifest, config, six layer blobs
    hub = pull_urls("teaching", image)
    assert hub["url"][1] == "https://registry-1.docker.io/v2/library/teaching/manifests/latest"


def test_notebook_01_shows_a_redirect_to_blob_storage(lesson_images, registry, isolated_cache, tmp_path):
    """In front of the registry, a proxy answers every blob GET with a 307 to another loopback
    host and a signed URL, as object-store backed registries do: the pull by hand follows it,
    says so, sends no Authorization there, and masks the URL's signature."""
    from netfixtures import RedirectingProxy

    address, seen = RedirectingProxy(upstream=registry.host).start()
    out = run_notebook("01_what_docker_pull_downloads.ipynb", f"{address}/lesson/v2s2:1", tmp_path)
    assert re.search(
        r"redirected to http://127\.0\.0\.2:\d+/v2/lesson/v2s2/blobs/sha256:\w+\?X-Amz-Signature=\*\*\* \(sent without Authorization\)",
        out,
    )
    assert "s3cr3t" not in out
    assert seen and not any("Authorization" in headers for headers in seen)
    assert "equal: True" in out


def test_schema1_steps_on_the_empty_blob_without_throwaway_are_metadata_only(tmp_path):
    """The same on the bundled schema 1 manifest with its throwaway flags removed, as docker
    before 1.10 wrote them (no realdata needed)."""
    doc = json.loads((DATA / "teaching" / "schema1.json").read_text())
    for entry in doc["history"]:
        v1 = json.loads(entry["v1Compatibility"])
        v1.pop("throwaway", None)
        entry["v1Compatibility"] = json.dumps(v1)
    path = tmp_path / "old-schema1.json"
    path.write_text(json.dumps(doc, indent=3))
    image = imgexplore.open_image(str(path))
    assert int(image.history_table()["empty_layer"].sum()) == 6
    assert sum(layer.digest == mt.EMPTY_LAYER_SCHEMA1 for layer in image.layers) == 6
