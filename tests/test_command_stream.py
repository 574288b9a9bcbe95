"""HTTP over a command's standard input and output (how ``ssh://`` daemons are reached),
with real child processes standing in for ssh: the bytes both ways, the reason a command
gives when it ends, and a command that is not there."""

from __future__ import annotations

import sys

import httpx
import pytest

from imgexplore.errors import SourceError
from imgexplore.sources.command_stream import CommandTransport

# answers every request on the connection with the request line it read, then leaves at
# the end of its input, as `docker system dial-stdio` does
ECHO_SERVER = r"""
import sys
stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
while True:
    line = stdin.readline()
    if not line:
        break
    while stdin.readline() not in (b"\r\n", b""):
        pass
    body = line.strip()
    stdout.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    stdout.flush()
"""


def test_requests_go_through_the_command_and_one_connection_is_kept():
    transport = CommandTransport([sys.executable, "-c", ECHO_SERVER])
    with httpx.Client(transport=transport, base_url="http://docker") as client:
        assert client.get("/v1.41/_ping").text == "GET /v1.41/_ping HTTP/1.1"
        assert client.get("/v1.41/info").text == "GET /v1.41/info HTTP/1.1"
        big = "/x" * 30_000  # more than a pipe holds at once
        assert client.get(big).text == f"GET {big} HTTP/1.1"


def test_a_command_that_ends_first_is_reported_in_its_last_words():
    """The last line it wrote to its standard error, even after 1.2 MB of other lines."""
    noisy = (
        "import sys; sys.stderr.write('noise\\n' * 200_000 + 'docker: command not found\\n'); sys.exit(127)"
    )
    with (
        httpx.Client(
            transport=CommandTransport([sys.executable, "-c", noisy]), base_url="http://d"
        ) as client,
        pytest.raises(httpx.ConnectError, match=r"ended: docker: command not found$"),
    ):
        client.get("/_ping")
    with (
        httpx.Client(transport=CommandTransport(["true"]), base_url="http://d") as client,
        pytest.raises(httpx.ConnectError, match="true ended without a word"),
    ):
        client.get("/_ping")


def test_a_command_that_is_not_installed_is_one_line():
    with (
        httpx.Client(transport=CommandTransport(["no-such-ssh-here"]), base_url="http://d") as client,
        pytest.raises(SourceError, match=r"cannot start no-such-ssh-here \(No such file or directory\)"),
    ):
        client.get("/_ping")
