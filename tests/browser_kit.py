"""Real-browser test kit: JupyterLab on 127.0.0.1 and Debian chromium driven by Playwright for Python.

Shared by the browser tests (``@pytest.mark.browser``). Nothing here downloads a browser: it drives
the Debian ``chromium`` package (never ``playwright install``), and the server only listens on
loopback with a random token.

>>> with jupyter_lab(root, tmp_path) as (base_url, token):  # doctest: +SKIP
...     with sync_playwright() as p, chromium_page(p) as page:
...         open_notebook(page, base_url, token, "02_crm_batch_analysis.ipynb")
...         run = run_all_cells(page)
...         assert not run.errors

The JupyterLab it starts is isolated from the user's: its own config, settings, workspaces and runtime
directories under ``tmp_path``, ``AIKIT_HOME`` under ``tmp_path/home``, and no ``AIKIT_HEADLESS`` (the
kernels are live kernels, the path the widgets take). Its settings attach every cell to the DOM
(``windowingMode: none``, so selectors see cells below the fold), add no blank space after the last
cell (``scrollPastEnd: false``) and silence notifications (no news toast over screenshots). On exit
every kernel is shut down through the REST API, then the server's process group is terminated.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "KERNEL_IDLE",
    "RunAll",
    "chromium_page",
    "chromium_ready",
    "jupyter_lab",
    "notebook_state",
    "open_notebook",
    "run_all_cells",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: JavaScript predicate: the kernel of the notebook in the main area is idle.
KERNEL_IDLE = (
    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
)
#: Environment variables a browser test's kernels must not inherit.
_DROPPED_ENV = ("AIKIT_HEADLESS", "AIKIT_PROGRESS", "AIKIT_DEMO_API_KEY", "CI", "JPY_SESSION_NAME")


def chromium_ready() -> bool:
    """True when Debian chromium is installed (and apt, if it ran here, has finished)."""
    try:
        last = Path("/tmp/apt.log").read_text(errors="replace").splitlines()[-1]
        apt_ok = "rc=" not in last or "rc=0" in last
    except (OSError, IndexError):
        apt_ok = True
    return apt_ok and CHROMIUM.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_settings(settings_dir: Path, save_widget_state: bool) -> None:
    files: dict[str, dict[str, Any]] = {
        "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": save_widget_state},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
            "doNotDisturbMode": True,
        },
    }
    for name, values in files.items():
        path = settings_dir / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _shutdown_kernels(base_url: str, token: str) -> None:
    """Ask the server to shut every kernel down (kernels run in their own sessions, not our group)."""
    headers = {"Authorization": f"token {token}"}
    with suppress(httpx.HTTPError, ValueError):
        kernels = httpx.get(f"{base_url}/api/kernels", headers=headers, timeout=5).json()
        for kernel in kernels:
            httpx.delete(f"{base_url}/api/kernels/{kernel['id']}", headers=headers, timeout=30)


@contextmanager
def jupyter_lab(root_dir: Path, tmp_path: Path, save_widget_state: bool = False) -> Iterator[tuple[str, str]]:
    """Run JupyterLab on 127.0.0.1 serving ``root_dir``; yield ``(base_url, token)``.

    Parameters
    ----------
    root_dir : Path
        The folder Lab serves (copy notebooks there; they may be saved over).
    tmp_path : Path
        Scratch space for the server's config, settings, runtime files, log (``lab.log``) and the
        kernels' ``AIKIT_HOME`` (``tmp_path/home``).
    save_widget_state : bool
        The ipywidgets manager's ``saveState`` setting: True writes widget state into saved notebooks.

    Raises
    ------
    RuntimeError
        The server exited or did not answer ``/api/status`` within 90 s (the log tail is attached).
    """
    settings_dir = tmp_path / "lab-settings"
    _write_settings(settings_dir, save_widget_state)
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env |= {
        "AIKIT_HOME": str(tmp_path / "home"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    log_path = tmp_path / "lab.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
                "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root_dir}",
                f"--LabApp.user_settings_dir={settings_dir}",
                f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
                "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
                "--LabApp.extension_manager=readonly",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group we own (kernels get their own sessions)
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while True:
                with suppress(httpx.HTTPError):
                    status = httpx.get(f"{base_url}/api/status", params={"token": token}, timeout=2)
                    if status.status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + log_path.read_text()[-2000:])
                time.sleep(0.25)
            yield base_url, token
        finally:
            if proc.poll() is None:
                _shutdown_kernels(base_url, token)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@contextmanager
def chromium_page(playwright: Any, width: int = 1400, height: int = 1800) -> Iterator[Any]:
    """A fresh headless Debian-chromium page (temporary profile); the browser closes on exit.

    ``playwright`` is the object ``sync_playwright()`` yields.
    """
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser.new_page(viewport={"width": width, "height": height})
    finally:
        browser.close()


def open_notebook(page: Any, base_url: str, token: str, path: str, timeout_s: float = 120) -> None:
    """Open ``path`` (relative to the root dir) in Lab and wait until its kernel is idle."""
    page.goto(f"{base_url}/lab/tree/{path}?token={token}", timeout=timeout_s * 1000)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout_s * 1000)


#: The notebook in the main area, read from JupyterLab's own notebook model (every code cell's
#: execution count and outputs), plus the kernel status and the progress bars on the page.
_NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const code = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    code.push({
      count: cell.executionCount,
      outputs: cell.outputs.toJSON().map(o => ({
        type: o.output_type, ename: o.ename || null, evalue: o.evalue || null,
        text: o.output_type === 'stream' ? [].concat(o.text).join('') : null,
        html: o.data && o.data['text/html'] ? [].concat(o.data['text/html']).join('') : null,
        mimes: o.data ? Object.keys(o.data) : [],
      })),
    });
  }
  return {
    status: panel.sessionContext.session?.kernel?.status ?? null,
    code,
    bars: document.querySelectorAll('.jp-Notebook .widget-hprogress').length,
  };
}"""


