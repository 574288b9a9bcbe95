"""Shared fixtures: the sample data in data/ and the real-world fixtures in ../shared/realdata."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
pytest_plugins = ["authfixtures"]

REALDATA = pathlib.Path(os.environ.get("IMGEXPLORE_REALDATA", ROOT.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


@pytest.fixture(scope="session")
def realdata() -> pathlib.Path:
    if not (REALDATA / "INDEX.json").is_file():
        pytest.skip(f"real-world fixtures not found at {REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def realdata_index(realdata) -> dict[str, dict]:
    entries = json.loads((realdata / "INDEX.json").read_text())
    if isinstance(entries, dict):
        entries = next(v for v in entries.values() if isinstance(v, list))
    return {e["local_path"]: e for e in entries}


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """An anonymous registry (schema 1 compatibility on) on 127.0.0.1, for the session."""
    from registry_server import start_registry

    server = start_registry(str(tmp_path_factory.mktemp("registry")))
    yield server
    server.stop()


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A fresh imgexplore cache and an empty docker config for one test."""
    monkeypatch.setenv("IMGEXPLORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return tmp_path / "cache"


@pytest.fixture
def connection_reads(monkeypatch):
    """The sizes of the reads long bodies take from their connection itself
    (``imgexplore.rawhttp.read``, counted; the real read still runs)."""
    from imgexplore import rawhttp

    taken: list[int] = []
    real = rawhttp.read

    def counted(stream, max_bytes, timeout):
        data = real(stream, max_bytes, timeout)
        taken.append(len(data))
        return data

    monkeypatch.setattr(rawhttp, "read", counted)
    return taken
