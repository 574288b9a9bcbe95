"""Against a real registry process on 127.0.0.1: push the sample images, read them back,
pull them into layouts, and check what went over the wire."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

import imgexplore
from imgexplore import mediatypes as mt
from imgexplore.blobstore import BlobStore
from imgexplore.registry import RegistryClient
from imgexplore.transfer import pull, push


@pytest.fixture(scope="module")
def loaded(registry, data_dir, tmp_path_factory):
    """The registry with the sample images pushed by imgexplore itself."""
    import os

    os.environ.setdefault("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
    host = registry.host
    push(str(data_dir / "teaching" / "oci"), f"{host}/samples/teaching:latest")
    push(str(data_dir / "derived" / "oci"), f"{host}/samples/derived:latest", mount_from="samples/teaching")
    push(str(data_dir / "multiarch" / "oci"), f"{host}/samples/multiarch:latest")
    return host


def test_read_back_what_was_pushed(loaded, data_dir, isolated_cache):
    local = imgexplore.open_image(data_dir / "teaching" / "oci")
    remote = imgexplore.open_image(f"{loaded}/samples/teaching:latest")
    assert remote.source.kind == "registry"
    assert remote.digest == local.digest
    assert remote.layers_table().equals(local.layers_table())
    assert remote.history_table().equals(local.history_table())
    # layer content arrives on demand, verified, and lists the same as locally
    assert remote.files().merged()["path"].tolist() == local.files(cache=False).merged()["path"].tolist()


def test_metadata_costs_three_requests_then_one(loaded, isolated_cache):
    image = imgexplore.open_image(f"{loaded}/samples/derived:latest")
    exchanges = [e for e in image.source.client.transcript.exchanges]
    assert [e.method for e in exchanges] == ["HEAD", "GET", "GET"]  # manifest digest, manifest, config
    assert [e.url.rsplit("/", 2)[-2] for e in exchanges] == ["manifests", "manifests", "blobs"]
    again = imgexplore.open_image(f"{loaded}/samples/derived:latest")
    assert [e.method for e in again.source.client.transcript.exchanges] == ["HEAD"]  # the rest is cached
    assert len(BlobStore().entries()) == 2


def test_multiarch_index(loaded, isolated_cache):
    table = imgexplore.list_platforms(f"{loaded}/samples/multiarch:latest")
    assert list(table["platform"]) == ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]
    arm = imgexplore.open_image(f"{loaded}/samples/multiarch:latest", platform="linux/arm64")
    assert arm.config["architecture"] == "arm64"
    assert arm.index is not None and arm.index.media_type == mt.OCI_INDEX


def test_pull_to_layout_and_again_from_cache(loaded, data_dir, tmp_path, isolated_cache):
    report = pull(f"{loaded}/samples/teaching:latest", tmp_path / "layout")
    image = imgexplore.open_image(tmp_path / "layout")
    assert image.digest == imgexplore.open_image(data_dir / "teaching" / "oci").digest
    assert image.compute_diff_ids() == image.diff_ids
    assert report.blobs == 7 and report.bytes_transferred == sum(layer.size for layer in image.layers) + len(
        image.config_raw
    )
    second = pull(f"{loaded}/samples/teaching:latest", tmp_path / "layout2")
    assert second.bytes_transferred == 0
    assert second.requests == 1  # HEAD: everything else came from the cache


def test_pull_all_platforms(loaded, tmp_path, isolated_cache):
    pull(f"{loaded}/samples/multiarch:latest", tmp_path / "all", platform="all")
    index = json.loads((tmp_path / "all" / "index.json").read_text())
    assert index["manifests"][0]["mediaType"] == mt.OCI_INDEX
    table = imgexplore.list_platforms(tmp_path / "all")
    assert len(table) == 3
    for p in ("linux/amd64", "linux/arm64/v8"):
        imgexplore.open_image(tmp_path / "all", p).compute_diff_ids()


def test_schema1_conversion_by_the_registry(loaded, isolated_cache):
    """Asked for schema 1 only, the registry converts the schema 2 teaching image on the fly
    and signs it: one fsLayer per history step, the 32-byte empty blob for empty steps."""
    image = imgexplore.open_image(
        f"{loaded}/samples/teaching:latest", registry=imgexplore.RegistryOptions(schema1=True)
    )
    assert image.manifest.media_type == mt.DOCKER_SCHEMA1_SIGNED and image.manifest.signed
    assert image.manifest.signature_problem is None
    assert len(image.layers) == 12
    assert sum(1 for layer in image.layers if layer.digest == mt.EMPTY_LAYER_SCHEMA1) == 6
    client = image.source.client
    again = client.get_manifest("samples/teaching", "latest", schema1=True)
    assert again.raw != image.manifest.raw  # re-signed on every GET ...
    assert again.digest == image.manifest.digest  # ... while the payload digest stays
    image.compute_diff_ids()
    schema2 = imgexplore.open_image(f"{loaded}/samples/teaching:latest")
    assert [layer.chain_id for layer in image.layers if not layer.throwaway] == [
        layer.chain_id for layer in schema2.layers
    ]


def test_tags_with_pagination(loaded, data_dir, isolated_cache):
    for tag in ("v1", "v2", "v3"):
        push(str(data_dir / "derived" / "oci"), f"{loaded}/samples/paged:{tag}")
    client = RegistryClient(loaded)
    assert client.list_tags("samples/paged", page_size=1) == ["v1", "v2", "v3"]  # 2.8 ignores n for tags
    # the catalog does paginate with Link headers in 2.8: one repository per page
    repositories = client.list_repositories(page_size=1)
    assert {"samples/paged", "samples/teaching", "samples/derived", "samples/multiarch"} <= set(repositories)
    pages = [e for e in client.transcript.exchanges if "_catalog" in e.url]
    assert len(pages) == len(repositories) >= 4


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("samples/nothing:latest", "NAME_UNKNOWN|MANIFEST_UNKNOWN"),
        ("samples/teaching:missing", "MANIFEST_UNKNOWN"),
    ],
)
def test_not_found(loaded, reference, message, isolated_cache):
    with pytest.raises(imgexplore.NotFoundError, match=message):
        imgexplore.open_image(f"{loaded}/{reference}")


def test_missing_blob(loaded, isolated_cache, tmp_path):
    client = RegistryClient(loaded)
    with pytest.raises(imgexplore.NotFoundError, match="BLOB_UNKNOWN"):
        client.download_blob("samples/teaching", "sha256:" + "0" * 64, str(tmp_path / "b"))
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_chunked_upload_and_mount(loaded, data_dir, isolated_cache):
    client = RegistryClient(loaded)
    report = push(
        str(data_dir / "teaching" / "oci"), f"{loaded}/samples/chunked:latest", chunk_size=4096, client=client
    )
    assert report.blobs == 7
    patches = [e for e in client.transcript.exchanges if e.method == "PATCH"]
    layers = imgexplore.open_image(data_dir / "teaching" / "oci").layers
    config_size = len(imgexplore.open_image(data_dir / "teaching" / "oci").config_raw)
    expected = sum(-(-size // 4096) for size in [layer.size for layer in layers] + [config_size])
    assert len(patches) == expected  # one PATCH per 4096-byte chunk of every blob
    mounted = push(
        str(data_dir / "teaching" / "oci"), f"{loaded}/samples/mounted:latest", mount_from="samples/teaching"
    )
    assert mounted.bytes_transferred == 0 and mounted.blobs == 7
    assert (
        imgexplore.open_image(f"{loaded}/samples/mounted:latest").digest
        == imgexplore.open_image(f"{loaded}/samples/chunked:latest").digest
    )


def test_cli_pull_tags_and_inspect(loaded, tmp_path, isolated_cache):
    import subprocess
    import sys

    def run(*args):
        from conftest import ROOT

        return subprocess.run(
            [sys.executable, "-m", "imgexplore", *args], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout

    assert "platform:     linux/amd64" in run("inspect", f"{loaded}/samples/multiarch:latest")
    run("push", "data/derived/oci", f"{loaded}/samples/cli:one")
    run("push", "data/derived/oci", f"{loaded}/samples/cli:two", "--chunk-size", "1000")
    assert run("tags", f"{loaded}/samples/cli", "--page-size", "1").split() == ["one", "two"]
    out = run("pull", f"{loaded}/samples/derived:latest", "--dest", str(tmp_path / "d"))
    assert "blob(s)" in out
    assert len(json.loads(run("layers", str(tmp_path / "d"), "--format", "json"))) == 5


def test_schema1_push_is_signed_and_keeps_its_digest(loaded, data_dir, isolated_cache):
    """The registry takes schema 1 only signed: imgexplore signs the unsigned teaching
    manifest (libtrust JWS, ES256) and the registry verifies it; the digest, over the
    payload, is the file's own sha256."""
    import hashlib

    from imgexplore.sources import ManifestFileSource

    source = ManifestFileSource(
        str(data_dir / "teaching" / "schema1.json"), blobs=str(data_dir / "teaching" / "oci")
    )
    report = push(source, f"{loaded}/samples/schema1:latest")
    assert report.blobs == 7  # six layers and the 32-byte empty blob
    image = imgexplore.open_image(
        f"{loaded}/samples/schema1:latest", registry=imgexplore.RegistryOptions(schema1=True)
    )
    expected = "sha256:" + hashlib.sha256((data_dir / "teaching" / "schema1.json").read_bytes()).hexdigest()
    assert image.digest == expected
    assert image.manifest.signed and image.manifest.signature_problem is None
    assert sum(1 for layer in image.layers if layer.digest == mt.EMPTY_LAYER_SCHEMA1) == 6


