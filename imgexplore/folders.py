"""Folders the user names for output (reports, extractions, layouts, datasets)."""

from __future__ import annotations

import os

from .errors import OutputPathError


def make_folder(path: str | os.PathLike, what: str) -> str:
    """Create the output folder ``path`` (and its parents) if needed; a clear error of the
    library's own type when it is a file or cannot be created."""
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        reason = "it is a file" if os.path.exists(path) and not os.path.isdir(path) else exc.strerror
        raise OutputPathError(f"cannot use {path!r} as the {what}: {reason}") from None
    return path
