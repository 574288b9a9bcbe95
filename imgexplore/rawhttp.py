"""HTTP bodies read straight from their connection, where httpx's own reading costs more
than the bytes do.

httpx hands a body over as h11 parses it: at most 64 KiB per read from the socket, each
piece copied through h11's buffer and passed up through httpcore's and httpx's iterators.
From a registry on the same machine or network that is the bottleneck of a big download: a
300 MB blob took 0.20–0.28 s of CPU that way against 0.08–0.10 s read from the connection a
megabyte at a time, on the thread that has to keep up with the registry (and in a corpus
scan, on the critical path). :func:`body_chunks` therefore reads the first part of a long
body through httpx, timing it, and reads the rest from the connection itself when it
arrives faster than :data:`FAST_BYTES_PER_S`. Each piece httpx hands over holds everything
h11 had buffered, so nothing is skipped; the connection is closed afterwards rather than
reused (httpcore closes a connection whose answer it did not read to the end), which is why
a slow network, where the bytes and not the CPU set the pace, keeps httpx's reading and its
connection.

The Engine API's export (:mod:`imgexplore.sources.engine_stream`) reads whole answers this
way too, with the same error mapping: failures are raised as the httpx errors the callers
already handle.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import httpcore
import httpx

READ_BYTES = 1 << 20  # per read from the connection: what is there, up to this
PROBE_BYTES = 4 << 20  # read through httpx first, timed
FAST_BYTES_PER_S = 100e6  # arriving faster than this, the rest is read from the connection
MIN_REST_BYTES = 8 << 20  # and only if at least this much is left (the connection is not reused)


def body_chunks(response: httpx.Response, clock: Callable[[], float] = time.perf_counter) -> Iterator[bytes]:
    """The body of a streamed response as it arrives, undecoded (what ``iter_raw`` gives),
    read from the connection itself past :data:`PROBE_BYTES` when it is long and fast (see
    the module docstring). A body cut short raises :class:`httpx.RemoteProtocolError`, a
    stalled one :class:`httpx.ReadTimeout`, as httpx would."""
    chunks = response.iter_raw()
    length = _plain_length(response)
    stream = response.extensions.get("network_stream")
    if stream is None or length is None or length < PROBE_BYTES + MIN_REST_BYTES:
        yield from chunks
        return
    received, started = 0, clock()
    for chunk in chunks:
        received += len(chunk)
        yield chunk
        # a piece is all h11 held of the body (it hands over its whole buffer at once, and
        # nothing more is read from the connection until the next piece is asked for): from
        # here on, the connection's next byte is the body's next byte
        if received >= PROBE_BYTES:
            break
    else:
        return  # the body ended early: the caller counts what came
    rate = received / max(clock() - started, 1e-9)
    if rate < FAST_BYTES_PER_S or length - received < MIN_REST_BYTES:
        yield from chunks
        return
    timeout = response.request.extensions.get("timeout", {}).get("read")
    while received < length:
        data = read(stream, min(READ_BYTES, length - received), timeout)
        if not data:
            raise httpx.RemoteProtocolError(
                f"the connection closed after {received} of the {length} bytes announced"
            )
        received += len(data)
        yield data


def _plain_length(response: httpx.Response) -> int | None:
    """The body's length when it is sent as it is over HTTP/1.1: no chunked transfer coding,
    no content coding; else None."""
    headers = response.headers
    if response.http_version != "HTTP/1.1" or "transfer-encoding" in headers:
        return None
    if headers.get("content-encoding", "identity").lower() != "identity":
        return None
    length = headers.get("content-length", "")
    return int(length) if length.isdigit() else None


def read(stream: httpcore.NetworkStream, max_bytes: int, timeout: float | None) -> bytes:
    """Up to ``max_bytes`` from ``stream`` (b"" once the peer has closed it), errors as httpx's."""
    with as_httpx_errors():
        return stream.read(max_bytes, timeout)


@contextlib.contextmanager
def as_httpx_errors() -> Iterator[None]:
    """Raise httpcore's and the OS's connection errors as the httpx errors callers handle."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.ReadTimeout(str(exc)) from None
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError(str(exc)) from None
    except (httpcore.NetworkError, OSError) as exc:
        raise httpx.ReadError(str(exc)) from None
