"""Long blob bodies read from the connection itself (imgexplore.rawhttp), against the real
registry: every byte arrives, in order, whichever way it was read; which way is decided by
how fast the first megabytes came (the clock is the one thing faked here, so that the
decision does not depend on this machine's speed)."""

from __future__ import annotations

import hashlib
import io
import os

import httpx
import pytest

from imgexplore import rawhttp
from imgexplore.registry import RegistryClient

LONG = 20 << 20  # past the probe and the minimum rest
SHORT = 1 << 20


def _push(host: str, repository: str, size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with RegistryClient(host) as client:
        client.upload_blob(repository, digest, io.BytesIO(data), size)
    return digest, data


@pytest.fixture(scope="module")
def blobs(registry):
    return {size: _push(registry.host, "rawhttp/blobs", size) for size in (LONG, SHORT)}


def _body(host: str, digest: str, clock) -> tuple[list[int], bytes]:
    url = f"http://{host}/v2/rawhttp/blobs/blobs/{digest}"
    with httpx.Client() as client, client.stream("GET", url) as response:
        assert response.status_code == 200
        pieces = list(rawhttp.body_chunks(response, clock=clock))
    return [len(piece) for piece in pieces], b"".join(pieces)


def _clock(seconds_per_call: float):
    now = [0.0]

    def clock() -> float:
        now[0] += seconds_per_call
        return now[0]

    return clock


def test_a_long_fast_body_is_read_from_the_connection_after_its_first_megabytes(
    registry, blobs, connection_reads
):
    digest, data = blobs[LONG]
    sizes, body = _body(registry.host, digest, _clock(0.001))  # 4 MiB in a millisecond: fast
    assert body == data
    through_httpx = sizes[: len(sizes) - len(connection_reads)]  # the pieces before the switch
    assert connection_reads and sum(through_httpx) + sum(connection_reads) == LONG
    assert sum(through_httpx) >= rawhttp.PROBE_BYTES
    assert max(connection_reads) <= rawhttp.READ_BYTES


def test_a_slow_body_is_left_to_httpx(registry, blobs, connection_reads):
    digest, data = blobs[LONG]
    sizes, body = _body(registry.host, digest, _clock(1.0))  # 4 MiB a second: the network sets the pace
    assert body == data and connection_reads == []
    assert max(sizes) <= 64 << 10  # h11's pieces


def test_a_short_body_is_left_to_httpx(registry, blobs, connection_reads):
    digest, data = blobs[SHORT]
    sizes, body = _body(registry.host, digest, _clock(0.001))
    assert body == data and connection_reads == []


def test_a_download_reads_a_long_blob_from_the_connection_and_verifies_it(
    registry, blobs, connection_reads, tmp_path, monkeypatch
):
    digest, data = blobs[LONG]
    monkeypatch.setattr(rawhttp, "FAST_BYTES_PER_S", 0)  # whatever this machine's speed
    with RegistryClient(registry.host) as client:
        assert client.download_blob("rawhttp/blobs", digest, str(tmp_path / "blob"), size=LONG) == LONG
    assert connection_reads and (tmp_path / "blob").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["blob"]