def test_live_docker_hub(isolated_cache):
    """The real Docker Hub, when this machine can reach it (skipped otherwise)."""
    import socket

    try:
        socket.create_connection(("registry-1.docker.io", 443), timeout=3).close()
    except OSError:
        pytest.skip("no route to Docker Hub from here (offline); the local registry tests cover the protocol")
    image = imgexplore.open_image("docker.io/library/hello-world:latest", platform="linux/amd64")
    statuses = image.transcript["status"].tolist()
    assert 401 in statuses  # the anonymous token flow ran
    assert image.layers and image.config["architecture"] == "amd64"


@pytest.fixture(scope="module")
def four_layers(registry, tmp_path_factory):
    """An image of four layers on the registry: three of small files and, second, one of
    64 MB of incompressible bytes (long enough to be mid-download when a listing ends)."""
    import gzip
    import os

    from tarmaker import tar_bytes, write_layout

    layers = [
        tar_bytes([{"name": f"l{n}/f{i}.txt", "data": f"{n}-{i}\n".encode() * 40} for i in range(300)])
        for n in range(3)
    ]
    layers.insert(1, tar_bytes([{"name": "big/random.bin", "data": os.urandom(64 << 20)}]))
    layout = write_layout(
        tmp_path_factory.mktemp("four") / "oci", layers, compress=lambda data: gzip.compress(data, 1, mtime=0)
    )
    ref = f"{registry.host}/prefetch/four:1"
    os.environ.setdefault("DOCKER_CONFIG", str(tmp_path_factory.mktemp("no-docker-config")))
    push(layout, ref)
    return ref, layout


