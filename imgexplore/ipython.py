"""In a Jupyter notebook (an IPython kernel), show imgexplore's own errors as the one line
that says what went wrong and what to do, not a traceback through the library's code.

Installed when :mod:`imgexplore` is imported inside IPython; other errors are untouched."""

from __future__ import annotations

import sys


def _one_line(shell, etype, value, tb, tb_offset=None) -> list[str]:
    lines = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, lines)  # IPython leaves the showing to the handler
    return lines


def install(shell=None) -> bool:
    """Show :class:`~imgexplore.ImgExploreError` as one line in ``shell`` (default: the
    running IPython, if any). Returns whether it was installed."""
    if shell is None:
        ipython = sys.modules.get("IPython")  # never import IPython where it is not running
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    from .errors import ImgExploreError

    shell.set_custom_exc((ImgExploreError,), _one_line)
    return True
