"""What ``docker create`` adds on top of an image, and what a running container changed.

Docker gives every container two layers of its own in ``overlay2/``: ``<mount-id>-init``,
holding the files every container needs the engine to provide (``/etc/hosts``,
``/etc/resolv.conf``, ``/etc/hostname``, ``/dev/console``, ``/.dockerenv``, the mount points
``/proc``, ``/sys``, ``/dev/pts``, ``/dev/shm``, and ``/etc/mtab -> /proc/mounts``), and
``<mount-id>``, the empty read-write layer that becomes the container's upper directory.
``image/overlay2/layerdb/mounts/<container id>/`` records ``mount-id``, ``init-id`` and the
image's top chain id as ``parent`` (moby ``daemon/initlayer``, ``layer/mounted_layer.go``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

import pandas as pd

from ..errors import InvalidArgumentError
from ..filetree.tarlist import COLUMNS
from .ids import IdSource

# moby daemon/initlayer: path -> "dir", "file" or a symlink target; files and dirs are 0755
INIT_LAYER = {
    "dev/pts": "dir",
    "dev/shm": "dir",
    "proc": "dir",
    "sys": "dir",
    ".dockerenv": "file",
    "etc/resolv.conf": "file",
    "etc/hosts": "file",
    "etc/hostname": "file",
    "dev/console": "file",
    "etc/mtab": "/proc/mounts",
}


@dataclass(frozen=True)
class Container:
    """The ids of a container's layers in a Docker data root."""

    container_id: str
    mount_id: str
    init_id: str
    parent: str  # the image's top chain id


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    with open(path, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def _layer_dir(home: str, name: str, lower: str, ids: IdSource) -> str:
    """overlay2/<name> with diff/, link, lower and work/, and its short link in l/."""
    directory = os.path.join(home, name)
    os.makedirs(os.path.join(directory, "diff"))
    os.chmod(directory, 0o710)
    os.chmod(os.path.join(directory, "diff"), 0o755)
    os.makedirs(os.path.join(directory, "work"))
    os.chmod(os.path.join(directory, "work"), 0o700)
    link = ids.link_id()
    _write(os.path.join(directory, "link"), link.encode())
    _write(os.path.join(directory, "lower"), lower.encode())
    os.symlink(os.path.join("..", name, "diff"), os.path.join(home, "l", link))
    return directory


def create_container(root: str | os.PathLike, chain_id: str, *, seed: int | None = None) -> Container:
    """Write what ``docker create`` writes in the data root ``root`` for a container of the
    image whose top layer is ``chain_id``: the init layer with its files, the empty read-write
    layer, and ``layerdb/mounts/<id>/``. (The container's config under ``containers/`` is not
    written.)"""
    root = os.fspath(root)
    home = os.path.join(root, "overlay2")
    chain_dir = os.path.join(root, "image", "overlay2", "layerdb", "sha256", chain_id.partition(":")[2])
    if not os.path.isdir(chain_dir):
        raise InvalidArgumentError(f"{chain_id} is not a layer of the store at {root}")
    ids = IdSource(seed)
    container_id, mount_id = ids.cache_id(), ids.cache_id()
    parent_cache = open(os.path.join(chain_dir, "cache-id")).read()
    parent_dir = os.path.join(home, parent_cache)
    parent_lower = os.path.join(parent_dir, "lower")
    image_lowers = "l/" + open(os.path.join(parent_dir, "link")).read()
    if os.path.exists(parent_lower):
        image_lowers += ":" + open(parent_lower).read()
    init_dir = _layer_dir(home, mount_id + "-init", image_lowers, ids)
    _write(os.path.join(parent_dir, "committed"), b"", 0o600)
    _fill_init_layer(os.path.join(init_dir, "diff"))
    init_link = open(os.path.join(init_dir, "link")).read()
    _layer_dir(home, mount_id, f"l/{init_link}:{image_lowers}", ids)
    _write(os.path.join(init_dir, "committed"), b"", 0o600)
    mounts = os.path.join(root, "image", "overlay2", "layerdb", "mounts", container_id)
    os.makedirs(mounts)
    os.chmod(mounts, 0o755)
    _write(os.path.join(mounts, "mount-id"), mount_id.encode())
    _write(os.path.join(mounts, "init-id"), (mount_id + "-init").encode())
    _write(os.path.join(mounts, "parent"), chain_id.encode())
    return Container(container_id, mount_id, mount_id + "-init", chain_id)


def _fill_init_layer(diff: str) -> None:
    for path, kind in INIT_LAYER.items():
        target = os.path.join(diff, path)
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
            os.chmod(parent, 0o755)
        if kind == "dir":
            os.makedirs(target, 0o755)
            os.chmod(target, 0o755)
        elif kind == "file":
            _write(target, b"", 0o755)
        else:
            os.symlink(kind, target)


def directory_table(directory: str | os.PathLike) -> pd.DataFrame:
    """An unpacked layer (an upper dir, a ``diff/``) as a layer table like a tar's listing,
    overlay's markers turned back into the image format's: a 0:0 character device is the
    whiteout ``.wh.NAME``, a directory with ``trusted.overlay.opaque=y`` (or ``user.``) gets
    an opaque marker ``.wh..wh..opq``. Then every image rule (changes, merged views) applies."""
    directory = os.fspath(directory)
    rows = []
    for parent, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, directory)
            info = os.lstat(path)
            row = {
                "path": relative,
                "size": 0,
                "mode": stat.S_IMODE(info.st_mode),
                "uid": info.st_uid,
                "gid": info.st_gid,
                "uname": "",
                "gname": "",
                "mtime": int(info.st_mtime),
                "linkname": "",
                "whiteout": None,
                "opaque": False,
                "sha256": None,
                "xattrs": None,
            }
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                head, _, base = relative.rpartition("/")
                marker = f"{head}/.wh.{base}" if head else f".wh.{base}"
                rows.append({**row, "path": marker, "type": "file", "whiteout": relative})
                continue
            if stat.S_ISDIR(info.st_mode):
                rows.append({**row, "type": "dir"})
                if _is_opaque(path):
                    rows.append({**row, "path": f"{relative}/.wh..wh..opq", "type": "file", "opaque": True})
            elif stat.S_ISLNK(info.st_mode):
                rows.append({**row, "type": "symlink", "linkname": os.readlink(path)})
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                rows.append({**row, "type": "file", "size": info.st_size, "sha256": digest})
            else:
                kind = (
                    "fifo"
                    if stat.S_ISFIFO(info.st_mode)
                    else "char"
                    if stat.S_ISCHR(info.st_mode)
                    else "block"
                )
                rows.append({**row, "type": kind})
    return pd.DataFrame(rows, columns=COLUMNS)


def _is_opaque(path: str) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def container_changes(image, upper: str | os.PathLike, init: str | os.PathLike | None = None) -> pd.DataFrame:
    """What a container changed: its upper directory classified against the image (and the
    init layer, when given) with the image layers' own vocabulary — added, modified (content,
    metadata, type…) and deleted (whiteout, opaque)."""
    from ..filetree.rules import layer_changes

    tables = [table.assign(path=table["path"].astype(str)) for table in image.files().tables]
    if init is not None:
        tables.append(directory_table(init))
    tables.append(directory_table(upper))
    return layer_changes(tables, len(tables) - 1)
