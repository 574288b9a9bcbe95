"""Images the host-side tests pull into real engines: one sharing the teaching image's base
layers with everything unpacking must get right, and one that can run."""

from __future__ import annotations

from tarmaker import tar_bytes, write_layout

import imgexplore

ROOT = __import__("conftest").ROOT
BUSYBOX = "/bin/busybox"  # Debian's busybox-static: an image that can run


def derived_image(folder) -> str:
    """An image on teaching's first two layers (recompressed: other blob digests, the same
    diff_ids, so the same chain ids) and a layer with what unpacking must get right: owners,
    set-uid, xattrs, an opaque directory, whiteouts, hard and symbolic links, a FIFO."""
    teaching = imgexplore.open_image(ROOT / "data" / "teaching" / "oci")
    base = [layer.open_tar().read() for layer in teaching.layers[:2]]
    own = tar_bytes(
        [
            {"name": "usr/", "type": "dir"},
            {"name": "usr/share/", "type": "dir", "mode": 0o750},
            {"name": "usr/share/.wh..wh..opq", "data": b""},
            {"name": "usr/share/only-this", "data": b"the rest is hidden\n"},
            {"name": "usr/bin/", "type": "dir"},
            {"name": "usr/bin/.wh.tool", "data": b""},
            {"name": "usr/bin/su", "data": b"#!/bin/sh\n", "mode": 0o4755},
            {"name": "usr/bin/su-again", "type": "hardlink", "linkname": "usr/bin/su"},
            {"name": "home/", "type": "dir", "mode": 0o755},
            {"name": "home/worker/", "type": "dir", "mode": 0o700, "uid": 1000, "gid": 1000},
            {"name": "home/worker/notes", "data": b"x" * 700, "uid": 1000, "gid": 1000, "mode": 0o600,
             "pax_headers": {"SCHILY.xattr.user.origin": "imgexplore-test"}},
            {"name": "home/worker/link", "type": "symlink", "linkname": "notes", "uid": 1000, "gid": 1000},
            {"name": "run/pipe", "type": "fifo", "mode": 0o620},
            {"name": "tmp/", "type": "dir", "mode": 0o1777},
        ]
    )  # fmt: skip
    return write_layout(folder / "oci", [*base, own])


def busybox_layer_entries() -> list[dict]:
    """A static busybox as /bin/sh, and /etc/motd and /etc/issue to read or change."""
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    return [
        {"name": "bin/", "type": "dir"},
        {"name": "bin/busybox", "data": binary, "mode": 0o755},
        {"name": "bin/sh", "type": "symlink", "linkname": "busybox"},
        {"name": "etc/", "type": "dir"},
        {"name": "etc/motd", "data": b"welcome\n"},
        {"name": "etc/issue", "data": b"imgexplore test image\n"},
    ]


def busybox_image(folder) -> str:
    """One layer: a static busybox as /bin/sh, and files for the container to read or change."""
    return write_layout(folder / "oci", [tar_bytes(busybox_layer_entries())])
