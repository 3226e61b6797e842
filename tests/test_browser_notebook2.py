"""Real browser: notebook 2 (CRM batch analysis) runs top to bottom in JupyterLab, as an analyst sees it.

JupyterLab on 127.0.0.1, Debian chromium driven by Playwright, a live kernel (no ``AIKIT_HEADLESS``):
the demo CRM and the offline model start inside the kernel. The test runs all cells of a copy of the
notebook with ``max_tickets = 12`` and checks that

- every code cell executed and none produced an error;
- each batch showed its live progress widget, and each widget reached its end: it was replaced by the
  static summary (``aikit batch: 12 rows ...: 12 ok``) and no progress bar is left on the page;
- the matplotlib charts rendered as images, the review queue stayed on the page as a widget, and the
  confident rows' labels were pushed and read back from the CRM.

A screenshot of the whole notebook is written to ``reports/screenshots/notebook2.png``, and one of the
first live progress bar to ``notebook2_running.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_kit import (
    KERNEL_IDLE,
    chromium_page,
    chromium_ready,
    jupyter_lab,
    open_notebook,
    run_all_cells,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_crm_batch_analysis.ipynb"
SCREENSHOT = REPO / "reports" / "screenshots" / "notebook2.png"
RUNNING_SHOT = REPO / "reports" / "screenshots" / "notebook2_running.png"
MAX_TICKETS = 12
RUN_ALL_TIMEOUT_S = 300

#: The finished batch summaries and the chart images, as rendered in the page.
RENDERED = """() => {
  const nb = window.jupyterapp.shell.currentWidget.node;
  const summaries = [...nb.querySelectorAll('.jp-OutputArea-output.jp-RenderedHTMLCommon code')]
    .map(e => e.textContent).filter(t => t.startsWith('aikit batch'));
  const images = [...nb.querySelectorAll('.jp-OutputArea-output img')]
    .filter(img => !img.closest('.aikit-report'))  // the report shown inline carries its own copies
    .map(img => ({w: img.naturalWidth, h: img.naturalHeight, shown: img.getBoundingClientRect().width}));
  return {summaries, images};
}"""

SUMMARY = re.compile(
    rf"aikit batch: {MAX_TICKETS} rows in [\d.]+ s: {MAX_TICKETS} ok \(\d+ cached\), 0 failed, 0 skipped; "
)


def _prepare(root: Path) -> int:
    """Copy notebook 2 into ``root`` with ``max_tickets = 12``; return how many batches it runs."""
    nb = json.loads(NOTEBOOK.read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "notebook 2 needs exactly one cell tagged 'parameters'"
    source, n = re.subn(
        r"^max_tickets\s*=\s*\w+", f"max_tickets = {MAX_TICKETS}", "".join(params[0]["source"]), flags=re.M
    )
    assert n == 1, "the parameters cell has no max_tickets line"
    params[0]["source"] = source
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":  # as committed; run_all_cells reads execution counts
            cell["execution_count"], cell["outputs"] = None, []
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    (root / NOTEBOOK.name).write_text(json.dumps(nb, indent=1))
    return len(re.findall(r"\.ai\.(?:classify|map|extract)\(", code))


def _screenshot(page: Any) -> None:
    """The whole notebook in one image: left sidebar collapsed, viewport as tall as the notebook."""
    page.evaluate(
        "() => { if (!window.jupyterapp.shell.leftCollapsed)"
        " window.jupyterapp.commands.execute('application:toggle-left-area'); }"
    )
    height = page.evaluate(
        "() => Math.max(...[...window.jupyterapp.shell.currentWidget.node"
        ".querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1400, "height": min(16000, int(height) + 200)})
    page.evaluate("() => window.jupyterapp.shell.currentWidget.content.scrollToItem(0)")
    page.wait_for_timeout(1000)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_notebook2_runs_in_jupyterlab_with_live_progress_and_charts(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    root.mkdir()
    batches = _prepare(root)
    assert batches >= 1
    with jupyter_lab(root, tmp_path) as (base_url, token), sync_playwright() as p, chromium_page(p) as page:
        open_notebook(page, base_url, token, NOTEBOOK.name)
        run = run_all_cells(page, timeout_s=RUN_ALL_TIMEOUT_S, running_shot=RUNNING_SHOT)
        assert not run.errors, f"a cell failed: {run.errors[0]['ename']}: {run.errors[0]['evalue']}"
        page.wait_for_function(KERNEL_IDLE, timeout=30_000)
        rendered = page.evaluate(RENDERED)
        _screenshot(page)
    print(f"run-all took {run.seconds:.1f} s")

    # Every code cell ran, without an error or a traceback on stderr.
    assert all(c["count"] is not None for c in run.state["code"])
    assert "Traceback" not in run.stream_text

    # The live widget was shown (not the headless log lines) and every batch reached its end.
    assert run.most_bars >= 1, "no progress widget was seen while the batches ran"
    assert run.state["bars"] == 0, "a progress bar is still on the page"
    widget_views = [o for o in run.outputs if "application/vnd.jupyter.widget-view+json" in o["mimes"]]
    assert len(widget_views) == 1, "only the review queue stays a widget in the outputs"
    assert "aikit batch" not in run.stream_text  # the headless LogView would print it
    html_summaries = [o["html"] for o in run.outputs if "aikit batch" in (o["html"] or "")]
    assert len(html_summaries) == batches
    assert len(rendered["summaries"]) == batches, rendered["summaries"]
    for line in rendered["summaries"]:
        assert SUMMARY.match(line), line

    # The charts rendered: images decoded and laid out, one per image output in the model.
    png_outputs = sum("image/png" in o["mimes"] for o in run.outputs)
    assert png_outputs >= 1
    assert len(rendered["images"]) == png_outputs
    assert all(img["w"] > 100 and img["h"] > 100 and img["shown"] > 100 for img in rendered["images"])

    # The insights landed in the CRM.
    assert f"{MAX_TICKETS} tickets to label" in run.stream_text
    pushed = re.search(r"pushing (\d+) of (\d+) tickets; (\d+) wait for review", run.stream_text)
    assert pushed and int(pushed[2]) == MAX_TICKETS and int(pushed[1]) + int(pushed[3]) == MAX_TICKETS
    assert f"{pushed[1]} of {pushed[1]} pushed tickets carry the pushed insights" in run.stream_text
    assert SCREENSHOT.stat().st_size > 50_000
