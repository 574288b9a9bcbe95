"""Debian's Chromium, driven by Playwright, for the tests that look at what a user sees."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root in a closed network: no sandbox, and no background calls to Google's hosts
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need_chromium() -> None:
    """Skip, saying why, where the browser or Playwright is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")


@contextmanager
def chromium_page(width: int = 1280, height: int = 900):
    """A headless Chromium page of the given viewport."""
    from playwright.sync_api import sync_playwright

    need_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
