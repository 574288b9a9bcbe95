"""The explorer notebook in a real browser: JupyterLab on 127.0.0.1, headless Chromium
(Debian's) driven by Playwright. Runs the notebook, changes the selected layer in the
widget, and checks that the file table and the figure follow. A screenshot is saved in
test-artifacts/."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from browser import BROWSER_ARGS, CHROMIUM, chromium_page, need_chromium

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    need_chromium()
    from registry_server import free_port

    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("figures"))
    shutil.copytree(ROOT / "data", work / "data")
    port, token = free_port(), "imgexplore-browser-test"
    env = {
        **os.environ,
        "IMGEXPLORE_CACHE": str(work / "cache"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
    }
    log = open(work / "lab.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work / 'notebooks'}",
            f"--LabApp.workspaces_dir={work / 'workspaces'}",
            "--allow-root",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail("JupyterLab did not start: " + (work / "lab.log").read_text()[-2000:])
    yield base, token
    process.terminate()
    process.wait(20)


def test_explorer_follows_the_selected_layer(jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{base}/lab/tree/00_explorer.ipynb?token={token}")
        page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=90_000)  # the kernel is up
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        explorer = page.locator(".imgexplore-explorer")
        try:
            explorer.wait_for(timeout=90_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "explorer-failed.png"), full_page=True)
            raise
        caption = explorer.locator(".imgexplore-caption")
        expect(caption).to_contain_text("layer 5", timeout=60_000)
        figure = explorer.locator("img").first
        figure.wait_for(timeout=30_000)
        before = figure.get_attribute("src")
        table = explorer.locator("table").first
        expect(table).to_contain_text("app/README.md")

        explorer.locator(".widget-dropdown select").nth(1).select_option(value=None, index=2)
        expect(caption).to_contain_text("layer 2 (23 entries)", timeout=30_000)
        expect(table).to_contain_text("app/bin/server-hardlink")
        expect(table).not_to_contain_text("app/README.md")
        page.wait_for_function(
            "before => { const img = document.querySelector('.imgexplore-explorer img');"
            " return img && img.getAttribute('src') !== before; }",
            arg=before,
            timeout=30_000,
        )

        explorer.get_by_role("button", name="merged").click()
        expect(caption).to_contain_text("merged view after layer 2", timeout=30_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)

        # layer 3 deletes /etc/motd (from layer 0) and /tmp/build (layer 2, three entries below it)
        explorer.get_by_role("button", name="layer", exact=True).click()
        explorer.locator(".widget-dropdown select").nth(1).select_option(index=3)
        expect(caption).to_contain_text("layer 3 (3 entries)", timeout=30_000)
        expect(table).to_contain_text("deletes etc/motd (from layer 0)")
        expect(table).to_contain_text("deletes tmp/build (from layer 2) and 3 entries below it")

        path_box = explorer.locator(".widget-text input").nth(1)
        path_box.fill("*.json")
        path_box.press("Enter")
        expect(caption).to_contain_text("layer 3 (1 entry)", timeout=30_000)
        expect(table).to_contain_text("app/config.json")
        expect(table).not_to_contain_text("etc/.wh.motd")
        path_box.fill("*.yaml")
        path_box.press("Enter")
        expect(caption).to_contain_text("nothing matches *.yaml", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "explorer-filter.png"), full_page=True)

        # a bad IMAGE: the error, and nothing left of the image shown before
        image_box = explorer.locator(".widget-text input").first
        image_box.fill("../data/no-such-image")
        explorer.get_by_role("button", name="Open").click()
        expect(explorer).to_contain_text("error:", timeout=30_000)
        expect(explorer).to_contain_text("no-such-image")
        expect(explorer.locator("table")).to_have_count(0, timeout=30_000)
        expect(explorer.locator("img")).to_have_count(0)
        expect(explorer).not_to_contain_text("app/config.json")
        browser.close()
    assert (ARTIFACTS / "explorer.png").stat().st_size > 10_000


def test_the_report_fits_a_1280_pixel_screen(tmp_path, data_dir):
    """The report's index.html, opened in Chromium at 1280 px: nothing wider than the window
    (full digests once made it 3,021 px wide)."""
    need_chromium()
    import imgexplore
    from imgexplore.report import build_report

    result = build_report(imgexplore.open_image(data_dir / "teaching" / "oci"), tmp_path / "report")
    with chromium_page(1280) as page:
        page.goto(pathlib.Path(result["index"]).as_uri())
        width = page.evaluate("document.documentElement.scrollWidth")
        code_titles = page.locator("code[title^='sha256:']").count()
    assert width <= 1280
    assert code_titles > 10  # digests shortened, the whole value on hover
