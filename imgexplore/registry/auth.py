"""``WWW-Authenticate`` challenges and the token flow of the distribution spec
(docs/spec/auth/token.md): Bearer tokens from a realm, or Basic credentials."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

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


#: request extension naming the scope (``repository:NAME:pull``) a request needs
SCOPE = "imgexplore.scope"


class RegistryAuth(httpx.Auth):
    """The registry's authentication as an httpx auth flow (distribution spec, token auth):
    send with the token already held for the request's scope, if any; on ``401`` read the
    ``WWW-Authenticate`` challenge, get a token from its realm (or switch to Basic), and
    send the request once more. Tokens are cached by (realm, service, scopes) until they
    expire; one the registry refuses is dropped and replaced once.

    ``fetch_token(realm, params, credentials)`` performs the token request (the client does
    it, so that it is recorded and its failures are mapped to imgexplore's errors) and
    returns ``(token, expires_in)``."""

    requires_response_body = False

    def __init__(self, host: str, credentials, fetch_token: Callable[..., tuple[str, float]]):
        self.host = host
        self.credentials = credentials
        self.fetch_token = fetch_token
        self.tokens = TokenCache()
        self.scope_tokens: dict[str, tuple[str, str, str]] = {}
        self.basic = False

    def header(self, scope: str) -> str | None:
        """The ``Authorization`` value to send for ``scope`` now, if any."""
        key = self.scope_tokens.get(scope)
        token = self.tokens.get(key) if key else None
        if token:
            return f"Bearer {token}"
        if self.basic and self.credentials:
            return basic_header(self.credentials)
        return None

    def auth_flow(self, request: httpx.Request):
        scope = request.extensions.get(SCOPE, "")
        value = self.header(scope)
        if value:
            request.headers["Authorization"] = value
        response = yield request
        if response.status_code != 401:
            return
        stale = self.scope_tokens.pop(scope, None)
        if stale:
            self.tokens.drop(stale)  # expired or revoked: fetch a new one
        self.authenticate(response.headers.get("www-authenticate", ""), scope)
        value = self.header(scope)
        if value:
            request.headers["Authorization"] = value
            yield request

    def authenticate(self, header: str, scope: str) -> None:
        """Act on a ``401``'s challenge: remember Basic, or get (or reuse) a Bearer token."""
        from ..errors import AuthenticationError

        challenge = parse_challenge(header)
        if challenge is None:
            raise AuthenticationError(
                f"{self.host} answered 401 without saying how to authenticate", status=401
            )
        if challenge.scheme == "basic":
            if not self.credentials:
                raise AuthenticationError(
                    f"{self.host} needs a username and password; log in with `docker login {self.host}` "
                    "or pass credentials",
                    status=401,
                )
            self.basic = True
            return
        if challenge.scheme == "bearer" and not challenge.realm:
            raise AuthenticationError(
                f"{self.host} answered 401 with a Bearer challenge that names no token service "
                f"(no realm): WWW-Authenticate: {header[:200]}",
                status=401,
            )
        if challenge.scheme != "bearer":
            raise AuthenticationError(
                f"{self.host} asks for unsupported authentication {challenge.scheme!r} "
                "(imgexplore speaks Bearer tokens and Basic)",
                status=401,
            )
        service = challenge.params.get("service", "")
        scopes = [s for s in dict.fromkeys([challenge.params.get("scope", ""), *scope.split(" ")]) if s]
        key = (challenge.realm, service, " ".join(sorted(scopes)))
        if not self.tokens.get(key):
            params = [("service", service)] if service else []
            params += [("scope", s) for s in scopes]
            token, expires_in = self.fetch_token(challenge.realm, params, self.credentials, scopes)
            self.tokens.put(key, token, expires_in)
        self.scope_tokens[scope] = key


def basic_header(credentials) -> str:
    """``Basic base64(user:password)``."""
    import base64

    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()
