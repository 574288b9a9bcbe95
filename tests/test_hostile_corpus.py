"""Every case of the hostile-input corpus does what it states: lists harmlessly ("ok") or
ends in the named imgexplore error with a message matching the case."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from hostile_corpus import OUT, cases

import imgexplore
from imgexplore import errors
from imgexplore.compression import open_decompressed
from imgexplore.filetree.tarlist import list_tar

CASES = cases()


def run(case):
    if case.kind == "manifest":
        return imgexplore.parse_manifest(case.data)
    if case.kind == "tar":
        return list_tar(io.BytesIO(case.data))
    if case.kind == "blob":
        stream, _ = open_decompressed(io.BytesIO(case.data), max_uncompressed_bytes=16 * 1024 * 1024)
        return list_tar(stream)
    if case.kind == "reference":
        return imgexplore.parse_reference(case.data.decode())
    raise AssertionError(case.kind)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case):
    if case.expect == "ok":
        listing = run(case)
        assert len(listing) >= 1  # listed, nothing written anywhere
        return
    expected = getattr(errors, case.expect)
    with pytest.raises(expected) as info:
        run(case)
    assert isinstance(info.value, errors.ImgExploreError)
    if case.message:
        assert re.search(case.message, str(info.value)), str(info.value)


def test_checked_in_corpus_matches_the_code():
    index = json.loads((Path(OUT) / "cases.json").read_text())
    assert [entry["name"] for entry in index] == [c.name for c in CASES]
    for entry, case in zip(index, CASES, strict=True):
        assert entry["expect"] == case.expect
        if entry["file"]:
            assert (Path(OUT) / entry["file"]).read_bytes() == case.data, entry["name"]
