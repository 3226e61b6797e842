"""Real browser (JupyterLab + Debian chromium): a key typed into the auth notebook never reaches the file.

JupyterLab is configured to *save widget state* (``saveState: true``), the setting under which a
pre-filled or uncleared password box would be written into the .ipynb; the test proves the state is
saved and the canary is not in it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "04_auth.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "reports" / "screenshots"
CANARY = "sk-CANARY-" + "browser-91b2"  # built at runtime: the literal never sits in one string
KERNEL_IDLE = (
    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium_ready() -> bool:
    try:
        apt_ok = "rc=0" in Path("/tmp/apt.log").read_text(errors="replace").splitlines()[-1]
    except (OSError, IndexError):
        apt_ok = CHROMIUM.exists()
    return apt_ok and CHROMIUM.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab on 127.0.0.1 with a random token, serving a tmp copy of the auth notebook."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyter-widgets" / "jupyterlab-manager"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AIKIT_HEADLESS", "AIKIT_DEMO_API_KEY", "CI")}
    env |= {"AIKIT_HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")}
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.token={token}",
            "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the server and its kernels share one process group we own
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
            time.sleep(0.25)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", root / NOTEBOOK.name
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(not _chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_typed_key_is_not_in_the_saved_notebook(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    url, saved_path = lab
    before = saved_path.stat().st_mtime_ns
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
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
        finally:
            browser.close()
    assert saved_path.stat().st_mtime_ns != before, "the notebook was not saved"
    text = saved_path.read_text()
    saved = json.loads(text)
    assert any(c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code"), "saved without outputs"
    assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
    assert "Password" in json.dumps(saved["metadata"]["widgets"])
    assert CANARY not in text
