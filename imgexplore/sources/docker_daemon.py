"""``docker-daemon:NAME[:TAG|@DIGEST]`` — an image in a running Docker daemon, found through
the Engine API on the socket ``DOCKER_HOST`` names (default ``unix:///var/run/docker.sock``;
``tcp://`` with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as the docker CLI reads them).

Where the daemon's data root (overlay2) is readable here, the image is read straight from it
(:mod:`.docker_root`): nothing is exported and metadata views read no layer. Otherwise the
daemon exports it once (``GET /images/{name}/get``, what ``docker save`` does), streamed to the
cache under the image id — never held in memory; its big layers are listed into the
file-table cache as they stream past — and read as the archive it is (a Docker 25+ daemon
with the containerd image store exports an OCI layout, which is read as one).
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import httpx

from ..cache import atomic_writer, cache_root
from ..errors import NotFoundError, SourceError
from .base import Source

DEFAULT_HOST = "unix:///var/run/docker.sock"
API = "/v1.41"  # Docker 20.10's; later daemons serve older versions too


def engine_client(host: str | None = None, timeout: float = 60.0) -> httpx.Client:
    """An httpx client for the Engine API at ``host`` (else ``DOCKER_HOST``, else the default
    socket), with the docker CLI's conventions for ``tcp://``: ``DOCKER_TLS_VERIFY`` (any
    value) means TLS, the daemon checked against ``DOCKER_CERT_PATH/ca.pem`` (default
    ``~/.docker``) and ``cert.pem``/``key.pem`` presented when they are there; a missing port
    is 2376 with TLS, 2375 without."""
    host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
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
        tls = bool(os.environ.get("DOCKER_TLS_VERIFY"))
        address = _tcp_address(host, tls)
        if tls:
            return httpx.Client(base_url=f"https://{address}", verify=_tls_context(host), timeout=timeout)
        return httpx.Client(base_url=f"http://{address}", timeout=timeout)
    raise SourceError(f"DOCKER_HOST={host}: imgexplore speaks to unix:// and tcp:// daemons")


def _tcp_address(host: str, tls: bool) -> str:
    """``tcp://HOST:PORT`` → ``HOST:PORT``, filled in as the docker CLI does (localhost; 2376
    with TLS, else 2375).

    >>> _tcp_address("tcp://10.0.0.5", True), _tcp_address("tcp://:2999", False), _tcp_address("tcp://[::1]", False)
    ('10.0.0.5:2376', 'localhost:2999', '[::1]:2375')
    """
    parts = urllib.parse.urlsplit(host)
    try:
        port = parts.port or (2376 if tls else 2375)
    except ValueError:
        raise SourceError(f"DOCKER_HOST={host}: the port is not a number from 1 to 65535") from None
    name = parts.hostname or "localhost"
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def _tls_context(host: str):
    """The TLS settings ``DOCKER_TLS_VERIFY`` asks for, or one error line naming the file."""
    import ssl

    certs = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    ca, cert, key = (os.path.join(certs, name) for name in ("ca.pem", "cert.pem", "key.pem"))
    reading = ca
    try:
        context = ssl.create_default_context(cafile=ca)
        if os.path.exists(cert) and os.path.exists(key):
            reading = f"{cert} and {key}"
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        reason = (
            exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM certificate and key"
        )
        raise SourceError(
            f"DOCKER_HOST={host}: DOCKER_TLS_VERIFY is set but {reading} cannot be used ({reason}): "
            "put the daemon's ca.pem (and your cert.pem and key.pem) in the folder DOCKER_CERT_PATH names"
        ) from None
    return context


def _unreachable(exc: httpx.HTTPError) -> tuple[str, str]:
    """Why a daemon could not be asked, and what to do about it."""
    text = str(exc)
    if "Permission denied" in text:
        return "permission denied", "run as root or as a member of the docker group"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "its TLS certificate is not one DOCKER_CERT_PATH/ca.pem vouches for",
            "put the daemon's CA certificate in DOCKER_CERT_PATH/ca.pem",
        )
    if "SSL" in text or "alert" in text:
        return (
            "the TLS handshake failed",
            "check that DOCKER_CERT_PATH holds a cert.pem and key.pem the daemon's CA signed",
        )
    return "no daemon answers there", "start dockerd, or point DOCKER_HOST at a running daemon"


def engine_get(client: httpx.Client, path: str, what: str, where: str):
    """``GET`` an Engine API path as JSON; one-line errors that name ``where`` and the fix."""
    try:
        answer = client.get(API + path)
    except httpx.ConnectError as exc:
        reason, fix = _unreachable(exc)
        raise SourceError(f"{what}: cannot reach {where} ({reason}): {fix}") from None
    except httpx.HTTPError as exc:
        reason, fix = _unreachable(exc)
        if reason.startswith("no daemon"):
            raise SourceError(f"{what}: the Docker daemon did not answer ({type(exc).__name__})") from None
        raise SourceError(f"{what}: cannot reach {where} ({reason}): {fix}") from None
    if answer.status_code == 400 and "HTTPS server" in answer.text:
        raise SourceError(
            f"{what}: {where} speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the folder "
            "with the daemon's ca.pem and your cert.pem and key.pem"
        )
    if answer.status_code == 404:
        raise NotFoundError(f"{what}: the daemon has no such image (docker pull or docker build it first)")
    if answer.status_code != 200:
        raise SourceError(f"{what}: the daemon answered {answer.status_code}: {answer.text[:200]}")
    return answer.json()


def _root_holds(root: str, image_id: str) -> bool:
    """Whether the data root the daemon names is readable here and holds the image: a daemon
    reached over tcp:// (or in a VM) names a folder of another machine, which may exist here
    too, as another engine's."""
    config = os.path.join(
        root, "image", "overlay2", "imagedb", "content", "sha256", image_id.partition(":")[2]
    )
    return os.access(os.path.join(root, "image", "overlay2"), os.R_OK | os.X_OK) and os.access(
        config, os.R_OK
    )