def layer_gets(image) -> dict[str, int]:
    """How many times each layer blob was asked for (the config blob left out)."""
    gets: dict[str, int] = {}
    for exchange in image.source.client.transcript.exchanges:
        if exchange.method == "GET" and "/blobs/" in exchange.url and image.config_digest not in exchange.url:
            digest = exchange.url.rsplit("/", 1)[1]
            gets[digest] = gets.get(digest, 0) + 1
    return gets


@pytest.mark.parametrize("how", ["files", "tree"])
def test_listing_downloads_the_next_layers_while_it_lists(four_layers, how, isolated_cache, monkeypatch):
    """Listing every layer of a registry image downloads the blobs still needed on threads of
    their own while it lists (each blob still downloaded once); the tables equal a local copy's."""
    from imgexplore.filetree import prefetch
    from imgexplore.filetree.arrowviews import layers_listing

    ref, layout = four_layers
    started = []
    real = prefetch.blobs_ahead

    def spying(*args, **kwargs):
        with real(*args, **kwargs) as count:
            started.append(count)
            yield count

    import contextlib

    monkeypatch.setattr(prefetch, "blobs_ahead", contextlib.contextmanager(spying))
    monkeypatch.setattr(f"imgexplore.filetree.{'imagefiles' if how == 'files' else 'arrowviews'}.blobs_ahead",
                        prefetch.blobs_ahead)  # fmt: skip
    image = imgexplore.open_image(ref)
    local = imgexplore.open_image(layout)
    if how == "files":
        assert [t["path"].tolist() for t in image.files().tables] == [
            t["path"].tolist() for t in local.files(cache=False).tables
        ]
    else:
        listing = layers_listing(image, ["path", "size", "sha256"])
        assert listing.to_pydict() == layers_listing(local, ["path", "size", "sha256"]).to_pydict()
    assert started[0] == 4  # every layer's blob was wanted, none cached (then the local copy: 0)
    assert layer_gets(image) == {layer.digest: 1 for layer in image.layers}
    # a second listing needs no blob: the tables are cached, so nothing is fetched ahead
    again = imgexplore.open_image(ref)
    assert [len(t) for t in again.files().tables] == [300, 1, 300, 300]
    assert started[-1] == 0 and layer_gets(again) == {}


