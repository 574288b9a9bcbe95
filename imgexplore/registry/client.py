"""A small, careful client for the Registry HTTP API V2 (the OCI distribution spec).

What it does on every request: authenticates from a ``WWW-Authenticate`` challenge (Bearer
token or Basic), retries 5xx/429 and dropped connections with backoff that honours
``Retry-After``, follows redirects itself (never sending the registry's ``Authorization``
to another host), records the exchange in a :class:`Transcript` with secrets masked, and
turns every failure into one of imgexplore's own errors.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from .. import mediatypes as mt
from ..digest import validate_digest
from ..errors import (
    AccessDeniedError,
    AuthenticationError,
    DigestMismatchError,
    InvalidArgumentError,
    LimitExceededError,
    ManifestError,
    NotFoundError,
    RateLimitError,
    RegistryError,
)
from ..jsonutil import MAX_MANIFEST_BYTES
from ..manifest import Manifest, parse_manifest, referrer_descriptors
from ..rawhttp import body_chunks
from .auth import SCOPE, RegistryAuth
from .blobsink import BlobSink
from .credentials import Credentials, docker_credentials
from .following import Download
from .tls import base_url, env_ca_settings, tls_context
from .transcript import Transcript, install_log_filter

MANIFEST_ACCEPT = (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_SCHEMA2)
SCHEMA1_ACCEPT = (mt.DOCKER_SCHEMA1_SIGNED, mt.DOCKER_SCHEMA1)
REDIRECTS = (301, 302, 303, 307, 308)
RETRYABLE = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
# request extensions the transcript hooks read: when the request left, and what it was for
STARTED, NOTE = "imgexplore.started", "imgexplore.note"


install_log_filter()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RegistryClient:
    """One registry host. ``credentials`` default to the docker CLI's saved login for the
    host (``~/.docker/config.json``); ``insecure`` allows plain HTTP to a non-loopback host;
    ``ca_bundle`` is a PEM file of CA certificates to trust for TLS.

    Every request (manifests and configs as much as layer blobs) is retried on 5xx, 429,
    timeouts and dropped connections, ``max_retries`` times with backoff; ``timeout`` is how
    long a connection may stay silent, ``deadline`` how long one request with its retries may
    take in all. A ``Retry-After`` up to ``max_retry_after`` seconds is waited out; a longer one
    ends the request at once with an error that says when to try again.

    ``transport`` may be any httpx transport (tests use it to reach hosts through a proxy)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None | bool = True,
        insecure: bool = False,
        ca_bundle: str | None = None,
        scheme: str | None = None,
        timeout: float = 60.0,
        deadline: float = 600.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_retry_after: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        transcript: Transcript | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.host = host
        self.base = base_url(host, insecure=insecure, ca_bundle=ca_bundle, scheme=scheme)
        self._credentials = docker_credentials(host) if credentials is True else (credentials or None)
        bundle = ca_bundle or os.environ.get("IMGEXPLORE_CA_BUNDLE")
        if bundle and not os.path.isfile(bundle):
            raise InvalidArgumentError(f"CA bundle {bundle} does not exist")
        self._http = httpx.Client(
            verify=tls_context(bundle, *env_ca_settings(transport is None)),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "imgexplore"},
            trust_env=transport is None,
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )
        self.timeout = timeout
        #: a request and its retries give up once this many seconds have passed
        self.deadline = deadline
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.transcript = transcript if transcript is not None else Transcript()
        self.auth = RegistryAuth(host, self._credentials, self._fetch_token)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.rate_limit: dict[str, str] = {}
        self.retries = 0

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fetch_token(self, realm: str, params: list, credentials, scopes: list[str]) -> tuple[str, float]:
        """The token request of :class:`RegistryAuth`: ``(token, expires_in)``, or an error."""
        auth = httpx.BasicAuth(credentials.username, credentials.password) if credentials else None
        request = self._http.build_request("GET", realm, params=params, extensions={NOTE: "token request"})
        try:
            reply = self._http.send(request, auth=auth, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"could not reach the token service of {self.host} ({type(exc).__name__})"
            ) from None
        if reply.status_code in (401, 403):
            who = f"as {credentials.username!r}" if credentials else "anonymously"
            raise AuthenticationError(
                f"{self.host} refused a token {who} for {' '.join(scopes) or 'access'}: "
                + (
                    "check the username and password"
                    if credentials
                    else "the repository may be private; log in first"
                ),
                status=reply.status_code,
            )
        if reply.status_code != 200:
            raise RegistryError(
                f"the token service of {self.host} answered {reply.status_code}", status=reply.status_code
            )
        try:
            body = reply.json()
            value = body.get("token") or body.get("access_token")
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            value = None
        if not value or not isinstance(value, str):
            raise RegistryError(f"the token service of {self.host} answered without a token")
        return value, expires_in

    def _on_request(self, request: httpx.Request) -> None:
        request.extensions[STARTED] = time.perf_counter()

    def _on_response(self, response: httpx.Response) -> None:
        request = response.request
        for key in ("ratelimit-limit", "ratelimit-remaining"):
            if key in response.headers:
                self.rate_limit[key] = response.headers[key]
        length = response.headers.get("content-length", "")
        self.transcript.record(
            request.method,
            str(request.url),
            status=response.status_code,
            request_headers=request.headers,
            response_headers=response.headers,
            bytes_received=int(length) if length.isdigit() and request.method != "HEAD" else 0,
            seconds=time.perf_counter() - request.extensions.get(STARTED, time.perf_counter()),
            note=request.extensions.get(NOTE, ""),
        )

    def _request(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        content: bytes | BinaryIO | Iterator[bytes] | None = None,
        stream: bool = False,
        what: str = "",
        ok: tuple[int, ...] = (200,),
        note: str = "",
    ) -> httpx.Response:
        """Send with authentication, redirects and retries; return a response whose status
        is in ``ok`` or raise the matching imgexplore error."""
        url = url if url.startswith(("http://", "https://")) else self.base + url
        attempt = 0
        redirects = 0
        target = url
        first_try = time.monotonic()
        while True:
            same_origin = _origin(target) == _origin(self.base)
            request_headers = dict(headers or {})
            started = time.perf_counter()
            response = None
            try:
                request = self._http.build_request(
                    method,
                    target,
                    headers=request_headers,
                    content=content,
                    extensions={SCOPE: scope, NOTE: note},
                )
                # the registry's token never goes to another host (a redirect to blob storage)
                response = self._http.send(request, stream=True, auth=self.auth if same_origin else None)
                if not stream or response.status_code not in ok:
                    response.read()  # a body cut short or stalled fails here, and is retried
                failure = ""
            except httpx.TimeoutException:
                failure = f"timed out (no answer or no data for {self.timeout:g} s)"
                retries_left = self.max_retries
            except httpx.ConnectError as exc:
                failure = f"could not be reached ({_reason(exc)})"
                retries_left = min(self.max_retries, 1)  # refused or no such host: once more at most
            except httpx.TransportError as exc:
                failure = f"dropped the connection ({type(exc).__name__})"
                retries_left = self.max_retries
            if failure:
                if response is not None:
                    response.close()
                self.transcript.record(
                    method,
                    target,
                    request_headers=request_headers,
                    seconds=time.perf_counter() - started,
                    note=failure,
                )
                spent = time.monotonic() - first_try
                if (
                    attempt < retries_left
                    and (method in ("GET", "HEAD") or content is None)
                    and spent + self._delay(attempt + 1, None) < self.deadline
                ):
                    attempt += 1
                    self.retries += 1
                    self._sleep(self._delay(attempt, None))
                    continue
                tries = f"{attempt + 1} attempt{'s' if attempt else ''} in {spent:.0f} s"
                raise RegistryError(
                    f"{what or method + ' ' + target}: {self.host} {failure}; gave up after {tries} "
                    f"(retries: {self.max_retries}, deadline: {self.deadline:g} s)"
                ) from None
            status = response.status_code
            if status in ok:
                return response
            if status in REDIRECTS and "location" in response.headers:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(f"{what}: more than {MAX_REDIRECTS} redirects")
                target = urljoin(target, response.headers["location"])
                continue
            if (
                status in RETRYABLE
                and attempt < self.max_retries
                and (method in ("GET", "HEAD") or content is None)
            ):
                retry_after = _retry_after(response.headers.get("retry-after"))
                if retry_after is not None and retry_after > self.max_retry_after:
                    self._raise_for(response, what or f"{method} {target}", retry_after=retry_after)
                attempt += 1
                self.retries += 1
                self._sleep(self._delay(attempt, retry_after))
                continue
            self._raise_for(response, what or f"{method} {target}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return min(self.backoff * 2 ** (attempt - 1), 30.0) * (0.5 + random.random() / 2)

    def _raise_for(self, response: httpx.Response, what: str, retry_after: float | None = None) -> None:
        status = response.status_code
        if retry_after is not None:  # longer than this client waits: say when to come back
            when = time.strftime("%H:%M:%S UTC", time.gmtime(time.time() + retry_after))
            error = RateLimitError if status == 429 else RegistryError
            raise error(
                f"{what}: {self.host} answered {status} and asks to retry in {retry_after:.0f} s, "
                f"longer than imgexplore waits (max_retry_after={self.max_retry_after:g} s); "
                f"try again after {when}",
                status=status,
            )
        code, message = None, ""
        try:
            errors = json.loads(response.content[:65536]).get("errors") or []
            if errors:
                code = str(errors[0].get("code") or "") or None
                message = str(errors[0].get("message") or "")[:200]
        except (ValueError, AttributeError, TypeError):
            pass
        detail = f"{status} {code or response.reason_phrase}" + (f": {message}" if message else "")
        # Go's TLS servers answer plain HTTP with a bare 400 (no headers; the GET body says why)
        bare = not response.headers or b"HTTPS server" in response.content[:500]
        if status == 400 and self.base.startswith("http://") and bare:
            raise RegistryError(
                f"{what}: {self.host} speaks HTTPS, not plain HTTP: give the CA that signed its "
                "certificate (--ca-bundle FILE, RegistryOptions(ca_bundle=...))",
                status=status,
            )
        if status == 401:
            who = f" as {self._credentials.username!r}" if self._credentials else ""
            raise AuthenticationError(
                f"{what}: {self.host} refused the credentials{who} ({detail})", status=status, code=code
            )
        if status == 403:
            raise AccessDeniedError(f"{what}: {self.host} denied access ({detail})", status=status, code=code)
        if status == 404:
            raise NotFoundError(f"{what}: not found on {self.host} ({detail})", status=status, code=code)
        if status == 429:
            raise RateLimitError(
                f"{what}: {self.host} is rate limiting ({detail}); retried {self.max_retries} times, try later"
                + (f" (remaining: {self.rate_limit.get('ratelimit-remaining')})" if self.rate_limit else ""),
                status=status,
                code=code,
            )
        raise RegistryError(f"{what}: {self.host} answered {detail}", status=status, code=code)

    # -- the API ------------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: the registry speaks the V2 API (and says how to authenticate)."""
        self._request("GET", "/v2/", scope="", what="GET /v2/", ok=(200,))

    def get_manifest(self, repository: str, reference: str, *, schema1: bool = False) -> Manifest:
        """A manifest by tag or digest, verified: Content-Type against the document's own
        media type, the body against the digest asked for and ``Docker-Content-Digest``."""
        accept = ", ".join(SCHEMA1_ACCEPT if schema1 else MANIFEST_ACCEPT + SCHEMA1_ACCEPT)
        what = (
            f"manifest {repository}:{reference}"
            if ":" not in reference
            else f"manifest {repository}@{reference}"
        )
        response = self._request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=self.scope(repository),
            headers={"Accept": accept},
            what=what,
        )
        raw = response.content
        if len(raw) > MAX_MANIFEST_BYTES:
            raise LimitExceededError(f"{what} is {len(raw)} bytes, over the limit of {MAX_MANIFEST_BYTES}")
        content_type = response.headers.get("content-type", "")
        manifest = parse_manifest(raw, content_type, what=what)
        header = response.headers.get("docker-content-digest")
        if reference.startswith(("sha256:", "sha512:")) and manifest.digest != reference:
            raise DigestMismatchError(
                f"{what}: the body hashes to {manifest.digest}, not the digest asked for"
            )
        if header and header != manifest.digest:
            raise DigestMismatchError(
                f"{what}: the registry says its digest is {header} but the body hashes to {manifest.digest}"
            )
        return manifest

    def head_manifest(self, repository: str, reference: str) -> tuple[str | None, str, int | None]:
        """``(digest, media type, size)`` without downloading the manifest (and without
        spending a Docker Hub pull)."""
        accept = ", ".join(MANIFEST_ACCEPT + SCHEMA1_ACCEPT)
        response = self._request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            scope=self.scope(repository),
            headers={"Accept": accept},
            what=f"manifest {repository}:{reference}",
        )
        size = response.headers.get("content-length")
        return (
            response.headers.get("docker-content-digest"),
            response.headers.get("content-type", ""),
            int(size) if size and size.isdigit() else None,
        )

    def get_referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> list[dict] | None:
        """The descriptors of the manifests whose ``subject`` is ``digest``
        (``GET /v2/NAME/referrers/DIGEST``), filtered by ``artifact_type``; None when the
        registry has no referrers API (it answers 404: distribution 2.x among others), so
        that the caller can try the tag schema (``sha256-<hex>``)."""
        query = f"?artifactType={artifact_type}" if artifact_type else ""
        try:
            response = self._request(
                "GET",
                f"/v2/{repository}/referrers/{validate_digest(digest)}{query}",
                scope=self.scope(repository),
                headers={"Accept": mt.OCI_INDEX},
                what=f"referrers of {repository}@{digest}",
            )
        except NotFoundError:
            return None
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise LimitExceededError(f"referrers of {digest}: over the limit of {MAX_MANIFEST_BYTES} bytes")
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("manifests"), list):
            raise ManifestError(f"referrers of {repository}@{digest}: not an image index")
        return referrer_descriptors(document, artifact_type)

    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        """A small blob (a config) in memory, verified."""
        from ..digest import verify_bytes

        response = self._request(
            "GET",
            f"/v2/{repository}/blobs/{validate_digest(digest)}",
            scope=self.scope(repository),
            what=f"blob {digest}",
        )
        if len(response.content) > max_bytes:
            raise LimitExceededError(f"blob {digest} is over the limit of {max_bytes} bytes")
        return verify_bytes(response.content, digest, f"blob {digest}")

    def get_blob_range(self, repository: str, digest: str, start: int, length: int) -> bytes:
        """``length`` bytes of a blob from ``start`` (a negative ``start``: the last
        ``-start`` bytes), with an HTTP ``Range`` request. Not verified: a part of a blob has
        no digest of its own; the caller checks what it reads against what it knows."""
        span = f"bytes={start}-" if start < 0 else f"bytes={start}-{start + length - 1}"
        if start < 0:
            span = f"bytes={start}"
        response = self._request(
            "GET",
            f"/v2/{repository}/blobs/{validate_digest(digest)}",
            scope=self.scope(repository),
            headers={"Range": span},
            what=f"bytes {span[6:]} of blob {digest}",
            ok=(206, 200),
        )
        data = response.content
        if response.status_code == 200:  # the server sent the whole blob: take the part asked for
            data = data[start:] if start < 0 else data[start : start + length]
        expected = -start if start < 0 else length
        if len(data) != expected:
            raise RegistryError(f"blob {digest}: asked for {expected} bytes at {start}, got {len(data)}")
        return data

    def download_blob(
        self,
        repository: str,
        digest: str,
        path: str,
        *,
        size: int | None = None,
        progress: Callable[[int], None] | None = None,
        watch: Download | None = None,
    ) -> int:
        """Stream a blob to ``path``: written to a temporary file beside it, resumed with
        ``Range`` after a dropped connection, verified against ``digest`` (and ``size``), then
        renamed into place. Returns the number of bytes. Nothing is left behind on failure.
        ``watch`` is kept told how much is written and how the download ended, for readers
        that follow it (:mod:`imgexplore.registry.following`)."""
        validate_digest(digest)
        algorithm = digest.split(":", 1)[0]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        partial = f"{path}.{uuid.uuid4().hex}.partial"
        received = 0
        attempts = 0
        sink = BlobSink(partial, algorithm, size, watch)
        try:
            while True:
                headers = {"Range": f"bytes={received}-"} if received else {}
                response = self._request(
                    "GET",
                    f"/v2/{repository}/blobs/{digest}",
                    scope=self.scope(repository),
                    headers=headers,
                    stream=True,
                    ok=(200, 206),
                    what=f"blob {digest}",
                    note="resume" if received else "",
                )
                try:
                    if received and response.status_code == 200:  # the server ignored Range: start over
                        sink.restart()
                        received = 0
                    elif received and not response.headers.get("content-range", "").startswith(
                        f"bytes {received}-"
                    ):
                        raise RegistryError(f"blob {digest}: the registry resumed at the wrong offset")
                    for chunk in body_chunks(response):  # as it arrives: a cut loses nothing received
                        sink.write(chunk)
                        received += len(chunk)
                        if size is not None and received > size:
                            raise DigestMismatchError(
                                f"blob {digest} is longer than the {size} bytes its descriptor declares"
                            )
                        if progress is not None:
                            progress(len(chunk))
                    break
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    attempts += 1
                    self.retries += 1
                    self.transcript.record(
                        "GET",
                        f"{self.base}/v2/{repository}/blobs/{digest}",
                        bytes_received=received,
                        note=f"cut after {received} bytes ({type(exc).__name__})",
                    )
                    if attempts > self.max_retries:
                        raise RegistryError(
                            f"blob {digest}: the connection kept dropping ({attempts} times); try again"
                        ) from None
                    self._sleep(self._delay(attempts, None))
                finally:
                    response.close()
            actual = sink.finish(received)
            if size is not None and received != size:
                raise DigestMismatchError(
                    f"blob {digest} is {received} bytes, but its descriptor says {size}"
                )
            if actual != digest:
                raise DigestMismatchError(
                    f"blob {digest}: the bytes received hash to {actual}; the download is corrupt (nothing was kept)"
                )
            # No fsync: an entry is verified again whenever a later process reads it, so a
            # blob damaged by a power cut is caught then rather than paid for on every download.
            os.replace(partial, path)
            if watch is not None:
                watch.finished(final=path)
            return received
        except BaseException as exc:
            _discard(sink, partial)  # before the readers hear of it: they may look at the cache at once
            if watch is not None:
                watch.finished(error=exc)
            raise
        finally:
            _discard(sink, partial)

    def list_tags(self, repository: str, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, following ``Link: <…>; rel="next"`` pagination."""
        return self._paged(
            f"/v2/{repository}/tags/list", "tags", self.scope(repository), page_size, f"tags of {repository}"
        )

    def list_repositories(self, page_size: int | None = None) -> list[str]:
        """Every repository in ``/v2/_catalog`` (where the registry allows it), paginated."""
        return self._paged("/v2/_catalog", "repositories", "registry:catalog:*", page_size, "catalog")

    def _paged(self, path: str, key: str, scope: str, page_size: int | None, what: str) -> list[str]:
        url = path + (f"?n={page_size}" if page_size else "")
        items: list[str] = []
        for _ in range(10_000):
            response = self._request("GET", url, scope=scope, what=what)
            try:
                items += [str(t) for t in (response.json().get(key) or [])]
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: the registry's answer is not JSON") from None
            link = response.headers.get("link", "")
            if 'rel="next"' not in link:
                return items
            url = urljoin(self.base + "/", link.split(";")[0].strip().strip("<>"))
        raise LimitExceededError(f"{what}: more than 10,000 pages")

    def scope(self, repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    # -- uploads -------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str, *, push: bool = False) -> bool:
        """HEAD a blob."""
        try:
            self._request(
                "HEAD",
                f"/v2/{repository}/blobs/{digest}",
                scope=self.scope(repository, "pull,push" if push else "pull"),
                what=f"blob {digest}",
            )
            return True
        except NotFoundError:
            return False

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount: True if the registry linked the blob without an upload."""
        scope = f"{self.scope(repository, 'pull,push')} {self.scope(from_repository)}"
        response = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/?mount={digest}&from={from_repository}",
            scope=scope,
            ok=(201, 202),
            what=f"mount {digest}",
            content=b"",
        )
        return response.status_code == 201

    def upload_blob(
        self, repository: str, digest: str, data: BinaryIO, size: int, *, chunk_size: int | None = None
    ) -> None:
        """Upload a blob: monolithic (POST, then PUT with the body) or, with ``chunk_size``,
        chunked (POST, PATCH per chunk with ``Content-Range``, then PUT)."""
        scope = self.scope(repository, "pull,push")
        response = self._request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scope=scope,
            ok=(202,),
            what=f"upload {digest}",
            content=b"",
        )
        location = urljoin(self.base + "/", response.headers["location"])
        if chunk_size is None:
            # monolithic: the body streams from ``data`` with its length declared up front
            self._request(
                "PUT",
                _add_query(location, digest=digest),
                scope=scope,
                ok=(201,),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                content=iter(lambda: data.read(1 << 20), b""),
                what=f"upload {digest}",
            )
            return
        offset = 0
        while offset < size:
            chunk = data.read(chunk_size)
            if not chunk:
                break
            response = self._request(
                "PATCH",
                location,
                scope=scope,
                ok=(202,),
                content=chunk,
                what=f"upload {digest}",
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            offset += len(chunk)
            location = urljoin(self.base + "/", response.headers["location"])
        self._request(
            "PUT",
            _add_query(location, digest=digest),
            scope=scope,
            ok=(201,),
            content=b"",
            what=f"upload {digest}",
        )

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        """Upload a manifest under a tag (or digest); returns the digest the registry reports."""
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            scope=self.scope(repository, "pull,push"),
            ok=(201,),
            headers={"Content-Type": media_type},
            content=raw,
            what=f"manifest {repository}:{reference}",
        )
        return response.headers.get("docker-content-digest", "")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in (
        "Name or service not known",
        "Temporary failure in name resolution",
        "Connection refused",
        "certificate verify failed",
        "No route to host",
        "Network is unreachable",
    ):
        if known.lower() in text.lower():
            return known.lower()
    return type(exc).__name__


def _add_query(url: str, **params: str) -> str:
    from urllib.parse import urlencode

    return url + ("&" if "?" in url else "?") + urlencode(params)


def manifest_media_type(manifest: Manifest) -> str:
    """The Content-Type to upload a parsed manifest with."""
    if manifest.media_type in mt.SCHEMA1_TYPES:
        return mt.DOCKER_SCHEMA1_SIGNED if getattr(manifest, "signed", False) else mt.DOCKER_SCHEMA1
    return manifest.media_type


def _discard(sink: BlobSink, partial: str) -> None:
    """Stop writing ``partial`` and remove it if it is still there (a download that did not
    end in its blob); nothing is left behind."""
    sink.close()
    if os.path.exists(partial):
        os.unlink(partial)
