"""Which Docker daemon to ask, found as the docker CLI finds it: a host given outright; else
``DOCKER_HOST`` (``unix://``, ``tcp://`` with ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``,
or ``ssh://``, reached through ``ssh HOST docker system dial-stdio``); else the
docker context ``DOCKER_CONTEXT`` or the docker config's ``currentContext`` names (rootless
Docker and Docker Desktop set one up), read from ``DOCKER_CONFIG`` (default ``~/.docker``);
else ``unix:///var/run/docker.sock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import urllib.parse
from dataclasses import dataclass

from ..errors import SourceError

DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class DockerEndpoint:
    """Where a daemon answers and how to speak to it."""

    host: str  #: ``unix:///path``, ``tcp://HOST[:PORT]`` or ``ssh://[USER@]HOST[:PORT][/SOCKET]``
    tls: bool = False  #: speak TLS (``tcp://`` only)
    certs: str | None = None  #: the folder holding ``ca.pem``, ``cert.pem``, ``key.pem``
    verify: bool = True  #: check the daemon's certificate against ``ca.pem``
    context: str | None = None  #: the docker context it was found in

    @property
    def where(self) -> str:
        """The address as error messages name it (a password in it never shown)."""
        parts = urllib.parse.urlsplit(self.host)
        host = self.host
        if parts.password is not None:
            host = self.host.replace(f":{parts.password}@", ":***@", 1)
        return f"{host} (docker context {self.context})" if self.context else host

    @property
    def address(self) -> str:
        """``HOST:PORT`` of a ``tcp://`` endpoint, filled in as the docker CLI does
        (localhost; 2376 with TLS, else 2375).

        >>> DockerEndpoint("tcp://10.0.0.5", tls=True).address, DockerEndpoint("tcp://[::1]").address
        ('10.0.0.5:2376', '[::1]:2375')
        >>> DockerEndpoint("tcp://:2999").address
        'localhost:2999'
        """
        parts = urllib.parse.urlsplit(self.host)
        try:
            port = parts.port or (2376 if self.tls else 2375)
        except ValueError:
            raise SourceError(f"{self.where}: the port is not a number from 1 to 65535") from None
        name = parts.hostname or "localhost"
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    def ssh_command(self) -> list[str]:
        """The command that carries the Engine API of an ``ssh://`` endpoint, as the docker
        CLI runs it: ``ssh`` to the host, and there ``docker system dial-stdio`` (against
        the socket the address names, if it names one).

        >>> DockerEndpoint("ssh://me@build-box:2222").ssh_command()
        ['ssh', '-o', 'ConnectTimeout=30', '-T', '-l', 'me', '-p', '2222', '--', 'build-box', 'docker', 'system', 'dial-stdio']
        >>> DockerEndpoint("ssh://build-box/run/user/1000/docker.sock").ssh_command()[-4:]
        ['docker', '--host=unix:///run/user/1000/docker.sock', 'system', 'dial-stdio']
        """
        parts = urllib.parse.urlsplit(self.host)
        if parts.password is not None:
            raise SourceError(
                f"{self.where}: a password in an ssh:// address is not supported: ssh asks for it, "
                "or use a key (ssh-copy-id)"
            )
        if not parts.hostname or parts.query or parts.fragment:
            raise SourceError(f"{self.where}: an ssh:// address is ssh://[USER@]HOST[:PORT][/SOCKET]")
        try:
            port = parts.port
        except ValueError:
            raise SourceError(f"{self.where}: the port is not a number from 1 to 65535") from None
        command = ["ssh", "-o", "ConnectTimeout=30", "-T"]  # the docker CLI's options
        if parts.username:
            command += ["-l", parts.username]
        if port:
            command += ["-p", str(port)]
        remote = ["docker", "system", "dial-stdio"]
        if parts.path.strip("/"):  # ssh hands the remote shell one line: the path is quoted
            remote[1:1] = [shlex.quote(f"--host=unix://{parts.path}")]
        return [*command, "--", parts.hostname, *remote]

    def tls_context(self):
        """The TLS settings to speak to this endpoint, or one error line naming the file."""
        import ssl

        certs = self.certs or os.path.expanduser("~/.docker")
        ca, cert, key = (os.path.join(certs, name) for name in ("ca.pem", "cert.pem", "key.pem"))
        reading = ca
        try:
            if self.verify:
                context = ssl.create_default_context(cafile=ca)
            else:  # the context says --skip-tls-verify: no CA to load
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            if os.path.exists(cert) and os.path.exists(key):
                reading = f"{cert} and {key}"
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a PEM certificate and key"
            )
            if self.context:
                raise SourceError(
                    f"{self.where}: {reading} cannot be used ({reason}): "
                    f"`docker context inspect {self.context}` shows what the context holds"
                ) from None
            raise SourceError(
                f"DOCKER_HOST={self.host}: DOCKER_TLS_VERIFY is set but {reading} cannot be used ({reason}): "
                "put the daemon's ca.pem (and your cert.pem and key.pem) in the folder DOCKER_CERT_PATH names"
            ) from None
        return context


def docker_endpoint(host: str | None = None) -> DockerEndpoint:
    """The daemon the docker CLI would ask (see the module's description)."""
    host = host or os.environ.get("DOCKER_HOST")
    if host:
        return DockerEndpoint(
            host,
            tls=host.startswith("tcp://") and bool(os.environ.get("DOCKER_TLS_VERIFY")),
            certs=os.environ.get("DOCKER_CERT_PATH") or None,
        )
    config = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    name, named_by = os.environ.get("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
    if not name:
        named_by = os.path.join(config, "config.json")
        try:
            with open(named_by, "rb") as f:
                name = json.load(f).get("currentContext")
        except (OSError, ValueError, AttributeError):  # no config, or not the docker CLI's
            name = None
    if not name or name == "default":
        return DockerEndpoint(DEFAULT_HOST)
    return _context_endpoint(config, str(name), named_by)


def _context_endpoint(config: str, name: str, named_by: str) -> DockerEndpoint:
    """A docker context's endpoint: ``contexts/meta/<sha256 of the name>/meta.json`` and its
    TLS files in ``contexts/tls/<same>/docker/``."""
    folder = hashlib.sha256(name.encode()).hexdigest()
    meta = os.path.join(config, "contexts", "meta", folder, "meta.json")
    try:
        with open(meta, "rb") as f:
            endpoint = json.load(f)["Endpoints"]["docker"]
        host = endpoint["Host"]
    except FileNotFoundError:
        raise SourceError(
            f"docker context {name!r} (named by {named_by}) is not in {config}/contexts: "
            "`docker context ls` lists the contexts; DOCKER_HOST names a daemon directly"
        ) from None
    except PermissionError:
        raise SourceError(f"docker context {name!r}: permission denied reading {meta}") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise SourceError(f"docker context {name!r}: {meta} is not a docker context's description") from None
    tls = os.path.join(config, "contexts", "tls", folder, "docker")
    uses_tls = str(host).startswith("tcp://") and os.path.isdir(tls)
    return DockerEndpoint(
        str(host),
        tls=uses_tls,
        certs=tls if uses_tls else None,
        verify=not endpoint.get("SkipTLSVerify", False),
        context=name,
    )
