"""Independent tools the tests check imgexplore against (GNU tar, gzip, zstd, sha256sum)."""

from __future__ import annotations

import shlex
import subprocess


def sh(command: str) -> str:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], check=True, capture_output=True, text=True
    ).stdout


def diff_id_of_file(path: str) -> str:
    """sha256 of the uncompressed bytes, decompressing with the command-line tools."""
    q = shlex.quote(str(path))
    magic = open(path, "rb").read(4)
    if magic[:2] == b"\x1f\x8b":
        out = sh(f"gzip -dc {q} | sha256sum")
    elif magic == b"\x28\xb5\x2f\xfd":
        out = sh(f"zstd -dc {q} | sha256sum")
    else:
        out = sh(f"sha256sum < {q}")
    return "sha256:" + out.split()[0]


def diff_id_of_member(archive: str, member: str) -> str:
    """The same for a member of a tar archive (extracted to stdout by GNU tar)."""
    a, m = shlex.quote(str(archive)), shlex.quote(member)
    magic = subprocess.run(["tar", "-xOf", str(archive), member], check=True, capture_output=True).stdout[:4]
    if magic[:2] == b"\x1f\x8b":
        out = sh(f"tar -xOf {a} {m} | gzip -dc | sha256sum")
    elif magic == b"\x28\xb5\x2f\xfd":
        out = sh(f"tar -xOf {a} {m} | zstd -dc | sha256sum")
    else:
        out = sh(f"tar -xOf {a} {m} | sha256sum")
    return "sha256:" + out.split()[0]


def tar_entry_count(path: str, compressed: str = "") -> int:
    """Entries GNU tar lists in a layer tar."""
    flag = {"gzip": "z", "zstd": "--zstd ", "": ""}[compressed]
    return (
        len(sh(f"tar -t{flag}f {shlex.quote(str(path))}").splitlines())
        if flag != "--zstd "
        else len(sh(f"tar --zstd -tf {shlex.quote(str(path))}").splitlines())
    )
