"""Unpack a layer tar into a directory the way Docker's overlay2 driver does (moby
``pkg/archive.UnpackLayer`` with the overlay whiteout converter):

* whiteout ``dir/.wh.name`` → a character device 0:0 at ``dir/name``;
* opaque marker ``dir/.wh..wh..opq`` → the xattr ``trusted.overlay.opaque=y`` on ``dir``;
* aufs metadata under ``/.wh..wh.*`` is skipped;
* modes (set-uid/gid and sticky included), owners, xattrs and modification times as the tar
  says; directories' times set last; missing parents made 0755.

Whiteout devices and ``trusted.*`` xattrs need root. Without it, the layer is written the way
rootless engines write theirs: the whiteout as a 0:0 character device is impossible, so it is
kept as the ``.wh.`` file (fuse-overlayfs' convention) and the opaque flag goes to
``user.overlay.opaque`` (the kernel's ``userxattr`` mount option). :class:`Unpacked` says which.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import UnsafePathError

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = ".wh..wh."
OPAQUE_XATTR = "trusted.overlay.opaque"
ROOTLESS_OPAQUE_XATTR = "user.overlay.opaque"


@dataclass
class Unpacked:
    """What unpacking one layer did."""

    privileged: bool  # whiteouts as devices, trusted.* xattrs, owners applied
    entries: int = 0
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)


def is_privileged() -> bool:
    """Whether this process can make device nodes and set ``trusted.*`` xattrs (root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_layer(members: list[tarfile.TarInfo], what: str) -> None:
    """Refuse, before anything is written, a layer that cannot be unpacked safely: names that
    leave the directory, writes through a symbolic link of the same layer, hardlinks to
    outside it, and device nodes (which an image has no business creating on the host)."""
    links: set[str] = set()
    for member in members:
        path = _clean(member.name)
        if path is None:
            raise UnsafePathError(f"{what}: {member.name!r} would be written outside the layer directory")
        parent = path
        while "/" in parent:
            parent = parent.rpartition("/")[0]
            if parent in links:
                raise UnsafePathError(
                    f"{what}: {member.name!r} would be written through the symbolic link {parent}"
                )
        if member.issym():
            links.add(path)
        elif member.islnk() and _clean(member.linkname) is None:
            raise UnsafePathError(
                f"{what}: hardlink {member.name!r} points outside the layer ({member.linkname!r})"
            )
        elif (member.ischr() or member.isblk()) and not (member.devmajor == 0 and member.devminor == 0):
            raise UnsafePathError(
                f"{what}: {member.name!r} is a device node; refusing to create it on the host"
            )


def _clean(name: str) -> str | None:
    """The path relative to the layer root ('' for the root), or None if it escapes."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def unpack(
    tar_stream: BinaryIO, dest: str, *, privileged: bool | None = None, lowers: list[str] | None = None
) -> Unpacked:
    """Unpack the (uncompressed) layer tar into ``dest`` as overlay2 stores it. Call
    :func:`check_layer` on the layer's members first.

    A directory the tar implies (``tmp/x`` with no ``tmp/`` entry) is made 0755 root, as
    Docker does; given ``lowers`` (the layers below, nearest first), it copies the mode, owner
    and times of the directory the nearest lower layer has there, as containerd does."""
    privileged = is_privileged() if privileged is None else privileged
    done = Unpacked(privileged=privileged)
    directories: list[tuple[str, tarfile.TarInfo]] = []
    with tarfile.open(fileobj=tar_stream, mode="r|", format=tarfile.PAX_FORMAT) as tar:
        for member in tar:
            path = _clean(member.name)
            if path is None:  # check_layer refuses these; never written
                raise UnsafePathError(f"{member.name!r} would be written outside the layer directory")
            if path == "":
                continue  # the root entry: the directory exists (moby skips it too)
            head, _, base = path.rpartition("/")
            if path.startswith(AUFS_META) and path != OPAQUE:
                continue
            done.entries += 1
            parent = os.path.join(dest, head) if head else dest
            _make_parents(dest, head, lowers)
            target = os.path.join(parent, base)
            if base == OPAQUE:
                os.setxattr(parent, OPAQUE_XATTR if privileged else ROOTLESS_OPAQUE_XATTR, b"y")
                done.opaque_dirs.append(head)
                continue
            if base.startswith(WHITEOUT_PREFIX) and privileged:
                hidden = os.path.join(parent, base[len(WHITEOUT_PREFIX) :])
                os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0))
                os.chown(hidden, member.uid, member.gid, follow_symlinks=False)
                done.whiteouts.append(hidden[len(dest) + 1 :])
                continue
            if base.startswith(WHITEOUT_PREFIX):
                done.whiteouts.append(path)
            _replace(target, member)
            _create(tar, member, target, dest, privileged)
            if member.isdir():
                directories.append((target, member))
            else:
                _finish(target, member, privileged)
    for target, member in reversed(directories):
        _finish(target, member, privileged)
    return done


def _make_parents(dest: str, head: str, lowers: list[str] | None) -> None:
    current, relative = dest, ""
    for part in head.split("/") if head else []:
        current, relative = os.path.join(current, part), os.path.join(relative, part)
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            os.chmod(current, 0o755)
            for lower in lowers or []:
                try:
                    below = os.lstat(os.path.join(lower, relative))
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(below.st_mode):
                    with contextlib.suppress(PermissionError):  # without root: this user's
                        os.chown(current, below.st_uid, below.st_gid)
                    os.chmod(current, stat.S_IMODE(below.st_mode))
                    os.utime(current, ns=(below.st_atime_ns, below.st_mtime_ns))
                break
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(f"{current} is not a directory: refusing to write below it")


def _replace(target: str, member: tarfile.TarInfo) -> None:
    """A later entry of the same path wins, except that a directory stays a directory."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        if member.isdir():
            return
        import shutil

        shutil.rmtree(target)
    else:
        os.unlink(target)


def _create(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str, dest: str, privileged: bool) -> None:
    if member.isdir():
        if not os.path.isdir(target):
            os.mkdir(target, 0o700)
    elif member.isreg():
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            while source is not None and (chunk := source.read(1 << 20)):
                out.write(chunk)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        os.link(os.path.join(dest, _clean(member.linkname)), target, follow_symlinks=False)
    elif member.isfifo():
        os.mkfifo(target, 0o600)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        if privileged:
            os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            open(target, "wb").close()  # an unprivileged stand-in, as rootless engines do
    else:
        raise UnsafePathError(f"{member.name!r}: tar entry type {member.type!r} is not supported")


def _finish(target: str, member: tarfile.TarInfo, privileged: bool) -> None:
    """Owner, xattrs, mode and times, in that order (chown clears set-uid bits). A hardlink's
    header is applied too: it shares its target's inode, so the last header of it wins, as in
    Docker."""
    if privileged:
        os.chown(target, member.uid, member.gid, follow_symlinks=False)
    for key, value in (member.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            if privileged or name.startswith("user."):
                raw = value.encode("utf-8", "surrogateescape")
                os.setxattr(target, name, raw, follow_symlinks=False)
    if not member.issym():
        os.chmod(target, member.mode & 0o7777)
    os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
