"""Independent tools the tests check imgexplore against (GNU tar, gzip, zstd, sha256sum)."""

from __future__ import annotations

import shlex
import subprocess


def sh(command: str) -> str:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], check=True, capture_output=True, text=True
    ).stdout


_DECOMPRESS = {b"\x1f\x8b": "gzip -dc", b"\x28\xb5": "zstd -dc"}  # by magic number; else plain


def _pipeline(magic: bytes) -> str:
    return _DECOMPRESS.get(magic[:2], "cat")


def diff_id_of_file(path: str) -> str:
    """sha256 of the uncompressed bytes, decompressing with the command-line tools."""
    magic = open(path, "rb").read(4)
    return "sha256:" + sh(f"{_pipeline(magic)} < {shlex.quote(str(path))} | sha256sum").split()[0]


def diff_id_of_member(archive: str, member: str) -> str:
    """The same for a member of a tar archive (extracted to stdout by GNU tar)."""
    magic = subprocess.run(["tar", "-xOf", str(archive), member], check=True, capture_output=True).stdout[:4]
    extract = f"tar -xOf {shlex.quote(str(archive))} {shlex.quote(member)}"
    return "sha256:" + sh(f"{extract} | {_pipeline(magic)} | sha256sum").split()[0]
