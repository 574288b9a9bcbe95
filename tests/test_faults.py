"""Faults between client and registry, injected by a proxy in front of the real registry:
each pull either completes with verified content or ends in imgexplore's own error, and the
cache afterwards holds only verified blobs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
from faultproxy import FaultProxy

import imgexplore
from imgexplore.blobstore import BlobStore
from imgexplore.registry import RegistryClient
from imgexplore.sources.registry import RegistrySource
from imgexplore.transfer import pull, push


@pytest.fixture(scope="module")
def upstream(registry, data_dir):
    push(str(data_dir / "teaching" / "oci"), f"{registry.host}/faults/teaching:latest")
    return registry.host


@pytest.fixture
def proxy(upstream):
    fault_proxy = FaultProxy(upstream)
    fault_proxy.address = fault_proxy.start()
    return fault_proxy


def source(proxy, delays=None, **options):
    client = RegistryClient(
        proxy.address, sleep=(delays.append if delays is not None else lambda s: None), **options
    )
    return RegistrySource(f"{proxy.address}/faults/teaching:latest", client=client)


@pytest.fixture(autouse=True)
def cache_holds_only_verified_blobs(isolated_cache):
    """After every fault, whatever happened: each cache entry rehashes to its name, and no
    temporary file is left."""
    yield
    assert_cache_verified()


def assert_cache_verified():
    entries = BlobStore().entries()
    for path in entries:
        digest = f"{path.parent.name}:{path.name}"
        assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not [p for p in BlobStore().root.rglob("*") if p.is_file() and p not in entries]  # no partials
    return entries


def biggest_layer(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    return max(image.layers, key=lambda layer: layer.size)


def test_cut_connection_is_resumed_with_range(proxy, data_dir, tmp_path, isolated_cache):
    layer = biggest_layer(data_dir)
    proxy.add(match=f"/blobs/{layer.digest}", cut_after=10_000)
    src = source(proxy)
    report = pull(str(src.reference), tmp_path / "out", source=src)
    assert report.blobs == 7
    notes = src.client.transcript.table()["note"].tolist()
    assert any(n.startswith("cut after") for n in notes) and "resume" in notes
    assert len(assert_cache_verified()) == 8  # 7 blobs and the manifest


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(proxy, status, tmp_path, isolated_cache):
    proxy.add(match="/manifests/", method="HEAD", status=status, times=2)
    src = source(proxy)
    pull(str(src.reference), tmp_path / "out", source=src)
    assert src.client.retries == 2


def test_429_honours_retry_after(proxy, tmp_path, isolated_cache):
    proxy.add(match="/blobs/", status=429, retry_after="3", times=1)
    delays: list[float] = []
    src = source(proxy, delays)
    pull(str(src.reference), tmp_path / "out", source=src)
    assert delays == [3.0]


def test_persistent_failure_ends_in_a_clear_error(proxy, tmp_path, isolated_cache):
    proxy.add(match="/blobs/", status=503, times=-1)
    src = source(proxy)
    with pytest.raises(imgexplore.RegistryError, match="503"):
        pull(str(src.reference), tmp_path / "out", source=src)
    assert src.client.retries >= src.client.max_retries
    assert len(assert_cache_verified()) == 1  # the manifest, verified; no blob, no partial file


def test_persistent_429(proxy, tmp_path, isolated_cache):
    proxy.add(match="/blobs/", status=429, retry_after="0", times=-1)
    with pytest.raises(imgexplore.RateLimitError, match="rate limiting"):
        pull(f"{proxy.address}/faults/teaching:latest", tmp_path / "out", source=source(proxy))


def test_flipped_byte_is_refused_and_not_cached(proxy, data_dir, tmp_path, isolated_cache):
    layer = biggest_layer(data_dir)
    proxy.add(match=f"/blobs/{layer.digest}", flip_byte=100, times=-1)
    with pytest.raises(imgexplore.DigestMismatchError, match=layer.digest):
        pull(f"{proxy.address}/faults/teaching:latest", tmp_path / "out", source=source(proxy))
    assert layer.digest.split(":")[1] not in [p.name for p in assert_cache_verified()]


def test_truncated_blob_with_honest_length(proxy, data_dir, tmp_path, isolated_cache):
    layer = biggest_layer(data_dir)
    proxy.add(match=f"/blobs/{layer.digest}", truncate=1000, times=-1)
    with pytest.raises(imgexplore.DigestMismatchError, match="1000 bytes"):
        pull(f"{proxy.address}/faults/teaching:latest", tmp_path / "out", source=source(proxy))
    assert_cache_verified()


def test_truncated_manifest(proxy, isolated_cache):
    proxy.add(match="/manifests/", truncate=200, times=-1)
    with pytest.raises(imgexplore.ManifestError, match="not valid JSON"):
        imgexplore.open_image(f"{proxy.address}/faults/teaching:latest", client=RegistryClient(proxy.address))


def test_wrong_content_type(proxy, isolated_cache):
    proxy.add(match="/manifests/", method="GET", content_type=imgexplore.mediatypes.OCI_INDEX, times=-1)
    with pytest.raises(imgexplore.ManifestError, match="served as"):
        imgexplore.open_image(f"{proxy.address}/faults/teaching:latest", client=RegistryClient(proxy.address))


def test_slow_answer_within_the_timeout(proxy, tmp_path, isolated_cache):
    proxy.add(match="/manifests/", method="GET", delay=1.0)
    src = source(proxy, timeout=10)
    pull(str(src.reference), tmp_path / "out", source=src)
    assert src.client.retries == 0


def test_timeouts_are_retried_within_bounds(proxy, tmp_path, isolated_cache):
    import time

    proxy.add(match="/manifests/", method="HEAD", delay=3.0, times=-1)
    delays: list[float] = []
    src = source(proxy, delays, timeout=0.5, max_retries=2)
    started = time.perf_counter()
    with pytest.raises(imgexplore.RegistryError, match="timed out"):
        pull(str(src.reference), tmp_path / "out", source=src)
    assert src.client.retries == 2 and len(delays) == 2
    assert time.perf_counter() - started < 3 * (0.5 + 1.0) + sum(delays)  # three attempts, each bounded


def test_killed_pull_leaves_only_a_hidden_leftover_that_cache_clean_removes(
    proxy, data_dir, tmp_path, isolated_cache
):
    """SIGKILL cannot be cleaned up after: the temporary file of the blob being downloaded stays.
    It is never read as an entry, `imgexplore cache` counts it, `cache --clean` removes it once
    it is old enough (a younger one may belong to a download still running), and a new pull
    completes with verified content."""
    layer = biggest_layer(data_dir)
    proxy.add(match=f"/blobs/{layer.digest}", delay=30)
    env = {**os.environ, "IMGEXPLORE_CACHE": str(isolated_cache)}
    command = [sys.executable, "-m", "imgexplore"]
    reference = f"{proxy.address}/faults/teaching:latest"
    pulling = subprocess.Popen(
        [*command, "pull", reference, "--dest", str(tmp_path / "first"), "--quiet", "--jobs", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    blobs = BlobStore().root
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(blobs.rglob(f"{layer.digest[7:]}.*.partial")):
        time.sleep(0.05)
    pulling.kill()
    pulling.wait()

    def usage(*extra):
        out = subprocess.run(
            [*command, "cache", *extra, "--format", "json"], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return {row["part"]: row["files"] for row in json.loads(out.stdout)}

    assert usage()["leftovers"] == 1
    assert layer.digest not in {f"sha256:{p.name}" for p in BlobStore().entries()}
    assert usage("--clean")["leftovers"] == 1  # younger than an hour: maybe still downloading
    assert usage("--clean", "--older-than", "0")["leftovers"] == 0
    src = source(proxy)
    assert pull(reference, tmp_path / "second", source=src).blobs == 7


# -- manifests and configs under the same policy as layer blobs ------------------------------------


@pytest.mark.parametrize("path", ["/manifests/", "/blobs/"])
def test_a_body_that_stalls_midway_is_retried(proxy, path, isolated_cache):
    """The registry sends part of a manifest (or the config) and then nothing, the connection
    left open: the read times out (a short timeout set here) and the request is sent again."""
    proxy.add(match=path, method="GET", stall_after=20, stall_seconds=3, times=1)
    src = source(proxy, timeout=0.5)
    image = imgexplore.open_image(src)
    assert image.layers and src.client.retries == 1


def test_a_body_that_always_stalls_ends_in_one_error_within_the_deadline(proxy, isolated_cache):
    proxy.add(match="/manifests/", method="GET", stall_after=20, stall_seconds=3, times=-1)
    src = source(proxy, timeout=0.3, deadline=1.5, max_retries=10)
    started = time.perf_counter()
    with pytest.raises(imgexplore.RegistryError, match=r"timed out .*gave up after .*deadline: 1.5 s"):
        imgexplore.open_image(src)
    assert time.perf_counter() - started < 1.5 + 0.3 + 1.0
    assert src.client.retries < 10  # the deadline, not the retry count, ended it


@pytest.mark.parametrize("path", ["/manifests/", "/blobs/"])
def test_a_connection_closed_mid_body_is_retried(proxy, path, isolated_cache):
    proxy.add(match=path, method="GET", cut_after=30, times=1)
    src = source(proxy)
    image = imgexplore.open_image(src)
    assert image.config["rootfs"]["diff_ids"] and src.client.retries == 1


def test_a_connection_always_closed_mid_manifest_is_one_error(proxy, isolated_cache):
    proxy.add(match="/manifests/", method="GET", cut_after=30, times=-1)
    with pytest.raises(imgexplore.RegistryError, match="dropped the connection"):
        imgexplore.open_image(source(proxy, max_retries=2))


def test_a_retry_after_longer_than_the_cap_is_not_waited_out(proxy, isolated_cache):
    proxy.add(match="/manifests/", method="HEAD", status=429, retry_after="3600", times=-1)
    delays: list[float] = []
    with pytest.raises(
        imgexplore.RateLimitError, match=r"retry in 3600 s.*max_retry_after=60 s.*try again after"
    ):
        imgexplore.open_image(source(proxy, delays))
    assert delays == []  # nothing slept


def test_a_bearer_challenge_without_a_realm_says_so(isolated_cache):
    """A misconfigured registry: 401 with ``Bearer service="..."`` and no token service."""
    import http.server

    from netfixtures import serve

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer service="registry.example"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

    server, address = serve(Handler)
    try:
        with pytest.raises(imgexplore.AuthenticationError, match=r"names no token service \(no realm\)"):
            imgexplore.open_image(f"{address}/x/y:1")
    finally:
        server.shutdown()


# A layer of 3 MiB or more is read as it downloads (the listing follows the download's file):
# the same faults, met by a listing instead of a pull.


@pytest.fixture(scope="module")
def big_upstream(registry, tmp_path_factory):
    """An image whose first layer (3 MiB of random bytes, gzip) is big enough to be listed
    as it downloads; pushed to the upstream registry, with its local layout for comparison."""
    import gzip

    from tarmaker import tar_bytes, write_layout

    layers = [
        tar_bytes(
            [{"name": "big.bin", "data": os.urandom(3 << 20)}, {"name": "after.txt", "data": b"end\n"}]
        ),
        tar_bytes([{"name": "small.txt", "data": b"small\n"}]),
    ]
    layout = write_layout(
        tmp_path_factory.mktemp("big") / "oci", layers, compress=lambda data: gzip.compress(data, 1, mtime=0)
    )
    push(layout, f"{registry.host}/faults/big:latest")
    return layout


def big_image(proxy):
    client = RegistryClient(proxy.address, sleep=lambda s: None)
    return imgexplore.open_image(RegistrySource(f"{proxy.address}/faults/big:latest", client=client))


def test_a_layer_listed_as_it_downloads_survives_a_cut(proxy, big_upstream, isolated_cache):
    from imgexplore.filetree.arrowtable import layer_arrow

    image = big_image(proxy)
    layer = image.layers[0]
    proxy.add(match=f"/blobs/{layer.digest}", cut_after=1_500_000)
    table = layer_arrow(layer)
    assert table.column("path").to_pylist() == ["big.bin", "after.txt"]
    local = imgexplore.open_image(big_upstream).layers[0]
    assert table.column("sha256").to_pylist() == layer_arrow(local, cache=False).column("sha256").to_pylist()
    notes = image.source.client.transcript.table()["note"].tolist()
    assert any(n.startswith("cut after") for n in notes) and "resume" in notes
    assert layer.digest.split(":")[1] in [p.name for p in assert_cache_verified()]


def test_a_layer_listed_as_it_downloads_refuses_a_flipped_byte(proxy, big_upstream, isolated_cache):
    """The listing reads the bytes before they are verified, but not the end of them: the
    download's digest check comes first, and nothing is kept (no blob, no file table)."""
    from imgexplore.filetree.arrowtable import TreeCache, layer_arrow

    image = big_image(proxy)
    layer = image.layers[0]
    proxy.add(match=f"/blobs/{layer.digest}", flip_byte=2_000_000, times=-1)
    with pytest.raises(imgexplore.DigestMismatchError, match=layer.digest):
        layer_arrow(layer)
    assert layer.digest.split(":")[1] not in [p.name for p in assert_cache_verified()]
    assert not TreeCache().has_table_for(layer.digest)


