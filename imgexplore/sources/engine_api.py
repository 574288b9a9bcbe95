"""The Docker Engine API of one daemon, reached as the docker CLI reaches it (the endpoint
:mod:`.docker_endpoint` finds: ``DOCKER_HOST``, a docker context, or the default socket),
under the API version agreed with the daemon (Docker 29 refuses anything older than 1.44;
Docker 20.10 speaks at most 1.41).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import NotFoundError, SourceError
from .docker_endpoint import DockerEndpoint, docker_endpoint

# Docker 29's API. What is read here (an image's Id and GraphDriver.Name; /info's
# DockerRootDir, Driver, ServerVersion and Images; the export) is the same in every version
# from 1.41 to this one.
NEWEST_API = (1, 52)


def engine_client(endpoint: DockerEndpoint, timeout: float = 60.0) -> httpx.Client:
    """An httpx client for the Engine API at ``endpoint`` (see :func:`docker_endpoint`)."""
    host = endpoint.host
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        # no TLS and no proxy on a local socket: loading the CA bundle alone would take ~45 ms
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=path, verify=False),
            base_url="http://docker",
            timeout=timeout,
            trust_env=False,
        )
    if host.startswith("tcp://"):
        if endpoint.tls:
            return httpx.Client(
                base_url=f"https://{endpoint.address}", verify=endpoint.tls_context(), timeout=timeout
            )
        return httpx.Client(base_url=f"http://{endpoint.address}", timeout=timeout)
    if host.startswith("ssh://"):
        from .command_stream import CommandTransport

        return httpx.Client(
            transport=CommandTransport(endpoint.ssh_command()),
            base_url="http://docker",
            timeout=timeout,
            trust_env=False,
        )
    raise SourceError(f"{endpoint.where}: imgexplore speaks to unix://, tcp:// and ssh:// daemons")


# what ssh (or the docker command it runs on the host) says, and what to do about it
_START_DOCKERD = "start dockerd on the host, or name its socket: ssh://HOST/path/docker.sock"
_REACH_HOST = "check the host's name and port, and that it can be reached"
_SSH_TROUBLE = [
    ("docker daemon socket", "add that user to the docker group on the host"),
    ("cannot connect to the docker daemon", _START_DOCKERD),
    ("no such file or directory", _START_DOCKERD),
    ("not found", "install docker on the host: its `docker system dial-stdio` carries the API"),
    ("permission denied", "give ssh a key the host accepts (ssh-copy-id, an ssh-agent, or ~/.ssh/config)"),
    ("host key verification failed", "connect once with ssh to check the host's key and accept it"),
    ("could not resolve", "check the host's name"),
    ("connection refused", "check the port, and that sshd runs on the host"),
    ("timed out", _REACH_HOST),
    ("no route to host", _REACH_HOST),
]


def _unreachable(exc: httpx.HTTPError, endpoint: DockerEndpoint) -> tuple[str, str]:
    """Why a daemon could not be asked, and what to do about it."""
    text = str(exc)
    if endpoint.host.startswith("ssh://"):
        from .command_stream import ENDED

        said = text.partition(ENDED)[2] or text
        fix = next((fix for mark, fix in _SSH_TROUBLE if mark in said.lower()), None)
        return said, fix or "check that `ssh HOST docker version` works"
    if endpoint.context:
        context = endpoint.context
        ca, holder = f"the ca.pem of docker context {context}", f"docker context {context}"
        no_tls = f"make docker context {context} use no TLS files, as the daemon takes none"
    else:
        ca, holder = "DOCKER_CERT_PATH/ca.pem", "DOCKER_CERT_PATH"
        no_tls = "unset DOCKER_TLS_VERIFY: this daemon's tcp listener takes plain HTTP"
    if "Permission denied" in text:
        return "permission denied", "run as root or as a member of the docker group"
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "it answered the TLS hello in plain HTTP", no_tls  # OpenSSL's words for that
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"its TLS certificate is not one {ca} vouches for", f"put the daemon's CA certificate in {ca}"
    # a TLS daemon that refuses our certificate may close the connection before its alert is read
    refused = endpoint.tls and isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError))
    if "SSL" in text or "alert" in text or refused:
        return (
            "the TLS handshake failed",
            f"check that {holder} holds a cert.pem and key.pem the daemon's CA signed",
        )
    return "no daemon answers there", "start dockerd, or point DOCKER_HOST at a running daemon"


def negotiated_version(offered: str | None) -> str:
    """The API version to speak to a daemon that offers ``offered`` as its newest (the
    ``API-Version`` header of its ``GET /_ping`` answer): that, at most :data:`NEWEST_API`,
    as the docker CLI negotiates; 1.24 when the daemon names none.

    >>> negotiated_version("1.41"), negotiated_version("1.60"), negotiated_version(None)
    ('1.41', '1.52', '1.24')
    """
    major, _, minor = (offered or "1.24").partition(".")
    try:
        newest = int(major), int(minor)
    except ValueError:
        raise SourceError(
            f"the Docker daemon offers API version {offered[:40]!r}, which is not one"
        ) from None
    return "{}.{}".format(*min(newest, NEWEST_API))


class EngineAPI:
    """A connection to one daemon's Engine API (a context manager): ``get`` answers JSON,
    ``stream`` a body, each under the API version agreed at the first call; every failure is
    one :class:`SourceError` line naming the place and the fix."""

    def __init__(self, host: str | None = None, timeout: float = 60.0):
        self.endpoint = docker_endpoint(host)
        self.where = self.endpoint.where
        self.client = engine_client(self.endpoint, timeout)
        self.timeout = timeout
        self._prefix: str | None = None

    def __enter__(self) -> EngineAPI:
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.close()

    def prefix(self, what: str) -> str:
        """``/vMAJOR.MINOR``, agreed with the daemon once (``/_ping`` is served unversioned)."""
        if self._prefix is None:
            self._prefix = "/v" + negotiated_version(self._answer("/_ping", what).headers.get("api-version"))
        return self._prefix

    def get(self, path: str, what: str) -> Any:
        """``GET`` an API path (``/info``, ``/images/NAME/json``…) as JSON."""
        return self._json(self.prefix(what) + path, what)

    def export(self, path: str, what: str):
        """``GET`` an API path whose answer is long (an image export) in HTTP/1.0, on a
        connection of its own: a context manager giving a
        :class:`~.engine_stream.PlainAnswer` (see :mod:`.engine_stream` for why)."""
        from .engine_stream import plain_get

        return plain_get(self.endpoint, self.prefix(what) + path, self.timeout)

    def _json(self, path: str, what: str) -> Any:
        answer = self._answer(path, what)
        try:
            return answer.json()
        except ValueError:
            raise SourceError(
                f"{what}: {self.where} answered {path} with something that is not JSON"
            ) from None

    def _answer(self, path: str, what: str) -> httpx.Response:
        where = self.where
        try:
            answer = self.client.get(path)
        except httpx.HTTPError as exc:
            reason, fix = _unreachable(exc, self.endpoint)
            if isinstance(exc, httpx.ConnectError) or not reason.startswith("no daemon"):
                raise SourceError(f"{what}: cannot reach {where} ({reason}): {fix}") from None
            raise SourceError(f"{what}: the Docker daemon did not answer ({type(exc).__name__})") from None
        if answer.status_code == 400 and "HTTPS server" in answer.text:
            raise SourceError(
                f"{what}: {where} speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder "
                "with the daemon's ca.pem and your cert.pem and key.pem"
            )
        if answer.status_code == 404:
            raise NotFoundError(
                f"{what}: the daemon has no such image (docker pull or docker build it first)"
            )
        if answer.status_code != 200:
            raise SourceError(f"{what}: the daemon answered {answer.status_code}: {answer.text[:200]}")
        return answer
