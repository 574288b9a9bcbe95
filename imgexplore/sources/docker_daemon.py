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
    socket), with the docker CLI's TLS conventions for ``tcp://``."""
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
        address = host[len("tcp://") :]
        if os.environ.get("DOCKER_TLS_VERIFY"):
            certs = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
            import ssl

            context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
            context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
            return httpx.Client(base_url=f"https://{address}", verify=context, timeout=timeout)
        return httpx.Client(base_url=f"http://{address}", timeout=timeout)
    raise SourceError(f"DOCKER_HOST={host}: imgexplore speaks to unix:// and tcp:// daemons")


def engine_get(client: httpx.Client, path: str, what: str, where: str):
    """``GET`` an Engine API path as JSON; one-line errors that name ``where`` and the fix."""
    try:
        answer = client.get(API + path)
    except httpx.ConnectError as exc:
        reason = "permission denied" if "Permission denied" in str(exc) else "no daemon answers there"
        fix = (
            "run as root or as a member of the docker group"
            if reason == "permission denied"
            else "start dockerd, or point DOCKER_HOST at a running daemon"
        )
        raise SourceError(f"{what}: cannot reach {where} ({reason}): {fix}") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{what}: the Docker daemon did not answer ({type(exc).__name__})") from None
    if answer.status_code == 404:
        raise NotFoundError(f"{what}: the daemon has no such image (docker pull or docker build it first)")
    if answer.status_code != 200:
        raise SourceError(f"{what}: the daemon answered {answer.status_code}: {answer.text[:200]}")
    return answer.json()


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
        if (
            read_root
            and driver == "overlay2"
            and root
            and os.access(os.path.join(root, "image", "overlay2"), os.R_OK | os.X_OK)
        ):
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
