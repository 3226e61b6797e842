"""Headless notebook runs (nbclient, like nbconvert/papermill): plain log lines and a summary, no widget.

The notebook runs in a real kernel (``python3`` of this venv) started by nbclient in a subprocess,
against a fake provider served from this test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aikit.testing import FakeConfig, FakeProvider

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CELLS = [
    """
    import os
    import pandas as pd
    import aikit
    ai = aikit.AI("compat:fake-model", base_url=os.environ["FAKE_URL"], api_key="sk-notebook")
    df = pd.DataFrame({"t": [f"row {i}" for i in range(30)]})
    """,
    """
    out = df.ai.map("Say {t}", ai=ai, into="answer")
    print("answers:", int(out["answer"].notna().sum()))
    """,
    """
    forced = df.ai.map("Shout {t}", ai=ai, into="answer", progress=True)  # widget even headless
    """,
]

RUNNER = """
import sys, nbformat
from nbclient import NotebookClient
for source, target in zip(sys.argv[1::2], sys.argv[2::2]):
    nb = nbformat.read(source, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120, store_widget_state=True).execute()
    nbformat.write(nb, target)
"""


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    """The notebook's key is the one the fake requires (and a canary: it must not reach any output)."""
    return FakeConfig(api_key="sk-notebook", latency_median_s=0.01)


def test_headless_notebook_has_log_lines_and_no_widget(fake: FakeProvider, tmp_path: Path) -> None:
    paths = []
    for name, cells in (("auto", CELLS[:2]), ("forced", [CELLS[0], CELLS[2]])):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(src).strip()) for src in cells]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
        paths += [str(tmp_path / f"{name}.ipynb"), str(tmp_path / f"{name}.out.ipynb")]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JPY_SESSION_NAME", "AIKIT_HEADLESS", "AIKIT_PROGRESS")
    }
    env.update(FAKE_URL=fake.base_url, AIKIT_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *paths],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = nbformat.read(tmp_path / "auto.out.ipynb", as_version=4)
    auto = out.cells[1].outputs
    streams = {
        name: "".join(o.get("text", "") for o in auto if o.output_type == "stream" and o.get("name") == name)
        for name in ("stdout", "stderr")
    }
    # auto mode in a headless kernel: no widget at all, a few log lines on stderr, a summary on stdout
    assert not any(WIDGET_VIEW in o.get("data", {}) for o in auto)
    assert "widgets" not in out.metadata  # no widget was ever created: no widget state saved
    log_lines = [
        line for line in streams.get("stderr", "").splitlines() if line.startswith("INFO aikit.batch")
    ]
    assert 1 <= len(log_lines) <= 7, streams
    assert "30 rows, 0 cached, 30 to call" in log_lines[0]
    assert (
        "aikit batch: 30 rows in" in streams["stdout"] and "30 ok (0 cached), 0 failed" in streams["stdout"]
    )
    assert "answers: 30" in streams["stdout"]
    # forced widget: shown while running, then replaced in place by a static HTML summary
    forced_nb = nbformat.read(tmp_path / "forced.out.ipynb", as_version=4)
    forced = forced_nb.cells[1].outputs
    assert not any(WIDGET_VIEW in o.get("data", {}) for o in forced), json.dumps(forced)[:2000]
    html = [o["data"]["text/html"] for o in forced if "text/html" in o.get("data", {})]
    assert len(html) == 1 and "30 ok (0 cached), 0 failed" in html[0]
    for saved_nb in (out, forced_nb):
        saved = json.dumps([c.get("outputs", []) for c in saved_nb.cells]) + json.dumps(saved_nb.metadata)
        assert "sk-notebook" not in saved  # the key is in the source only, never in outputs or state