def test_a_failed_download_is_gone_before_its_readers_hear_of_it(proxy, big_upstream, isolated_cache):
    """A reader that meets the download's error may look at the cache at once (the test
    above does): the partial file is removed before the download reports how it ended."""
    from imgexplore.registry.following import Download

    image = big_image(proxy)
    layer = image.layers[0]
    proxy.add(match=f"/blobs/{layer.digest}", flip_byte=2_000_000, times=-1)
    partials_when_told = []

    class Watch(Download):
        def finished(self, final=None, error=None):
            partials_when_told.append(sorted(p.name for p in BlobStore().root.rglob("*.partial")))
            super().finished(final, error)

    source = image.source
    with pytest.raises(imgexplore.DigestMismatchError, match=layer.digest):
        source.client.download_blob(
            source.repository,
            layer.digest,
            str(BlobStore().path(layer.digest)),
            size=layer.size,
            watch=Watch(),
        )
    assert partials_when_told == [[]]
    assert_cache_verified()


def test_a_layer_read_as_it_downloads_and_left_early_stops_the_download(proxy, big_upstream, isolated_cache):
    """Closing the reader of a download started for it stops that download at its next
    chunk: no thread left running, no partial file, nothing cached."""
    import threading

    image = big_image(proxy)
    layer = image.layers[0]
    # 1.5 MB, then a second of silence and a cut: the download is under way when the reader leaves
    proxy.add(match=f"/blobs/{layer.digest}", stall_after=1_500_000, stall_seconds=1.0, times=1)
    with layer.open_blob() as blob:
        assert blob.read(1000)[:2] == b"\x1f\x8b"
    deadline = time.monotonic() + 30
    while [
        t for t in threading.enumerate() if t.name == "imgexplore-download"
    ] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "imgexplore-download"]
    assert layer.digest.split(":")[1] not in [p.name for p in assert_cache_verified()]


