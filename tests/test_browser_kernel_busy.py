"""Real browser: the kernel says "busy" for as long as a batch cell with a progress widget runs.

The cause this guards against: when a cell shows its first widget, JupyterLab's widget manager sends
ipykernel 7 a ``create_subshell_request``; the kernel answers it on its control thread and publishes
``status: idle`` for it while the cell is still running, and JupyterLab and jupyter-server take that
as the kernel's state. ``aikit._batch.progress.KernelBusy`` re-publishes ``busy`` with the cell's own
parent once a second. The test runs a batch against the fake provider (slow answers: the cell runs
for about 12 s) in JupyterLab and samples both the browser's ``kernel.status`` and the server's
``/api/kernels`` ``execution_state`` while the progress bar is on the page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_kit import chromium_page, chromium_ready, jupyter_lab, notebook_state, open_notebook

from aikit.testing import FakeConfig, FakeProvider

ROWS = 24
FAKE_KEY = "sk-fake-busy-test-0123456789"
#: An idle reading this long while the cell runs means the status is wrong, not just a blip before
#: the next beat (beats come once a second; a reading is taken every 0.25 s).
MAX_IDLE_RUN_S = 1.6


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    # Two requests at a time (the local model's pace), ~1 s each: 24 rows take about 12 s.
    return FakeConfig(api_key=FAKE_KEY, latency_median_s=1.0, latency_sigma=0.01, latency_max_s=2.0)


@pytest.fixture
def lab(tmp_path: Path, fake: FakeProvider) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path / "root"
    root.mkdir()
    cells = [
        "import aikit, pandas as pd\n"
        f"ai = aikit.AI('compat:fake', base_url={fake.base_url!r}, api_key={FAKE_KEY!r}, max_concurrency=2)\n"
        f"df = pd.DataFrame({{'text': [f'ticket {{i}}' for i in range({ROWS})]}})",
        "out = df.ai.classify('{text}', labels=['positive', 'neutral', 'negative'], ai=ai, into='label')",
        "len(out)",
    ]
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": s,
            }
            for i, s in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "busy.ipynb").write_text(json.dumps(nb))
    with jupyter_lab(root, tmp_path) as (base_url, token):
        yield base_url, token, root


def _longest_idle(samples: list[tuple[float, str | None]]) -> float:
    longest, start = 0.0, None
    for t, status in samples:
        if status == "idle":
            start = t if start is None else start
            longest = max(longest, t - start)
        else:
            start = None
    return longest


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_kernel_reports_busy_while_a_batch_cell_with_a_widget_runs(lab: tuple[str, str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    base_url, token, _root = lab
    headers = {"Authorization": f"token {token}"}
    with sync_playwright() as p, chromium_page(p) as page:
        open_notebook(page, base_url, token, "busy.ipynb")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        browser: list[tuple[float, str | None]] = []
        server: list[tuple[float, str | None]] = []
        bar_seen = False
        trace: list[object] = []
        started = time.monotonic()
        while time.monotonic() - started < 240:
            state = notebook_state(page)
            trace.append(([c["count"] for c in state["code"]], state["bars"], state["status"]))
            batch_running = state["code"][0]["count"] is not None and state["code"][1]["count"] is None
            if batch_running and state["bars"]:
                bar_seen = True
                now = time.monotonic() - started
                browser.append((now, state["status"]))
                kernels = httpx.get(f"{base_url}/api/kernels", headers=headers, timeout=5).json()
                server.append((now, kernels[0]["execution_state"]))
            if all(c["count"] is not None for c in state["code"]) and state["status"] == "idle":
                break
            time.sleep(0.25)
        final = notebook_state(page)
    errors = [
        f"{o['ename']}: {o['evalue']}" for c in final["code"] for o in c["outputs"] if o["type"] == "error"
    ]
    assert not errors
    assert bar_seen, f"the progress widget never showed while the batch cell ran: {trace}"
    assert len(browser) >= 10, f"too few readings while the cell ran: {browser}"
    # Busy throughout (an idle reading only in the instant before the next beat), idle at the end.
    assert _longest_idle(browser) < MAX_IDLE_RUN_S, f"JupyterLab said idle mid-cell: {browser}"
    assert _longest_idle(server) < MAX_IDLE_RUN_S, f"the kernels API said idle mid-cell: {server}"
    assert sum(s == "busy" for _, s in browser) >= 0.8 * len(browser), browser
    assert final["status"] == "idle"
    kernels = httpx.get(f"{base_url}/api/kernels", headers=headers, timeout=5).json()
    assert kernels[0]["execution_state"] == "idle"
