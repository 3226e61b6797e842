"""A report run (aikit.report.job.produce): papermill for real, on small notebooks written here.

A good run moves the report into place and writes the summary JSON; a failed run keeps both as they
were and writes ``...-failed.html`` whose first line says what failed; the terminal is told what is
going on (stages, the kernel's lines, a heartbeat in a silent cell) and never sees ipykernel's
"running over TCP without encryption" warning (the kernel runs over IPC).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nbformat
import pytest

from aikit.report.failure import failure_page, trim_traceback
from aikit.report.job import ReportPaths, produce
from aikit.report.notebook import Terminal

GOOD_CELLS = [
    ("code", "report_path = None\nrows = 3", ["parameters"]),
    ("markdown", "# A title\n\nSet-up cells follow.", []),
    ("code", "from aikit.report import Report\nrep = Report('Weekly numbers', source='a test')", []),
    ("markdown", "## 1. Fetch the numbers", []),
    ("code", "print(f'{rows} rows fetched')\nimport time\ntime.sleep(SLEEP)", []),
    ("markdown", "## 2. Save the report", []),
    (
        "code",
        "rep.finding(f'{rows} rows, all fine.')\nrep.note('How this was made', {'rows': rows})\n"
        "if report_path:\n    rep.save(report_path)",
        [],
    ),
]


def _notebook(path: Path, cells: list[tuple[str, str, list[str]]], sleep: float = 0.0) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        source = source.replace("SLEEP", str(sleep))
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_trim_traceback_keeps_the_cell_and_the_raising_frame() -> None:
    chunks = [
        "-" * 75,
        "ConfigError          Traceback (most recent call last)",
        "Cell In[4], line 2\n      1 rep = Report('T')\n----> 2 rep.table([1], 'x')",
        "File /repo/aikit/report/document.py:150, in Report.table(self, df, caption)\n--> 150 frame = ...",
        "File /venv/lib/python3.11/site-packages/pandas/core/frame.py:10, in f()\n---> 10 g()",
        "File /repo/aikit/report/document.py:160, in Report.table(self, df)\n--> 160 raise ConfigError",
        "ConfigError: table needs a pandas DataFrame, got list",
    ]
    text = trim_traceback(chunks)
    assert "Cell In[4], line 2" in text and "ConfigError: table needs a pandas DataFrame" in text
    assert "… 2 library frames hidden …" in text and "frame.py" not in text
    assert "document.py:160" in text  # where it raised stays in view
    page = failure_page("The cell under “2. Save” failed: X. Fix it.", title="r", traceback=chunks)
    first_text = re.sub(r"<[^>]+>", "\n", page.split("<body>", 1)[1]).strip().splitlines()[0]
    assert first_text == "The cell under “2. Save” failed: X. Fix it."
    assert "<details>" in page and "document.py:150" not in page


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_good_run_then_a_failed_run_keeps_the_good_report(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    good = _notebook(tmp_path / "good.ipynb", GOOD_CELLS, sleep=10)
    report = tmp_path / "reports" / "weekly-2026-05-12.html"
    paths = ReportPaths.of(report)
    out = io.StringIO()
    terminal = Terminal("report", stream=out)
    outcome = produce(good, report, {"rows": 7}, terminal=terminal, command="aikit report good.ipynb")
    assert outcome.ok, outcome.reason
    assert "7 rows, all fine." in report.read_text()
    assert json.loads(paths.summary.read_text()) == {"rows": 7}
    assert paths.executed.exists() and not paths.partial.exists() and not paths.failed.exists()
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("| running: setting up"), lines
    assert any("fetching: 1. Fetch the numbers" in line for line in lines), lines
    assert any(line.endswith("|   7 rows fetched") for line in lines), lines
    beat = re.compile(
        r"\| … fetching: 1\. Fetch the numbers \(cell 4 of 5 still running\)$"
    )  # 5: injected cell
    assert any(beat.search(line) for line in lines), lines
    assert any("rendering: 2. Save the report" in line for line in lines), lines
    assert "without encryption" not in capfd.readouterr().err
    good_page, good_summary = report.read_bytes(), paths.summary.read_bytes()

    failing = [*GOOD_CELLS[:-1], ("code", "rep.table([1, 2], 'not a frame')", [])]
    bad = _notebook(tmp_path / "bad.ipynb", failing)
    outcome = produce(
        bad, report, {}, terminal=Terminal("report", stream=io.StringIO()), command="aikit report bad"
    )
    assert not outcome.ok
    assert report.read_bytes() == good_page and paths.summary.read_bytes() == good_summary
    assert not paths.partial.exists()
    page = paths.failed.read_text()
    reason = outcome.reason or ""
    assert reason.startswith("The cell under “2. Save the report” failed: ConfigError: table needs a pandas")
    assert reason.endswith("run again.")
    assert f"<h1 id='reason'>{reason.replace('“', '&ldquo;')}" in page or reason in page
    assert "The last good report is unchanged" in page
    assert (
        "site-packages"
        not in page.split("Traceback", 1)[-1].split("ConfigError: table")[0].split("hidden")[-1]
    )

    outcome = produce(
        good, report, {"rows": 2}, terminal=Terminal("report", stream=io.StringIO()), command="x"
    )
    assert outcome.ok and not paths.failed.exists()  # the fixed run removes the stale failure page
