"""Credentials and tokens never show up in exceptions, logs, the request transcript, CLI
output or notebook outputs, against real registries on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys

import pytest

import imgexplore
from imgexplore.transfer import pull, push

pytest.importorskip("cryptography")
from authfixtures import PASSWORD, USER, docker_config  # noqa: E402

ROOT = __import__("conftest").ROOT


def assert_clean(text: str, service=None):
    assert PASSWORD not in text
    assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text
    for token in service.issued if service else []:
        assert token not in text
        assert token[-40:] not in text


def test_cli_output(basic_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    host = basic_registry.host
    config = docker_config(tmp_path / "docker", host)
    env = {"DOCKER_CONFIG": config, "IMGEXPLORE_CACHE": str(isolated_cache), "PATH": ""}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "imgexplore", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )

    pushed = run("push", "data/derived/oci", f"{host}/secret/derived:latest")
    inspected = run("inspect", f"{host}/secret/derived:latest", "--format", "json")
    wrong = subprocess.run(
        [sys.executable, "-m", "imgexplore", "inspect", f"{host}/secret/derived:latest"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "DOCKER_CONFIG": docker_config(tmp_path / "bad", host, password="hunter2")},
    )
    assert pushed.returncode == 0 and inspected.returncode == 0 and wrong.returncode == 1
    for proc in (pushed, inspected, wrong):
        assert_clean(proc.stdout + proc.stderr)
    assert "hunter2" not in wrong.stderr


def test_logs_and_transcript(token_registry, data_dir, tmp_path, monkeypatch, isolated_cache, caplog):
    registry, service = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", registry.host))
    caplog.set_level(logging.DEBUG)
    push(str(data_dir / "derived" / "oci"), f"{registry.host}/secret/logged:latest")
    image = imgexplore.open_image(f"{registry.host}/secret/logged:latest")
    pull(f"{registry.host}/secret/logged:latest", tmp_path / "layout")
    with pytest.raises(imgexplore.AuthenticationError) as info:
        monkeypatch.setenv(
            "DOCKER_CONFIG", docker_config(tmp_path / "bad", registry.host, password="hunter2")
        )
        imgexplore.open_image(f"{registry.host}/secret/logged:latest")
    assert service.issued
    text = caplog.text + image.transcript.to_csv() + str(info.value) + repr(info.value)
    assert_clean(text, service)
    assert "hunter2" not in text


def test_signed_urls_masked_in_logs(basic_registry, data_dir, tmp_path, monkeypatch, isolated_cache, caplog):
    from authfixtures import pull_through_redirecting_proxy

    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", basic_registry.host))
    caplog.set_level(logging.DEBUG)
    _, client, _ = pull_through_redirecting_proxy(
        basic_registry, data_dir / "derived" / "oci", "secret/redirected", tmp_path / "out"
    )
    assert "s3cr3t" not in caplog.text and "X-Amz-Signature=***" in caplog.text
    assert_clean(caplog.text + client.transcript.table().to_csv())


def test_notebook_outputs(token_registry, data_dir, tmp_path, monkeypatch, isolated_cache):
    """Notebook 01 run against the token registry (its one parameter changed): the request
    transcript it shows has masked Authorization values, and no token or password."""
    import nbformat
    from nbclient import NotebookClient

    registry, service = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", docker_config(tmp_path / "docker", registry.host))
    push(str(data_dir / "teaching" / "oci"), f"{registry.host}/secret/teaching:latest")
    nb = nbformat.read(ROOT / "notebooks" / "01_what_docker_pull_downloads.ipynb", as_version=4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace(
        '"../data/teaching/oci"', f'"{registry.host}/secret/teaching:latest"'
    )
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        coalesce_streams=True,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    # the pull by hand really went through the token flow, and shows it without the token
    assert "WWW-Authenticate: bearer" in outputs
    assert "scope=repository%3Asecret%2Fteaching%3Apull -> 200" in outputs
    assert '\\"access\\"' in outputs  # the token's claims, decoded
    assert "Authorization: Bearer $TOKEN" in outputs and "TOKEN=$(curl" in outputs
    assert_clean(outputs, service)
