"""Shared fixtures: the sample data in data/ and the real-world fixtures in ../shared/realdata."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
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
