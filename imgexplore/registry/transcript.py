"""A record of every request a registry client makes, with secrets masked, so a notebook can
show what a pull really does: the 401 challenge, the token request, the manifest, the blobs."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Response headers worth showing; everything else is left out.
SHOWN_RESPONSE_HEADERS = (
    "content-type", "content-length", "docker-content-digest", "www-authenticate", "location",
    "range", "content-range", "retry-after", "ratelimit-limit", "ratelimit-remaining", "link",
    "docker-upload-uuid", "docker-distribution-api-version",
)  # fmt: skip
SHOWN_REQUEST_HEADERS = ("accept", "range", "content-type", "content-length")
_SECRET_QUERY_KEYS = re.compile(r"(token|signature|sig|password|secret|key|credential|x-amz-)", re.I)


def mask_url(url: str) -> str:
    """The URL with secret-looking query values (signed-URL signatures, tokens) masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "***" if _SECRET_QUERY_KEYS.search(k) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never user:password@
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":/,*"), parts.fragment))


@dataclass
class Exchange:
    """One request and its response."""

    method: str
    url: str
    status: int | None
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    bytes_received: int
    seconds: float
    note: str = ""

    def as_row(self) -> dict:
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "auth": self.request_headers.get("authorization", ""),
            "content_type": self.response_headers.get("content-type", ""),
            "digest": self.response_headers.get("docker-content-digest", ""),
            "bytes": self.bytes_received,
            "ms": round(self.seconds * 1000, 1),
            "note": self.note,
        }


@dataclass
class Transcript:
    """Every exchange of a client, in order. Authorization values are reduced to their
    scheme (``Bearer ***``); token responses and credentials are never stored."""

    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(
        self,
        method: str,
        url: str,
        *,
        status: int | None = None,
        request_headers=(),
        response_headers=(),
        bytes_received: int = 0,
        seconds: float = 0.0,
        note: str = "",
    ) -> Exchange:
        """Add one exchange (``status`` None: no answer came; ``note`` says why)."""
        req = {}
        for key, value in dict(request_headers).items():
            key = key.lower()
            if key == "authorization":
                req[key] = value.split(" ", 1)[0] + " ***"
            elif key in SHOWN_REQUEST_HEADERS:
                req[key] = value
        resp = {
            k.lower(): v for k, v in dict(response_headers).items() if k.lower() in SHOWN_RESPONSE_HEADERS
        }
        if "location" in resp:
            resp["location"] = mask_url(resp["location"])
        exchange = Exchange(method, mask_url(url), status, req, resp, bytes_received, seconds, note)
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def table(self):
        """The exchanges as a DataFrame (one row each)."""
        import pandas as pd

        columns = ["method", "url", "status", "auth", "content_type", "digest", "bytes", "ms", "note"]
        return pd.DataFrame([e.as_row() for e in self.exchanges], columns=columns)

    def __len__(self) -> int:
        return len(self.exchanges)

    def clear(self) -> None:
        with self._lock:
            self.exchanges.clear()


class SecretFilter:
    """A logging filter that masks secret-looking query values in URLs and Authorization
    values in log records (httpx logs every request URL at INFO level)."""

    _AUTH = re.compile(r"(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")
    _URL = re.compile(r"https?://[^\s'\"]+")

    def filter(self, record) -> bool:
        message = record.getMessage()
        masked = self._URL.sub(lambda m: mask_url(m.group(0)), message)
        masked = self._AUTH.sub(lambda m: m.group(1) + " ***", masked)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install_log_filter() -> None:
    """Attach :class:`SecretFilter` to the HTTP libraries' loggers (once)."""
    import logging

    # filters run only for records logged to the logger itself, not to its children
    for name in (
        "httpx",
        "httpcore",
        "httpcore.http11",
        "httpcore.http2",
        "httpcore.connection",
        "httpcore.connection_pool",
        "httpcore.proxy",
        "httpcore.socks",
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())