# the same faults past the point where a long, fast body is read from the connection itself
# (imgexplore.rawhttp): they surface as the same httpx errors, and the download handles them
# the same way


@pytest.fixture(scope="module")
def long_blob(upstream):
    """A 20 MiB blob of random bytes in the upstream registry: (digest, bytes)."""
    import io

    data = os.urandom(20 << 20)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with RegistryClient(upstream) as client:
        client.upload_blob("faults/long", digest, io.BytesIO(data), len(data))
    return digest, data


@pytest.fixture
def read_from_the_connection(connection_reads, monkeypatch):
    """Every long body is read from the connection after its first megabytes, however fast
    this machine is; returns the sizes of those reads."""
    from imgexplore import rawhttp

    monkeypatch.setattr(rawhttp, "FAST_BYTES_PER_S", 0)
    return connection_reads


def test_a_long_body_read_from_the_connection_survives_a_cut(
    proxy, long_blob, read_from_the_connection, tmp_path
):
    digest, data = long_blob
    proxy.add(match=f"/blobs/{digest}", cut_after=14 << 20)
    client = RegistryClient(proxy.address, sleep=lambda s: None)
    assert client.download_blob("faults/long", digest, str(tmp_path / "blob"), size=len(data)) == len(data)
    assert (tmp_path / "blob").read_bytes() == data and [p.name for p in tmp_path.iterdir()] == ["blob"]
    assert read_from_the_connection and client.retries == 1
    notes = client.transcript.table()["note"].tolist()
    assert any(n.startswith("cut after") and "RemoteProtocolError" in n for n in notes) and "resume" in notes


