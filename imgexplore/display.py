"""How the model shows itself without importing the code that draws it: presentation
modules register a renderer per kind (``image-html``, ``image-text``…) with :func:`renders`,
and :func:`render` loads them on first use. ``imgexplore.image`` and ``imgexplore.manifest``
stay free of presentation imports, and a terminal command pays for HTML code it never runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable

_RENDERERS: dict[str, Callable] = {}
_PRESENTATION = "imgexplore.present"


def renders(kind: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the renderer of ``kind``."""

    def register(function: Callable) -> Callable:
        _RENDERERS[kind] = function
        return function

    return register


def render(kind: str, obj) -> str:
    """``obj`` rendered as ``kind``, loading the presentation code the first time."""
    if kind not in _RENDERERS:
        importlib.import_module(_PRESENTATION)
    return _RENDERERS[kind](obj)
