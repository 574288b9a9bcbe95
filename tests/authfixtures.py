"""Registries with authentication and TLS, shared by the auth, secrets and fault tests:
htpasswd (bcrypt) Basic auth, token auth with a token service whose JWTs the registry
verifies through its rootcertbundle, and a certificate from a test CA."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from registry_server import start_registry

USER, PASSWORD = "alice", "wonderland-42"


def docker_config(folder, host, user=USER, password=PASSWORD):
    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return str(folder)


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("basic")
    htpasswd = work / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), USER, PASSWORD], check=True, capture_output=True)
    server = start_registry(
        str(work), auth_yaml=f"auth:\n  htpasswd:\n    realm: imgexplore-test\n    path: {htpasswd}\n"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("token")
    pytest.importorskip("cryptography", reason="the token service signs with cryptography")
    from netfixtures import TokenService, make_cert, serve

    signer = make_cert("imgexplore test token signer")
    bundle = work / "token-signer.crt"
    bundle.write_bytes(signer.cert_pem)
    service = TokenService(signer, service="imgexplore-test-registry", users={USER: PASSWORD})
    server, address = serve(service.handler())
    auth = (
        f"auth:\n  token:\n    realm: http://{address}/token\n    service: {service.service}\n"
        f"    issuer: {service.issuer}\n    rootcertbundle: {bundle}\n"
    )
    registry = start_registry(str(work), auth_yaml=auth)
    yield registry, service
    registry.stop()
    server.shutdown()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory):
    work = tmp_path_factory.mktemp("tls")
    pytest.importorskip("cryptography", reason="the test CA is made with cryptography")
    from netfixtures import make_cert

    ca = make_cert("imgexplore test CA", ca=True)
    server_cert = make_cert("127.0.0.1", issuer=ca, ip="127.0.0.1")
    cert_path, key_path = server_cert.write(work, "server")
    ca_path = work / "ca.crt"
    ca_path.write_bytes(ca.cert_pem)
    registry = start_registry(str(work), tls=(cert_path, key_path))
    yield registry, str(ca_path)
    registry.stop()


def pull_through_redirecting_proxy(registry, image_dir, repository, dest):
    """Push ``image_dir`` to the Basic-auth ``registry`` and pull it back through a proxy on
    127.0.0.1 that sends every blob GET to another loopback host (127.0.0.2) with a signed
    URL, as object-store backed registries do. Returns ``(report, client, seen)``: the pull
    report, the registry client (with its transcript), and the headers the other host saw."""
    from netfixtures import RedirectingProxy

    from imgexplore.registry import RegistryClient
    from imgexplore.registry.credentials import Credentials
    from imgexplore.sources.registry import RegistrySource
    from imgexplore.transfer import pull, push

    push(str(image_dir), f"{registry.host}/{repository}:latest")
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    address, seen = RedirectingProxy(upstream=registry.host, upstream_auth=basic).start()
    client = RegistryClient(address, credentials=Credentials(USER, PASSWORD))
    reference = f"{address}/{repository}:latest"
    report = pull(reference, dest, source=RegistrySource(reference, client=client))
    return report, client, seen
