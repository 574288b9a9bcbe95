"""The on-disk cache: where it lives, how files get into it without ever leaving a
half-written entry behind, what it holds, and how to clean it."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


def cache_root() -> pathlib.Path:
    """``$IMGEXPLORE_CACHE``, else ``$XDG_CACHE_HOME/imgexplore``, else ``~/.cache/imgexplore``."""
    explicit = os.environ.get("IMGEXPLORE_CACHE")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "imgexplore"


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, durable: bool = True) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path`` and rename it into place only if the block
    finishes; on any error the temporary file is removed and ``path`` is untouched. With
    ``durable`` the data reaches the disk before the rename (fsync); without, a crash may
    leave a short file, which readers that verify digests catch and remake."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


LEFTOVER_SUFFIX = ".partial"


def _parts(root: pathlib.Path) -> dict[str, list[pathlib.Path]]:
    parts: dict[str, list[pathlib.Path]] = {"blobs": [], "file tables": [], "leftovers": [], "other": []}
    if not root.is_dir():
        return parts
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.name.endswith(LEFTOVER_SUFFIX):
            parts["leftovers"].append(path)
        elif path.relative_to(root).parts[0] == "blobs":
            parts["blobs"].append(path)
        elif path.relative_to(root).parts[0] == "filetree":
            parts["file tables"].append(path)
        else:
            parts["other"].append(path)
    return parts


def cache_usage(root: str | os.PathLike | None = None) -> list[dict]:
    """What the cache holds: one row per part (``blobs``, ``file tables`` — Arrow IPC listings
    and digest aliases —, ``leftovers`` — temporary files of interrupted writes —, ``other``)
    with its number of files and bytes."""
    root = pathlib.Path(root) if root is not None else cache_root()
    return [
        {"part": name, "files": len(paths), "bytes": sum(_size(p) for p in paths)}
        for name, paths in _parts(root).items()
    ]


def remove_leftovers(root: str | os.PathLike | None = None, *, older_than: float = 3600.0) -> list[str]:
    """Delete the temporary files of writes that never finished (a process killed while
    downloading), once untouched for ``older_than`` seconds — younger ones may belong to a
    download still running. Returns the paths removed. Complete entries are never touched."""
    import time

    root = pathlib.Path(root) if root is not None else cache_root()
    cutoff = time.time() - older_than
    removed = []
    for path in _parts(root)["leftovers"]:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime <= cutoff:
                path.unlink()
                removed.append(str(path))
    return removed


def _size(path: pathlib.Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def clear_cache(root: str | os.PathLike | None = None) -> int:
    """Delete every blob and file table (only imgexplore's own folders, ``blobs`` and
    ``filetree``, whatever else the cache folder holds). Returns the bytes freed."""
    import shutil

    root = pathlib.Path(root) if root is not None else cache_root()
    parts = _parts(root)
    freed = sum(_size(p) for name in ("blobs", "file tables", "leftovers") for p in parts[name])
    for folder in ("blobs", "filetree"):
        shutil.rmtree(root / folder, ignore_errors=True)
    return freed
