"""HTTP over a command's standard input and output: how the docker CLI reaches an
``ssh://`` daemon (``ssh … docker system dial-stdio`` carries the Engine API's bytes both
ways). Each connection the HTTP client opens starts the command once, on one end of a
socket pair, so the bytes go between the client and the process without a copy in Python.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import typing

import httpcore
import httpx

from ..errors import SourceError

# what the error of a command that ended before answering says before its last words
ENDED = " ended: "


class CommandStream(httpcore.NetworkStream):
    """One connection: a running command, spoken to through a socket pair."""

    def __init__(self, sock: socket.socket, process: subprocess.Popen, errors: typing.IO[bytes]):
        self._sock, self.process, self._errors = sock, process, errors
        self._said: str | None = None
        self._answered = False  # the command has sent something: it did connect

    def _ended(self) -> httpcore.ConnectError:
        """The command ended (or closed its output) before answering: why, in its own words."""
        lines = [line.strip() for line in self.said(wait=10).splitlines()]
        last = next((line for line in reversed(lines) if line), "")
        name = self.process.args[0] if isinstance(self.process.args, list) else "the command"
        return httpcore.ConnectError(f"{name}{ENDED}{last[:300]}" if last else f"{name} ended without a word")

    def said(self, wait: float) -> str:
        """What the command wrote to its standard error, once it has ended (waiting up to
        ``wait`` seconds for that; what it wrote so far if it is still running)."""
        if self._said is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
            end = self._errors.seek(0, os.SEEK_END)
            self._errors.seek(max(0, end - (1 << 16)))  # the end: where the reason is
            text = self._errors.read().decode(errors="replace")
            if self.process.poll() is None:
                return text
            self._errors.close()
            self._said = text
        return self._said

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            self._sock.settimeout(timeout)
            data = self._sock.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise self._ended() if not self._answered else httpcore.ReadError(str(exc)) from exc
        if not data and not self._answered:
            raise self._ended()
        self._answered = True
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._sock.settimeout(timeout)
            self._sock.sendall(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise self._ended() if not self._answered else httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._sock.close()  # the command reads the end of its input and leaves
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.said(0)  # kept, and its file closed


class CommandBackend(httpcore.NetworkBackend):
    """Opens every connection by starting ``argv``. A command that ends before answering
    fails the connection with the last line of its standard error, where ssh says why."""

    def __init__(self, argv: list[str]):
        self.argv = argv

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None) -> CommandStream:
        ours, theirs = socket.socketpair()
        errors = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(self.argv, stdin=theirs, stdout=theirs, stderr=errors)
        except OSError as exc:
            ours.close()
            errors.close()
            raise SourceError(
                f"cannot start {self.argv[0]} ({exc.strerror or exc}): is it installed, and on PATH?"
            ) from None
        finally:
            theirs.close()
        return CommandStream(ours, process, errors)


class CommandTransport(httpx.HTTPTransport):
    """An httpx transport whose connections are processes started from ``argv``."""

    def __init__(self, argv: list[str]):
        super().__init__(verify=False, trust_env=False)  # no TLS here: no CA bundle to load
        self.backend = CommandBackend(argv)
        # httpx keeps the httpcore pool it sends requests through in _pool; this one opens
        # its connections through the backend above
        self._pool = httpcore.ConnectionPool(network_backend=self.backend)
