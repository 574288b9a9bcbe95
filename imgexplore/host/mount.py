"""The overlay mount an engine makes of a layer stack, and the same mount made for real.

Docker (overlay2) passes ``lowerdir=`` the layers below, nearest first, as their short links
(``ROOT/overlay2/l/XXXX``), then ``upperdir=`` and ``workdir=`` of the container's own layer.
Mount data must fit in one page (4096 bytes on x86-64): 128 layers of 64-hex cache-ids would
not, which is why the 26-character links exist; when even those are too long, Docker switches
to paths relative to ``ROOT/overlay2`` and mounts from there (moby ``overlay2.get``).
containerd's overlayfs snapshotter passes absolute ``snapshots/<n>/fs`` paths instead.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from ..errors import MissingDependencyError, MountError


@dataclass(frozen=True)
class OverlayMount:
    """``mount -t overlay overlay -o OPTIONS TARGET``, run from ``cwd`` when the options are
    relative (the page-size fallback)."""

    options: str
    target: str
    cwd: str | None = None

    @property
    def command(self) -> list[str]:
        return ["mount", "-t", "overlay", "overlay", "-o", self.options, self.target]

    @property
    def lowerdirs(self) -> list[str]:
        for option in self.options.split(","):
            if option.startswith("lowerdir="):
                return option[len("lowerdir=") :].split(":")
        return []


def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def docker_mount(root: str | os.PathLike, cache_id: str, *, page_size: int | None = None) -> OverlayMount:
    """The mount Docker makes of layer ``cache_id`` of the data root ``root``: for a
    container's read-write layer (one with ``work/`` and whose layer is not committed) its
    lowers, upper and work; for an image layer the read-only form overlay2 uses for a layer
    it will not write to (its own ``diff`` first, then its lowers). Nothing is mounted."""
    root = os.fspath(root)
    home = os.path.join(root, "overlay2")
    layer = os.path.join(home, cache_id)
    if not os.path.isdir(layer):
        raise MountError(f"{layer}: no such layer directory")
    lower_file = os.path.join(layer, "lower")
    lowers = open(lower_file).read().split(":") if os.path.exists(lower_file) else []
    page_size = page_size or _page_size()
    writable = os.path.isdir(os.path.join(layer, "work")) and not os.path.exists(
        os.path.join(layer, "committed")
    )
    merged = os.path.join(layer, "merged")

    def options(diff: str, work: str, lower: list[str]) -> str:
        if writable:
            return f"lowerdir={':'.join(lower)},upperdir={diff},workdir={work}"
        return "lowerdir=" + ":".join([diff, *lower])

    absolute = options(
        os.path.join(layer, "diff"), os.path.join(layer, "work"), [os.path.join(home, p) for p in lowers]
    )
    if len(absolute) <= page_size - 1:
        return OverlayMount(absolute, merged)
    relative = options(os.path.join(cache_id, "diff"), os.path.join(cache_id, "work"), lowers)
    if len(relative) > page_size - 1:
        raise MountError(
            f"cannot mount layer {cache_id}: its mount data ({len(relative)} bytes) exceeds a page"
        )
    return OverlayMount(relative, os.path.join(cache_id, "merged"), cwd=home)


def mount(spec: OverlayMount, target: str | None = None, *, read_only: bool = False) -> str:
    """Mount for real (root only). Returns the mount point; :func:`unmount` it after."""
    target = target or (os.path.join(spec.cwd, spec.target) if spec.cwd else spec.target)
    os.makedirs(target, exist_ok=True)
    options = spec.options + (",ro" if read_only else "")
    command = ["mount", "-t", "overlay", "overlay", "-o", options, target]
    try:
        done = subprocess.run(command, cwd=spec.cwd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise MissingDependencyError("mounting needs util-linux's mount command") from exc
    if done.returncode != 0:
        raise MountError(f"mount -t overlay failed: {done.stderr.strip() or done.returncode}")
    return target


def unmount(target: str) -> None:
    """Undo :func:`mount`."""
    subprocess.run(["umount", target], check=True, capture_output=True)
