"""The counts in tests/RELIABILITY.md are the suite's real counts."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from hostile_corpus import cases

DOC = (Path(__file__).parent / "RELIABILITY.md").read_text()


def stated(pattern: str) -> int:
    match = re.search(pattern, DOC)
    assert match, pattern
    return int(match.group(1).replace(",", ""))


def count_tests(path: str) -> int:
    """Tests pytest collects from a file (parametrised cases counted one by one)."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / path),
        ],
        capture_output=True,
        text=True,
    ).stdout
    return sum(1 for line in out.splitlines() if "::" in line)


def test_counts():
    corpus = cases()
    kinds = Counter(c.kind for c in corpus)
    assert stated(r"Hostile input — (\d+) corpus cases") == len(corpus)
    assert stated(r"\| manifests [^|]*\| (\d+) \|") == kinds["manifest"]
    assert stated(r"\| layer tars [^|]*\| (\d+) \|") == kinds["tar"]
    assert stated(r"\| compressed streams [^|]*\| (\d+) \|") == kinds["blob"]
    assert stated(r"\| image references \| (\d+) \|") == kinds["reference"]
    import test_fuzz

    targets = sum(1 for name in dir(test_fuzz) if name.startswith("test_"))
    assert stated(r"Fuzzing — (\d+) targets") == targets
    assert stated(r"× ([\d,]+) examples in CI") == test_fuzz.EXAMPLES
    assert stated(r"and (\d+) hostile-tar tests") == count_tests("test_hostile_tars.py")
    assert stated(r"Secrets — (\d+) tests") == count_tests("test_secrets.py")
    assert stated(r"Faults between client and registry — (\d+) cases") == count_tests("test_faults.py")
    assert stated(r"Inputs as real tools write them — (\d+) tests") == count_tests(
        "test_real_world_inputs.py"
    )
