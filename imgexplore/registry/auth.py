"""``WWW-Authenticate`` challenges and the token flow of the distribution spec
(docs/spec/auth/token.md): Bearer tokens from a realm, or Basic credentials."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme and parameters (realm, service, scope)."""

    scheme: str
    params: dict[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`` → Challenge."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _PARAM.finditer(rest):
        key = match.group(1).lower()
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[key] = value.replace('\\"', '"') if value else value
    return Challenge(scheme.lower(), params)


@dataclass
class Token:
    value: str
    expires_at: float

    lifetime: float = 60.0

    def fresh(self) -> bool:
        # renew a little before the registry would refuse it
        return time.monotonic() < self.expires_at - min(10.0, self.lifetime / 4)


@dataclass
class TokenCache:
    """Bearer tokens by (realm, service, scope), until they expire."""

    tokens: dict[tuple[str, str, str], Token] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self.lock:
            token = self.tokens.get(key)
            return token.value if token and token.fresh() else None

    def put(self, key: tuple[str, str, str], value: str, expires_in: float) -> None:
        with self.lock:
            self.tokens[key] = Token(value, time.monotonic() + expires_in, expires_in)

    def drop(self, key: tuple[str, str, str]) -> None:
        with self.lock:
            self.tokens.pop(key, None)
