"""Authentication, redirects and TLS against real registry processes on 127.0.0.1:
htpasswd (bcrypt) Basic auth, token auth with a token service whose JWTs the registry
verifies through its rootcertbundle, a redirect to another loopback host, and a registry
with a certificate from a test CA."""

from __future__ import annotations

import json
import os
import ssl
import stat
import time

import pytest

import imgexplore
from imgexplore.registry import RegistryClient
from imgexplore.transfer import push

pytest.importorskip("cryptography", reason="the token and TLS tests sign with cryptography")
from authfixtures import PASSWORD, USER, docker_config, pull_through_redirecting_proxy  # noqa: E402


def no_secret_in(*texts):
    for text in texts:
        assert PASSWORD not in str(text)


def test_basic_auth(basic_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    host = basic_registry.host
    with pytest.raises(imgexplore.AuthenticationError, match="needs a username and password"):
        push(str(data_dir / "derived" / "oci"), f"{host}/private/derived:latest")
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", host))
    push(str(data_dir / "derived" / "oci"), f"{host}/private/derived:latest")
    image = imgexplore.open_image(f"{host}/private/derived:latest")
    assert image.compute_diff_ids() == image.diff_ids
    rows = image.source.client.transcript.table()
    assert set(rows["auth"]) <= {"", "Basic ***"}
    no_secret_in(rows.to_csv(), repr(image.source.client._credentials))


def test_wrong_password(basic_registry, tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv(
        "DOCKER_CONFIG", docker_config(tmp_path / "docker", basic_registry.host, password="nope")
    )
    with pytest.raises(imgexplore.AuthenticationError) as info:
        imgexplore.open_image(f"{basic_registry.host}/private/derived:latest")
    assert "alice" in str(info.value)
    assert "nope" not in str(info.value)


def test_credential_helper(basic_registry, tmp_path, monkeypatch, isolated_cache, data_dir):
    """A docker-credential-* program named by credHelpers (a real executable on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-imgexplore-test"
    helper.write_text(f'#!/bin/sh\nread host\necho \'{{"Username": "{USER}", "Secret": "{PASSWORD}"}}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credHelpers": {basic_registry.host: "imgexplore-test"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    push(str(data_dir / "derived" / "oci"), f"{basic_registry.host}/private/helper:latest")
    assert imgexplore.open_image(f"{basic_registry.host}/private/helper:latest").layers


def test_redirect_does_not_forward_authorization(
    basic_registry, data_dir, tmp_path, monkeypatch, isolated_cache
):
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", basic_registry.host))
    report, client, seen = pull_through_redirecting_proxy(
        basic_registry, data_dir / "teaching" / "oci", "private/teaching", tmp_path / "layout"
    )
    assert report.blobs == 7
    assert len(seen) == 7  # every layer and the config came from the other host ...
    assert all("Authorization" not in headers and "authorization" not in headers for headers in seen)
    rows = client.transcript.table()
    redirected = rows[rows["url"].str.contains("127.0.0.2")]
    assert len(redirected) == 7 and set(redirected["auth"]) == {""}
    assert not rows["url"].str.contains("s3cr3t").any()  # signed-URL signatures are masked
    imgexplore.open_image(tmp_path / "layout").compute_diff_ids()


def test_token_auth(token_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    registry, service = token_registry
    host = registry.host
    # anonymous tokens carry pull only: pushing needs a login
    with pytest.raises(imgexplore.RegistryError):
        push(str(data_dir / "derived" / "oci"), f"{host}/team/derived:latest")
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", host))
    push(str(data_dir / "derived" / "oci"), f"{host}/team/derived:latest")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))  # now read anonymously
    image = imgexplore.open_image(f"{host}/team/derived:latest")
    rows = image.source.client.transcript.table()
    assert rows["status"].tolist()[:3] == [401, 200, 200]  # challenge, token, retried HEAD
    assert rows["note"].tolist()[1] == "token request"
    assert set(rows["auth"]) <= {"", "Bearer ***", "Basic ***"}
    text = rows.to_csv()
    assert not any(token in text for token in service.issued)


def test_token_wrong_password(token_registry, tmp_path, monkeypatch, isolated_cache):
    registry, _ = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", registry.host, password="bad"))
    with pytest.raises(imgexplore.AuthenticationError, match="check the username and password"):
        imgexplore.open_image(f"{registry.host}/team/derived:latest")


def test_token_renewed_before_it_expires(token_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    registry, service = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", registry.host))
    push(str(data_dir / "derived" / "oci"), f"{registry.host}/team/expiring:latest")
    client = RegistryClient(registry.host)
    service.lifetime = 2  # expires_in: 2
    try:
        client.get_manifest("team/expiring", "latest")
        issued = len(service.issued)
        client.get_manifest("team/expiring", "latest")
        assert len(service.issued) == issued  # still fresh: reused
        time.sleep(2.1)
        client.get_manifest("team/expiring", "latest")
        assert len(service.issued) == issued + 1
    finally:
        service.lifetime = 300


def test_refused_token_is_replaced(token_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    """A cached token the registry no longer accepts (revoked, or expired by its clock) is
    dropped and replaced once."""
    registry, service = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", registry.host))
    push(str(data_dir / "derived" / "oci"), f"{registry.host}/team/refused:latest")
    client = RegistryClient(registry.host)
    client.get_manifest("team/refused", "latest")
    scope = client.scope("team/refused")
    service.spoil_next = True
    revoked = service.token(USER, [f"{scope}"])  # signed for another audience: refused
    client.auth.tokens.put(client.auth.scope_tokens[scope], revoked, 300)
    client.transcript.clear()
    client.get_manifest("team/refused", "latest")
    assert client.transcript.table()["status"].tolist() == [401, 200, 200]  # refused, new token, manifest


def test_ca_certificates_are_read_for_tls_only(registry, tls_registry, data_dir, isolated_cache, monkeypatch):
    """Loading a CA bundle takes ~30 ms: a registry spoken to in plain HTTP never loads one,
    the first TLS connection does (and verifies with it)."""
    from imgexplore.registry.tls import tls_context

    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)  # the default trust: certifi's bundle
    tls_context.cache_clear()  # a context of this process not yet used by an earlier test
    plain = RegistryClient(registry.host)
    push(str(data_dir / "derived" / "oci"), f"{registry.host}/plain/derived:latest", client=plain)
    assert imgexplore.open_image(f"{registry.host}/plain/derived:latest").diff_ids
    default_trust = tls_context(None, None, None)
    assert default_trust.cert_store_stats()["x509_ca"] == 0
    tls, _ = tls_registry
    with pytest.raises(imgexplore.RegistryError, match="certificate verify failed"):
        RegistryClient(tls.host, scheme="https").get_manifest("tls/none", "latest")
    assert default_trust.cert_store_stats()["x509_ca"] > 100  # read for that connection
    assert default_trust.verify_mode == ssl.CERT_REQUIRED and default_trust.check_hostname


def test_a_ca_bundle_with_no_certificate_is_named(tls_registry, tmp_path, isolated_cache):
    registry, _ = tls_registry
    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(
        imgexplore.InvalidArgumentError, match=r"CA certificates .*bundle\.pem: cannot be used"
    ):
        RegistryClient(registry.host, ca_bundle=str(bad)).get_manifest("tls/none", "latest")


def test_tls_verified_by_default(tls_registry, data_dir, isolated_cache):
    registry, ca_path = tls_registry
    host = registry.host
    with pytest.raises(imgexplore.RegistryError, match="certificate verify failed"):
        push(
            str(data_dir / "derived" / "oci"),
            f"{host}/tls/derived:latest",
            client=RegistryClient(host, scheme="https"),
        )
    options = imgexplore.RegistryOptions(ca_bundle=ca_path)
    push(str(data_dir / "derived" / "oci"), f"{host}/tls/derived:latest", registry=options)
    image = imgexplore.open_image(f"{host}/tls/derived:latest", registry=options)
    assert image.source.client.base.startswith("https://")
    assert image.compute_diff_ids() == image.diff_ids