def test_a_long_body_read_from_the_connection_refuses_a_flipped_byte(
    proxy, long_blob, read_from_the_connection, tmp_path
):
    digest, data = long_blob
    proxy.add(match=f"/blobs/{digest}", flip_byte=15 << 20, times=-1)
    client = RegistryClient(proxy.address, sleep=lambda s: None)
    with pytest.raises(imgexplore.DigestMismatchError, match=digest):
        client.download_blob("faults/long", digest, str(tmp_path / "blob"), size=len(data))
    assert read_from_the_connection and list(tmp_path.iterdir()) == []


def test_a_long_body_that_stalls_after_the_switch_is_resumed(
    proxy, long_blob, read_from_the_connection, tmp_path
):
    """The read timeout still applies to reads from the connection itself."""
    digest, data = long_blob
    proxy.add(match=f"/blobs/{digest}", stall_after=13 << 20, stall_seconds=3, times=1)
    client = RegistryClient(proxy.address, sleep=lambda s: None, timeout=0.5)
    assert client.download_blob("faults/long", digest, str(tmp_path / "blob"), size=len(data)) == len(data)
    assert (tmp_path / "blob").read_bytes() == data
    assert read_from_the_connection and client.retries == 1
    assert any("ReadTimeout" in n for n in client.transcript.table()["note"].tolist())
