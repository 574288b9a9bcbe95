"""Reading one file out of an image, and extracting files to disk — safely.

Extraction never writes outside the target folder: paths with ``..`` or that are absolute
are refused, no path component under the target may be a symlink (so a symlink from the
image cannot redirect a later write), device nodes and FIFOs are never created, set-uid
bits are dropped, and files over a size limit are refused unless the caller raises it."""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .analysis.tarlist import normalize_path, shown_name
from .errors import ArchiveError, ImgExploreError, LimitExceededError
from .folders import make_folder

if TYPE_CHECKING:
    import pandas as pd

    from .image import Image

DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
MAX_SYMLINK_HOPS = 40


class UnsafePathError(ImgExploreError):
    """A path would escape the extraction folder (``..``, absolute, or through a symlink)."""


@dataclass
class ExtractReport:
    """What :func:`extract` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _entry(image: Image, path: str, layer: int | None) -> pd.Series:
    files = image.files()
    table = files.merged() if layer is None else files.layer(layer)
    rows = table[table["path"] == path]
    if rows.empty:
        where = "the image" if layer is None else f"layer {layer}"
        raise ImgExploreError(f"{path!r} is not in {where}")
    row = rows.iloc[-1]
    if layer is not None:
        row = row.copy()
        row["layer"] = layer
    return row


def resolve(image: Image, path: str, layer: int | None = None) -> pd.Series:
    """The entry at ``path`` after following symlinks (inside the image) and hardlinks."""
    path = normalize_path(path)
    for _ in range(MAX_SYMLINK_HOPS):
        row = _entry(image, path, layer)
        if row["type"] == "symlink":
            target = row["linkname"]
            base = "" if target.startswith("/") else posixpath.dirname(path)
            path = normalize_path(posixpath.normpath(posixpath.join("/", base, target)))
            continue
        if row["type"] == "hardlink":
            target = normalize_path(row["linkname"])
            return _entry(image, target, int(row["layer"]))
        return row
    raise ImgExploreError(f"{path!r}: more than {MAX_SYMLINK_HOPS} symlinks (a loop?)")


def _members(image: Image, layer: int):
    """(member, file object) pairs of a layer, streamed (tarfile's streaming mode)."""
    stream = image.layers[layer].open_tar()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                yield member, tar
    except tarfile.TarError as exc:
        raise ArchiveError(f"layer {layer}: {exc}") from None
    finally:
        stream.close()


def read_file(
    image: Image, path: str, *, layer: int | None = None, max_bytes: int | None = DEFAULT_MAX_FILE_SIZE
) -> bytes:
    """The content of a regular file (after symlinks), from the merged view or one layer."""
    row = resolve(image, path, layer)
    if row["type"] != "file":
        raise ImgExploreError(f"{path!r} is a {row['type']}, not a regular file")
    if max_bytes is not None and row["size"] > max_bytes:
        raise LimitExceededError(
            f"{path!r} is {row['size']} bytes, over the limit of {max_bytes} (max_bytes)"
        )
    wanted = row["path"]
    for member, tar in _members(image, int(row["layer"])):
        if normalize_path(shown_name(member.name)) == wanted and member.isfile():
            handle = tar.extractfile(member)
            return handle.read() if handle else b""
    raise ArchiveError(f"{wanted!r} is listed in layer {row['layer']} but was not found when reading it")


def _safe_target(dest: str, path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("..", "") for p in parts):
        raise UnsafePathError(f"refusing to extract {path!r}: it would leave the target folder")
    current = dest
    for part in parts[:-1]:
        current = os.path.join(current, part)
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise UnsafePathError(f"refusing to extract {path!r}: {current} is not a plain folder")
    return os.path.join(dest, *parts)


def extract(
    image: Image,
    path: str,
    dest: str | os.PathLike,
    *,
    layer: int | None = None,
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE,
) -> ExtractReport:
    """Write ``path`` (a file or a whole directory) from the merged view (or one layer) to
    ``dest``, keeping image paths: ``usr/bin/env`` lands at ``dest/usr/bin/env``."""
    path = normalize_path(path)
    dest = os.path.realpath(os.fspath(dest))
    make_folder(dest, "folder to extract into")
    files = image.files()
    table = files.merged() if layer is None else files.layer(layer).assign(layer=layer)
    table = table[table["whiteout"].isna() & ~table["opaque"]]
    inside = (
        (table["path"] == path) | table["path"].str.startswith(path + "/") if path else table["path"] != ""
    )
    wanted = table[inside]
    if wanted.empty:
        raise ImgExploreError(f"{path!r} is not in the image")
    report = ExtractReport()
    if max_file_size is not None:
        big = wanted[(wanted["type"] == "file") & (wanted["size"] > max_file_size)]
        if len(big):
            first = big.iloc[0]
            raise LimitExceededError(
                f"{first['path']!r} is {first['size']} bytes, over the limit of {max_file_size} "
                f"(max_file_size); {len(big)} file(s) are over it"
            )
    for index, group in wanted.groupby("layer"):
        paths = set(group["path"])
        # hardlinks whose target the view does not show (it was replaced by a later layer)
        # still point at this layer's copy: keep that copy aside until the link is made
        links = group[group["type"] == "hardlink"]
        hidden_targets = {normalize_path(t) for t in links["linkname"]} - paths
        kept: dict[str, str] = {}
        try:
            for member, tar in _members(image, int(index)):
                name = normalize_path(shown_name(member.name))  # as the tables show it
                if name in hidden_targets and member.isfile():
                    kept[name] = _keep_aside(dest, member, tar, len(kept))
                    continue
                if name not in paths:
                    continue
                try:
                    _write_member(dest, name, member, tar, report, kept)
                except UnsafePathError as exc:
                    report.skipped.append((name, str(exc)))
        finally:
            for temp in kept.values():
                if os.path.lexists(temp):
                    os.unlink(temp)
    return report


def _keep_aside(dest: str, member: tarfile.TarInfo, tar: tarfile.TarFile, n: int) -> str:
    temp = os.path.join(dest, f".imgexplore-hardlink-{os.getpid()}-{n}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        source = tar.extractfile(member)
        while source is not None and (chunk := source.read(1 << 20)):
            out.write(chunk)
    os.chmod(temp, member.mode & 0o777)
    return temp


def _write_member(
    dest: str,
    name: str,
    member: tarfile.TarInfo,
    tar: tarfile.TarFile,
    report: ExtractReport,
    kept: dict[str, str],
) -> None:
    target = _safe_target(dest, normalize_path(member.name))  # the name's own bytes on disk
    mode = member.mode & 0o777  # no set-uid, set-gid or sticky bits
    if member.isdir():
        if not os.path.lexists(target):
            os.mkdir(target, mode | 0o700)
        elif os.path.islink(target) or not os.path.isdir(target):
            raise UnsafePathError(f"refusing to extract {name!r}: {target} exists and is not a folder")
        report.written.append(name)
    elif member.isfile():
        if os.path.lexists(target):
            if os.path.islink(target) or not os.path.isfile(target):
                raise UnsafePathError(f"refusing to overwrite {target}: not a regular file")
            os.unlink(target)
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode | 0o600
        )
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            while source is not None and (chunk := source.read(1 << 20)):
                out.write(chunk)
        os.chmod(target, mode)
        report.written.append(name)
    elif member.issym():
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(member.linkname, target)  # created, never followed by later writes
        report.written.append(name)
    elif member.islnk():
        source_path = normalize_path(member.linkname)
        shown_source = normalize_path(shown_name(member.linkname))
        if shown_source in kept:
            if os.path.lexists(target):
                os.unlink(target)
            os.link(kept[shown_source], target)
            report.written.append(name)
            return
        try:
            source = _safe_target(dest, source_path)
        except UnsafePathError:
            report.skipped.append((name, f"hardlink to {member.linkname!r} outside the target"))
            return
        if not os.path.isfile(source) or os.path.islink(source):
            report.skipped.append((name, f"hardlink target {member.linkname!r} was not extracted"))
            return
        if os.path.lexists(target):
            os.unlink(target)
        os.link(source, target)
        report.written.append(name)
    else:
        report.skipped.append((name, "device nodes and FIFOs are never created"))
