"""Valid but unusual images, through every command a user runs on one image: no layers at all
(``FROM scratch`` plus metadata), an empty tar, a layer of nothing but a whiteout, a zero-byte
tar, a 5,000-character command, no history, history without times. Each command must succeed
(no traceback), and the numbers must be right."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tarmaker import tar_bytes, write_layout

ONE = tar_bytes([{"name": "etc/a", "data": b"x"}])
IMAGES = {
    "no-layers": ([], [{"created_by": "LABEL a=b", "empty_layer": True}]),
    "empty-tar": ([tar_bytes([])], [{"created_by": "RUN true"}]),
    "only-a-whiteout": ([ONE, tar_bytes([{"name": "etc/.wh.a"}])], None),
    "zero-byte-tar": ([b""], None),
    "long-command": ([ONE], [{"created_by": "RUN " + "x" * 5000}]),
    "no-history": ([ONE], []),
    "undated-history": (
        [ONE, ONE],
        [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD a"}, {"created_by": "RUN b"}],
    ),
}
COMMANDS = [
    ["inspect"],
    ["history"],
    ["layers"],
    ["tree"],
    ["tree", "--changes"],
    ["waste"],
    ["dag"],
    ["report", "-o"],
]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    return {
        name: write_layout(root / name, layers, history=history) for name, (layers, history) in IMAGES.items()
    }


def imgexplore(*args) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "imgexplore", *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", IMAGES)
def test_every_command_works(images, name, tmp_path):
    for command in COMMANDS:
        extra = [tmp_path / "report"] if command[0] == "report" else []
        imgexplore(command[0], images[name], *command[1:], *extra)


def test_the_numbers(images):
    assert "layers:       0 (0 empty)" in imgexplore("inspect", images["no-layers"])
    assert json.loads(imgexplore("tree", images["no-layers"], "--format", "json")) == []
    waste = json.loads(imgexplore("waste", images["only-a-whiteout"], "--format", "json"))
    assert waste["summary"]["wasted_bytes"] == 1  # the one byte of etc/a, deleted by layer 1
    changes = json.loads(imgexplore("tree", images["only-a-whiteout"], "--changes", "--format", "json"))
    assert [(c["layer"], c["path"], c["change"]) for c in changes] == [
        (0, "etc/a", "added"),
        (1, "etc/a", "deleted"),
    ]
    layers = json.loads(imgexplore("layers", images["zero-byte-tar"], "--format", "json", "--diff-ids"))
    assert layers[0]["diff_id"] == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    history = json.loads(imgexplore("history", images["long-command"], "--format", "json"))
    assert len(history[0]["created_by"]) == 5004  # kept whole in data; only tables shorten it