def test_a_listing_that_ends_early_stops_the_downloads_ahead(four_layers, isolated_cache, monkeypatch):
    """When the listing fails at its first layer, the downloads started ahead stop at their
    next chunk: the listing's own error is what the user gets, no thread is left running and no
    partial file is left in the cache."""
    import threading
    import time

    from imgexplore.errors import ArchiveError
    from imgexplore.filetree import imagefiles

    ref, _ = four_layers
    image = imgexplore.open_image(ref)
    big = image.layers[1].digest.split(":")[1]
    blobs = isolated_cache / "blobs"

    def first_layer_fails(layer, **_):
        if layer.index == 0:
            # once the 64 MB layer's download is under way, so that it must be stopped
            for _ in range(3000):
                if any(p.name.startswith(big) for p in blobs.rglob("*.partial")):
                    break
                time.sleep(0.01)
            raise ArchiveError("layer 0: not a tar archive (made up for this test)")
        raise AssertionError("the listing goes on after its first layer failed")

    monkeypatch.setattr(imagefiles, "layer_table", first_layer_fails)
    with pytest.raises(ArchiveError, match="made up for this test"):
        image.files().load()
    assert not [t for t in threading.enumerate() if t.name.startswith("imgexplore-prefetch")]
    assert not [p for p in blobs.rglob("*") if p.name.endswith(".partial")]
    assert not BlobStore(blobs).has(image.layers[1].digest)  # stopped part way, nothing kept
    # what did arrive is whole: every kept blob hashes to its name
    import hashlib

    for path in BlobStore(blobs).entries():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def test_a_blob_downloaded_here_is_not_hashed_again_when_read_back(loaded, isolated_cache, monkeypatch):
    """A layer is hashed once as it downloads; the listing that follows in the same source
    reads it back from the cache counted but not hashed again. A cached blob found by a new
    source (another process, in effect) is hashed as it is read, as every cache read is."""
    from imgexplore import digest as digest_module

    hashed = []
    real = digest_module.new_hasher
    monkeypatch.setattr(digest_module, "new_hasher", lambda d: hashed.append(d) or real(d))
    image = imgexplore.open_image(f"{loaded}/samples/teaching:latest")
    layer = max(image.layers, key=lambda candidate: candidate.size)
    with layer.open_blob() as blob:
        assert len(blob.read()) == layer.size
    assert layer.digest not in hashed  # the download's own hash (in the sink) checked it
    again = imgexplore.open_image(f"{loaded}/samples/teaching:latest")
    with again.layers[layer.index].open_blob() as blob:
        assert len(blob.read()) == layer.size
    assert hashed.count(layer.digest) == 1


