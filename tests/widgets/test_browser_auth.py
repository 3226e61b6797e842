"""Real browser (JupyterLab + Debian chromium): a key typed into the auth notebook never reaches the file.

JupyterLab is configured to *save widget state* (``saveState: true``), the setting under which a
pre-filled or uncleared password box would be written into the .ipynb; the test proves the state is
saved and the canary is not in it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import KERNEL_IDLE, chromium_page, chromium_ready, jupyter_lab

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "04_auth.ipynb"
SCREENSHOTS = REPO / "reports" / "screenshots"
CANARY = "sk-CANARY-" + "browser-91b2"  # built at runtime: the literal never sits in one string


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab saving widget state (the leak path), serving a tmp copy of the auth notebook."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    with jupyter_lab(root, tmp_path, save_widget_state=True) as (base, token):
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", root / NOTEBOOK.name


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_typed_key_is_not_in_the_saved_notebook(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    url, saved_path = lab
    before = saved_path.stat().st_mtime_ns
    with sync_playwright() as p, chromium_page(p) as page:
        page.goto(url, timeout=90_000)
        page.wait_for_function(KERNEL_IDLE, timeout=90_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        password = page.locator(".jupyter-widgets input[type=password]").first
        password.wait_for(timeout=60_000)
        assert password.input_value() == ""  # never pre-filled
        password.fill(CANARY)
        page.locator(".widget-button:has-text('Save')").first.click()
        page.locator(".widget-html:has-text('● connected')").first.wait_for(timeout=30_000)
        assert password.input_value() == ""  # cleared by the kernel callback, synced back
        # Wait for run-all to finish (the last cell stops the servers), then save with Ctrl+S.
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.locator(".jp-Notebook").first.click()
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while saved_path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "auth_notebook_browser.png"), full_page=True)
    assert saved_path.stat().st_mtime_ns != before, "the notebook was not saved"
    text = saved_path.read_text()
    saved = json.loads(text)
    assert any(c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code"), "saved without outputs"
    assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
    assert "Password" in json.dumps(saved["metadata"]["widgets"])
    assert CANARY not in text
