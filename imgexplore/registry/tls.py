"""Which scheme a registry is spoken to in, and the TLS trust used for it."""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
import threading

from ..errors import InsecureRegistryError, InvalidArgumentError


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1, with or without a port."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def base_url(
    host: str, *, insecure: bool = False, ca_bundle: str | None = None, scheme: str | None = None
) -> str:
    """``http://HOST`` or ``https://HOST``: plain HTTP only for registries on this machine
    (unless a CA bundle says TLS is wanted) or when ``insecure``; never plain HTTP otherwise.

    >>> base_url("127.0.0.1:5000"), base_url("ghcr.io")
    ('http://127.0.0.1:5000', 'https://ghcr.io')
    """
    if scheme is None:
        scheme = "http" if (insecure or is_loopback(host)) and ca_bundle is None else "https"
    if scheme == "http" and not (insecure or is_loopback(host)):
        raise InsecureRegistryError(
            f"refusing plain HTTP to {host}: use TLS, or pass insecure=True (--insecure)"
        )
    return f"{scheme}://{host}"


def env_ca_settings(trust_env: bool) -> tuple[str | None, str | None]:
    if not trust_env:
        return None, None
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


class _TrustLoadedOnFirstUse(ssl.SSLContext):
    """A verifying client context (what :func:`ssl.create_default_context` makes) that reads
    its CA certificates when the first TLS connection is made: a registry spoken to in plain
    HTTP, on this machine, never pays the ~30 ms a CA bundle takes to load."""

    def __new__(cls, **locations: str | None):
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostnames checked

    def __init__(self, **locations: str | None):
        super().__init__()
        self._locations = locations
        self._loading = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        with self._loading:
            if not self._loaded:
                try:
                    self.load_verify_locations(**self._locations)
                except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                    where = self._locations.get("cafile") or self._locations.get("capath")
                    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
                    raise InvalidArgumentError(
                        f"CA certificates {where}: cannot be used ({reason})"
                    ) from None
                self._loaded = True

    def wrap_socket(self, *args, **kwargs):
        self._load()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args, **kwargs):
        self._load()
        return super().wrap_bio(*args, **kwargs)


@functools.lru_cache(maxsize=8)
def tls_context(bundle: str | None, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """One verifying TLS context per trust setting, shared by every client of the process:
    loading a CA bundle takes ~30 ms, which would otherwise be paid for every image opened."""
    if bundle or cert_file:
        return _TrustLoadedOnFirstUse(cafile=bundle or cert_file)
    if cert_dir:
        return _TrustLoadedOnFirstUse(capath=cert_dir)
    import certifi  # httpx's own default trust

    return _TrustLoadedOnFirstUse(cafile=certifi.where())
