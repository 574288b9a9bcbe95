"""A fault-injecting HTTP proxy on 127.0.0.1, in front of the real test registry.

Each rule matches requests by method and a substring of the path, and fires a number of
times: it can cut the connection after N bytes of the body, answer a status code (with
``Retry-After``, or a given body for a route the registry lacks), flip a byte, truncate the body,
replace the Content-Type, delay, or redirect to another loopback host. Everything not matched
passes through unchanged."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field

import httpx
from netfixtures import serve


@dataclass
class Fault:
    match: str  # substring of the path
    method: str = "GET"
    times: int = 1  # how many matching requests it affects (-1: all)
    status: int | None = None
    retry_after: str | None = None
    cut_after: int | None = None  # send this many body bytes, then drop the connection
    flip_byte: int | None = None  # offset of a byte to invert
    truncate: int | None = None  # send only this many bytes (and a matching Content-Length)
    content_type: str | None = None
    delay: float = 0.0
    stall_after: int | None = None  # send this many body bytes, then go silent (connection open)
    stall_seconds: float = 5.0
    body: bytes | None = None  # with status: answer this body (and content_type) instead of an error
    hits: int = 0


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str, int | str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()

    def _take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (
                    fault.method == method
                    and fault.match in path
                    and (fault.times < 0 or fault.hits < fault.times)
                ):
                    fault.hits += 1
                    return fault
        return None

    def start(self) -> str:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy._take(self.command, self.path)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.status:
                    proxy.log.append((self.command, self.path, fault.status))
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    payload = fault.body or b'{"errors":[{"code":"INJECTED","message":"fault proxy"}]}'
                    self.send_header("Content-Type", fault.content_type or "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                reply = httpx.request(
                    self.command,
                    f"http://{proxy.upstream}{self.path}",
                    headers=headers,
                    content=body,
                    follow_redirects=False,
                )
                content = reply.content
                proxy.log.append((self.command, self.path, reply.status_code if not fault else "fault"))
                if fault and fault.flip_byte is not None and len(content) > fault.flip_byte:
                    content = (
                        content[: fault.flip_byte]
                        + bytes([content[fault.flip_byte] ^ 0xFF])
                        + content[fault.flip_byte + 1 :]
                    )
                if fault and fault.truncate is not None:
                    content = content[: fault.truncate]
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        continue
                    if key.lower() == "content-type" and fault and fault.content_type:
                        value = fault.content_type
                    self.send_header(key, value.replace(proxy.upstream, self.headers.get("Host", "")))
                cut = fault and (fault.cut_after is not None or fault.stall_after is not None)
                declared = len(reply.content) if cut else len(content)
                self.send_header("Content-Length", str(declared))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if fault and fault.stall_after is not None:
                    self.wfile.write(content[: fault.stall_after])
                    self.wfile.flush()
                    time.sleep(fault.stall_seconds)
                    self.close_connection = True
                    return
                if fault and fault.cut_after is not None:
                    self.wfile.write(content[: fault.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        _, address = serve(Handler, "127.0.0.1")
        return address
