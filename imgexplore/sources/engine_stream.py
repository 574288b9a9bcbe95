"""A long Engine API answer read as the plain bytes it is: an image export.

A daemon does not know an export's length in advance, so it sends an HTTP/1.1 client the
body in chunked encoding, and dockerd writes it 32 KiB at a time: a 300 MB export arrives
as some 10,000 chunks. Decoding those in Python (h11, under httpx) cost about 0.35 s of CPU
per 300 MB, on the thread that has to keep up with the daemon: ten times what receiving the
bytes themselves costs. Asked in HTTP/1.0, the daemon sends the body as it is and closes
the connection at its end.

The close does not prove that every byte came: a length the daemon announces is checked
here, and the caller checks the body's own end (an export is a tar, which ends in its
end-of-archive block; see :func:`imgexplore.filetree.passing.copy_and_list`). Failures
are raised as the httpx errors the rest of the Engine API code handles
(:mod:`imgexplore.rawhttp`).
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator

import httpcore
import httpx

from ..rawhttp import READ_BYTES, as_httpx_errors, read
from .docker_endpoint import DockerEndpoint

MAX_HEAD = 64 << 10  # a status line and headers longer than this are not an Engine API answer


class PlainAnswer:
    """The status, headers and body of one answer to an HTTP/1.0 request."""

    def __init__(self, stream: httpcore.NetworkStream, head: bytes, rest: bytes, timeout: float):
        self._stream, self._rest, self._timeout = stream, rest, timeout
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, _, status = status_line.partition(" ")
        if not version.startswith("HTTP/") or not status[:3].isdigit():
            raise httpx.RemoteProtocolError(f"the answer does not start as HTTP does: {status_line[:60]!r}")
        self.status_code = int(status[:3])
        self.headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            raise httpx.RemoteProtocolError("an HTTP/1.0 request was answered in chunks")
        length = self.headers.get("content-length")
        self.length = int(length) if length and length.isdigit() else None

    def iter_bytes(self) -> Iterator[bytes]:
        """The body as it arrives, up to :data:`READ_BYTES` at a time."""
        received = 0
        if self._rest:
            received += len(self._rest)
            yield self._rest
            self._rest = b""
        while self.length is None or received < self.length:
            data = read(self._stream, READ_BYTES, self._timeout)
            if not data:
                break
            received += len(data)
            yield data
        if self.length is not None and received != self.length:
            raise httpx.RemoteProtocolError(
                f"the answer ended after {received} of the {self.length} bytes announced"
            )

    def text(self, limit: int = 200) -> str:
        """The start of the body, as text (what a daemon says when it refuses)."""
        data = b""
        for piece in self.iter_bytes():
            data += piece
            if len(data) >= limit:
                break
        return data[:limit].decode(errors="replace")


@contextlib.contextmanager
def plain_get(endpoint: DockerEndpoint, target: str, timeout: float) -> Iterator[PlainAnswer]:
    """``GET target`` (an API path with its version prefix) from ``endpoint`` in HTTP/1.0, on a
    connection of its own, closed on leaving."""
    stream = _connect(endpoint, timeout)
    try:
        host = endpoint.address if endpoint.host.startswith("tcp://") else "docker"
        request = f"GET {target} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: imgexplore\r\n\r\n"
        with as_httpx_errors():
            stream.write(request.encode(), timeout)
        head, rest = _read_head(stream, timeout)
        yield PlainAnswer(stream, head, rest, timeout)
    finally:
        stream.close()


def _connect(endpoint: DockerEndpoint, timeout: float) -> httpcore.NetworkStream:
    host = endpoint.host
    with as_httpx_errors():
        if host.startswith("unix://"):
            return httpcore.SyncBackend().connect_unix_socket(host[len("unix://") :], timeout=timeout)
        if host.startswith("tcp://"):
            name, _, port = endpoint.address.rpartition(":")
            stream = httpcore.SyncBackend().connect_tcp(name.strip("[]"), int(port), timeout=timeout)
            if endpoint.tls:
                hostname = urllib.parse.urlsplit(host).hostname or "localhost"
                stream = stream.start_tls(endpoint.tls_context(), server_hostname=hostname, timeout=timeout)
            return stream
        from .command_stream import CommandBackend

        return CommandBackend(endpoint.ssh_command()).connect_tcp("docker", 80, timeout=timeout)


def _read_head(stream: httpcore.NetworkStream, timeout: float) -> tuple[bytes, bytes]:
    """The status line and headers, and whatever of the body came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            raise httpx.RemoteProtocolError("the answer's headers do not end")
        more = read(stream, READ_BYTES, timeout)
        if not more:
            raise httpx.RemoteProtocolError("the connection closed before an answer")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest
