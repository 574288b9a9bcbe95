"""Progress bars that appear where a person is watching (a terminal or a notebook) and cost
nothing elsewhere (CI logs, pipes, benchmarks)."""

from __future__ import annotations

import sys


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, *, enabled: bool | None = None, **tqdm_options):
    """A ``tqdm.auto`` bar (a widget in notebooks), or a silent stand-in when ``enabled`` is
    False, when nothing is watching (``enabled=None``), or when there is nothing to count.
    tqdm is imported only when a bar is shown."""
    if enabled is None:
        enabled = sys.stderr.isatty() or "ipykernel" in sys.modules
    if not enabled or not total:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, **tqdm_options)
