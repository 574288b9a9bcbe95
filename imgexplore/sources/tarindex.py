"""Random access to the members of a tar file (docker save archives, OCI layout tars)."""

from __future__ import annotations

import posixpath
import re
import tarfile
from typing import BinaryIO

from ..errors import ArchiveError, BlobNotFoundError


def normalize_member_name(name: str) -> str:
    """``./blobs//sha256/x`` → ``blobs/sha256/x``."""
    name = posixpath.normpath(name.lstrip("/"))
    return "" if name == "." else name


def _reason(exc: BaseException) -> str:
    """One line for why tarfile could not open a file: it lists every decompression it
    tried, one per line; the last line is the plain tar's own reason."""
    last = (str(exc).splitlines() or [type(exc).__name__])[-1]
    quoted = re.search(r"'([^']+)'", last)
    return quoted.group(1) if quoted and last.lstrip("- ").startswith("method") else last


MAX_LINK_HOPS = 8


class TarIndex:
    """Lists a tar file's members once, then opens any regular member by name."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._tar = tarfile.open(path, mode="r:*")
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ArchiveError(f"{path}: not a readable tar archive ({_reason(exc)})") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in members:
            self._members[normalize_member_name(member.name)] = member

    def __contains__(self, name: str) -> bool:
        member = self._member(name)
        return member is not None and member.isfile()

    def _member(self, name: str) -> tarfile.TarInfo | None:
        """The member named, with symlinks and hardlinks inside the archive followed to the
        regular file they stand for (Bazel's rules_docker and go-containerregistry write a
        repeated layer as a symlink to the first copy's ``layer.tar``)."""
        member = self._members.get(normalize_member_name(name))
        for _ in range(MAX_LINK_HOPS):
            if member is None or not (member.issym() or member.islnk()):
                return member
            if member.issym():
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
            else:
                target = member.linkname
            member = self._members.get(normalize_member_name(target))
        raise ArchiveError(f"{self.path}: member {name!r} is a link in a chain of over {MAX_LINK_HOPS} links")

    def size(self, name: str) -> int | None:
        member = self._member(name)
        return member.size if member is not None and member.isfile() else None

    def open(self, name: str) -> BinaryIO:
        member = self._member(name)
        if member is None:
            raise BlobNotFoundError(f"{self.path}: no member {name!r}")
        try:
            stream = self._tar.extractfile(member)
        except (tarfile.TarError, KeyError, OSError) as exc:
            raise ArchiveError(f"{self.path}: cannot read member {name!r} ({exc})") from None
        if stream is None:
            raise ArchiveError(f"{self.path}: member {name!r} is not a regular file")
        return stream

    def read(self, name: str, max_bytes: int) -> bytes:
        with self.open(name) as stream:
            try:
                data = stream.read(max_bytes + 1)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ArchiveError(f"{self.path}: member {name!r} is truncated ({exc})") from None
        if len(data) > max_bytes:
            from ..errors import LimitExceededError

            raise LimitExceededError(f"{self.path}: member {name!r} is over {max_bytes} bytes")
        return data

    def close(self) -> None:
        self._tar.close()
