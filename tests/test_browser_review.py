"""Real browser: a correction clicked in the review widget survives a kernel restart and reaches the push.

JupyterLab on 127.0.0.1, Debian chromium driven by Playwright, a live kernel. A small notebook builds
three labelled rows (two doubtful), shows ``df.ai.review(...)``, and prints ``review.apply(df)``. The
test clicks the right label for the first doubtful row in the widget, restarts the kernel through
Jupyter's REST API, runs the notebook again and checks that ``review.apply`` now carries the
correction: the decision lived in the SQLite store under ``$AIKIT_HOME``, not in the kernel or the
widget state. A screenshot of the widget is written to ``reports/screenshots/review.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from browser_kit import KERNEL_IDLE, chromium_page, chromium_ready, jupyter_lab, open_notebook, run_all_cells

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "reports" / "screenshots" / "review.png"

CELLS = [
    """import aikit, pandas as pd
labels = ["BILLING_ISSUE", "PRODUCT_ISSUE", "GENERAL_INQUIRY"]
df = pd.DataFrame({
    "id": ["101", "102", "103"],
    "subject": ["Charged twice", "How do I add a user?", "App crashes"],
    "content": ["Two payments this month.", "We hired two people.", "It crashes on save."],
    "ai_category": pd.Categorical(["BILLING_ISSUE", "PRODUCT_ISSUE", "PRODUCT_ISSUE"], categories=labels),
    "ai_category_confidence": [0.97, 0.41, 0.62],
})
review = df.ai.review("ai_category", threshold=0.9, text=["subject", "content"])
review""",
    """print("applied:", review.apply(df)["ai_category"].tolist())""",
]


def _notebook(root: Path) -> str:
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}
            for src in CELLS
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "review.ipynb").write_text(json.dumps(nb))
    return "review.ipynb"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_a_clicked_correction_survives_a_kernel_restart(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    root.mkdir()
    name = _notebook(root)
    with jupyter_lab(root, tmp_path) as (base_url, token), sync_playwright() as p, chromium_page(p) as page:
        open_notebook(page, base_url, token, name)
        first = run_all_cells(page, timeout_s=120)
        assert not first.errors, first.errors
        assert "applied: ['BILLING_ISSUE', 'PRODUCT_ISSUE', 'PRODUCT_ISSUE']" in first.stream_text
        widget = page.locator(".aikit-review")
        widget.wait_for(timeout=30_000)
        assert "102" in widget.inner_text()  # the least confident row comes first
        widget.locator("button", has_text="GENERAL_INQUIRY").click()
        page.wait_for_function(
            "() => document.querySelector('.aikit-review').innerText.includes('1 decided')", timeout=30_000
        )
        assert "103" in widget.inner_text()  # it moved on to the next doubtful row
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        widget.screenshot(path=str(SHOT))

        kernels = httpx.get(f"{base_url}/api/kernels", params={"token": token}).json()
        assert len(kernels) == 1
        url = f"{base_url}/api/kernels/{kernels[0]['id']}/restart"
        restart = httpx.post(url, params={"token": token}, timeout=60)
        assert restart.status_code == 200, restart.text
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        page.wait_for_timeout(500)
        second = run_all_cells(page, timeout_s=120)
        assert not second.errors, second.errors
    assert "applied: ['BILLING_ISSUE', 'GENERAL_INQUIRY', 'PRODUCT_ISSUE']" in second.stream_text