def notebook_state(page: Any) -> dict[str, Any]:
    """``{"status", "code": [{"count", "outputs": [{"type", "ename", "evalue", "text", "html",
    "mimes"}]}], "bars"}`` for the notebook in the main area (``bars``: ipywidgets progress bars shown).
    """
    state: dict[str, Any] = page.evaluate(_NOTEBOOK_STATE)
    return state


@dataclass
class RunAll:
    """What :func:`run_all_cells` saw: the final state, the most progress bars shown at once, seconds."""

    state: dict[str, Any]
    most_bars: int
    seconds: float

    @property
    def outputs(self) -> list[dict[str, Any]]:
        return [o for cell in self.state["code"] for o in cell["outputs"]]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [o for o in self.outputs if o["type"] == "error"]

    @property
    def stream_text(self) -> str:
        return "".join(o["text"] or "" for o in self.outputs if o["type"] == "stream")


def run_all_cells(
    page: Any, timeout_s: float = 300, poll_s: float = 0.3, running_shot: Path | None = None
) -> RunAll:
    """Run every cell of the open notebook and wait until all code cells ran and the kernel is idle.

    Open a notebook saved without execution counts (as committed): a count is how a cell shows it ran.
    Returns early when an output is an error (run-all stops there, so waiting longer would only
    time out); check :attr:`RunAll.errors`. With ``running_shot``, the first progress bar seen is
    scrolled into view and the page is photographed there (the live widget, for inspection).

    Raises
    ------
    TimeoutError
        Not done after ``timeout_s`` (the message says how many cells are still pending).
    """
    started = time.monotonic()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    most_bars = 0
    while True:
        state = notebook_state(page)
        if state["bars"] and not most_bars and running_shot is not None:
            page.evaluate(
                "() => document.querySelector('.jp-Notebook .widget-hprogress')"
                "?.scrollIntoView({block: 'center'})"
            )
            running_shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(running_shot))
        most_bars = max(most_bars, state["bars"])
        run = RunAll(state, most_bars, time.monotonic() - started)
        if run.errors or (state["status"] == "idle" and all(c["count"] is not None for c in state["code"])):
            return run
        if run.seconds > timeout_s:
            pending = sum(c["count"] is None for c in state["code"])
            raise TimeoutError(
                f"run-all not done after {timeout_s:.0f} s: {pending} code cells pending, "
                f"kernel {state['status']}"
            )
        time.sleep(poll_s)