def daemon_image(name: str, host: str | None = None, *, read_root: bool = True) -> Source | pathlib.Path:
    """Where ``docker-daemon:NAME`` is read from: a :class:`Source` on the daemon's data root
    when it is readable here (and ``read_root``), else the path of the daemon's export, made
    once into the cache under the image id (the opener reads it as the archive it is)."""
    what = f"docker-daemon:{name}"
    if not name:
        raise SourceError("docker-daemon: name an image, as in docker-daemon:alpine:3.19")
    host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    with engine_client(host) as client:
        quoted = urllib.parse.quote(name, safe="")
        image = engine_get(client, f"/images/{quoted}/json", what, host)
        info = engine_get(client, "/info", what, host)
        image_id = image["Id"]
        driver = (image.get("GraphDriver") or {}).get("Name")
        root = info.get("DockerRootDir")
        if read_root and driver == "overlay2" and root and _root_holds(root, image_id):
            from .docker_root import DockerRootSource

            source = DockerRootSource(f"[{root}]{image_id}")
            source.notes.append(f"read from the daemon's data root {root} (nothing exported)")
            source.location = f"{what} ({root})"
            return source
        path = cache_root() / "docker-daemon" / f"{image_id.partition(':')[2]}.tar"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # not fsynced: a re-creatable copy whose every layer is verified when read
            with (
                atomic_writer(path, durable=False) as out,
                client.stream("GET", f"{API}/images/{quoted}/get") as answer,
            ):
                if answer.status_code != 200:
                    raise SourceError(f"{what}: the daemon would not export it ({answer.status_code})")
                from ..directio import uncached
                from ..filetree.passing import copy_and_list

                # big layers are listed as they stream past, not read back from the copy;
                # the copy goes around the page cache (it is kept, not read back now)
                with uncached(out) as copy:
                    copy_and_list(answer.iter_bytes(1 << 20), copy)
    return path
