"""Reading one file out of an image, and extracting files to disk — safely.

Extraction never writes outside the target folder: paths with ``..`` or that are absolute
are refused, no path component under the target may be a symlink (so a symlink from the
image cannot redirect a later write), device nodes and FIFOs are never created, set-uid
bits are dropped, and files over a size limit are refused unless the caller raises it."""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ArchiveError, InvalidArgumentError, LimitExceededError, NotInImageError, UnsafePathError
from .filetree.tarlist import normalize_path, shown_name
from .folders import make_folder

if TYPE_CHECKING:
    import pandas as pd

    from .image import Image

DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
MAX_SYMLINK_HOPS = 40


@dataclass
class ExtractReport:
    """What :func:`extract` did."""

    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _lookup(table: pd.DataFrame, path: str) -> pd.Series | None:
    """The entry at ``path`` (the last one, if a layer wrote it twice); a directory that only
    shows as the parent of other entries stands as an implicit directory."""
    rows = table[table["path"] == path]
    if len(rows):
        return rows.iloc[-1]
    if path == "" or table["path"].str.startswith(path + "/").any():
        import pandas as pd

        return pd.Series({"path": path, "type": "dir", "size": 0, "linkname": None})
    return None


def resolve(image: Image, path: str, layer: int | None = None) -> pd.Series:
    """The entry at ``path`` in the merged view (or in one layer), resolved the way the
    kernel resolves a path: component by component, following a symlink wherever it stands
    (``bin/sh`` through ``bin -> usr/bin``), ``..`` against the real parent, at most
    40 symlinks; a hardlink leads to the entry it names."""
    if not isinstance(path, str):
        raise InvalidArgumentError(f"a path is text, not {type(path).__name__}")
    files = image.files()
    table = files.merged() if layer is None else files.layer(layer)
    where = "the image" if layer is None else f"layer {layer}"
    pending = [part for part in normalize_path(path).split("/") if part not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        row = _lookup(table, candidate)
        if row is None:
            raise NotInImageError(f"{path!r} is not in {where} (no {candidate!r})")
        if row["type"] == "symlink":
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise NotInImageError(f"{path!r}: more than {MAX_SYMLINK_HOPS} symlinks (a loop?)")
            target = row["linkname"] or ""
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        if pending and row["type"] != "dir":
            raise NotInImageError(f"{path!r} is not in {where} ({candidate!r} is a {row['type']})")
        resolved.append(part)
    row = _lookup(table, "/".join(resolved)).copy()
    if row["type"] == "hardlink":
        target = normalize_path(row["linkname"])
        row = _lookup(table if layer is not None else files.layer(int(row["layer"])), target)
        if row is None:
            raise NotInImageError(f"{path!r} is a hardlink to {target!r}, which is not in {where}")
        row = row.copy()
    if layer is not None:
        row["layer"] = layer
    return row


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
        raise NotInImageError(f"{path!r} is a {row['type']}, not a regular file")
    if max_bytes is not None and row["size"] > max_bytes:
        raise LimitExceededError(
            f"{path!r} is {row['size']} bytes, over the limit of {max_bytes} (max_bytes)"
        )
    wanted = row["path"]
    content = None
    for member, tar in _members(image, int(row["layer"])):
        if normalize_path(shown_name(member.name)) == wanted and member.isfile():
            handle = tar.extractfile(member)
            content = handle.read() if handle else b""  # a later copy in the layer wins
    if content is None:
        raise ArchiveError(f"{wanted!r} is listed in layer {row['layer']} but was not found when reading it")
    return content


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
        raise NotInImageError(f"{path!r} is not in the image")
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