def test_a_big_layer_is_listed_while_it_downloads(four_layers, isolated_cache, monkeypatch):
    """The 64 MB layer's listing reads its bytes as the download writes them, instead of
    waiting for the whole blob; the table is the local copy's and the blob is cached, verified."""
    import hashlib

    from imgexplore.filetree.arrowtable import layer_arrow
    from imgexplore.registry import following

    ended_at_each_read = []
    real = following.FollowingReader.readinto

    def spying(self, buffer):
        with self._download._changed:
            ended_at_each_read.append(self._download._done)
        return real(self, buffer)

    monkeypatch.setattr(following.FollowingReader, "readinto", spying)
    ref, layout = four_layers
    layer = imgexplore.open_image(ref).layers[1]
    table = layer_arrow(layer)
    local = imgexplore.open_image(layout).layers[1]
    assert table.to_pydict() == layer_arrow(local, cache=False).to_pydict()
    assert ended_at_each_read.count(False) > 1  # read while the download was under way
    cached = BlobStore(isolated_cache / "blobs").path(layer.digest)
    assert "sha256:" + hashlib.sha256(cached.read_bytes()).hexdigest() == layer.digest


def test_a_reader_whose_blob_another_thread_downloads_first_reads_all_of_it(four_layers, isolated_cache):
    """A reader starts its own download, which finds the blob being downloaded by another
    thread (holding the blob's lock, not yet known to readers) and waits; once that one has
    put the blob in the cache, the reader reads all of it from there."""
    import threading

    ref, layout = four_layers
    image = imgexplore.open_image(ref)
    layer = image.layers[1]
    source = image.source
    with source._locks_guard:
        lock = source._locks.setdefault(layer.digest, threading.Lock())
    with lock:  # "another thread's" download, under way
        blob = layer.open_blob()  # starts the reader's own download, which waits for the lock
        source.client.download_blob(source.repository, layer.digest, str(source.store.path(layer.digest)))
    with blob:
        data = blob.read()
    local = (pathlib.Path(layout) / "blobs" / "sha256" / layer.digest.split(":")[1]).read_bytes()
    assert len(data) == layer.size and data == local


def test_a_download_two_readers_follow_goes_on_when_one_leaves(four_layers, isolated_cache):
    """The download started for readers stops only when the last of them leaves: one reader
    closing early does not cut the other short."""
    ref, layout = four_layers
    layer = imgexplore.open_image(ref).layers[1]
    first, second = layer.open_blob(), layer.open_blob()
    with first:
        assert first.read(1000)[:2] == b"\x1f\x8b"
    with second:
        data = second.read()
    local = (pathlib.Path(layout) / "blobs" / "sha256" / layer.digest.split(":")[1]).read_bytes()
    assert data == local


def test_a_following_reader_gets_the_last_bytes_only_once_the_digest_is_checked(tmp_path):
    """The reader of a download under way is handed everything written but the last
    HELD_BACK bytes; those come once the download has verified the blob, and never if it
    failed: a decoder's own end-of-stream checks (a gzip trailer's CRC) then always come
    after the digest's, so a corrupt download is named as such."""
    import threading

    from imgexplore.errors import DigestMismatchError
    from imgexplore.registry.following import HELD_BACK, Download, FollowingReader

    data = os.urandom(3 * HELD_BACK + 1000)
    partial = tmp_path / "blob.partial"
    partial.write_bytes(data)

    for outcome in ("verified", "corrupt"):
        download = Download()
        download.created(str(partial))
        download.wrote(len(data))  # all of it on disk, not yet verified
        reader = FollowingReader(download, "blob")
        chunks: list = []

        def read_all(reader=reader, chunks=chunks):
            try:
                while chunk := reader.read(4096):
                    chunks.append(chunk)
                chunks.append(b"")  # the end
            except DigestMismatchError as exc:
                chunks.append(exc)

        following = threading.Thread(target=read_all, daemon=True)
        following.start()
        following.join(0.5)
        before = b"".join(chunks)
        assert following.is_alive()  # waiting for the digest
        # the gzip trailer (8 bytes) and zstd's checksum (4) are among the bytes held back
        assert data.startswith(before) and len(data) - len(before) == HELD_BACK >= 8
        if outcome == "verified":
            download.finished(final=str(partial))
            following.join(5)
            assert b"".join(chunks) == data and chunks[-1] == b""
        else:
            download.finished(error=DigestMismatchError("blob: the bytes received hash to another digest"))
            following.join(5)
            assert b"".join(chunks[:-1]) == before and isinstance(chunks[-1], DigestMismatchError)
        reader.close()
