"""``aikit demo`` and ``aikit report`` end to end: what the terminal shows, and both reports in a browser.

One module-scoped run of each command, as a user runs them (subprocess, fresh ``AIKIT_HOME``, the
demo CRM and the embedded offline model, a small ticket count so it stays quick):

- the terminal is never silent for 10 s: every line is timestamped as it arrives; the stages
  (fetching, analysing, pushing, rendering) and tqdm-style batch lines (rows, rate, ETA) are there;
  ipykernel's "running over TCP without encryption" warning is not;
- both reports (notebook 02's from ``aikit demo``, notebook 05's from ``aikit report``) are opened in
  Debian chromium and read as business documents: a title with the date and the data source,
  findings first, charts drawn, and no raw reprs, ``\\n`` literals, Python dicts, log lines or
  internal column names in the rendered text. Screenshots go to ``reports/screenshots/``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_kit import chromium_page, chromium_ready

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "reports" / "screenshots"
TODAY = dt.date.today().isoformat()
MAX_SILENCE_S = 10.0
TICKETS = 6


@dataclass
class Run:
    returncode: int
    lines: list[tuple[float, str, str]]  # (seconds since start, stream, text)
    seconds: float
    out_dir: Path

    def text(self, stream: str) -> str:
        return "\n".join(t for _, s, t in self.lines if s == stream)


def _run(args: list[str], cwd: Path, home: Path, timeout: float = 600) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME", "AIKIT_PROGRESS")}
    env |= {"PYTHONPATH": str(REPO), "AIKIT_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "aikit", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    lines: list[tuple[float, str, str]] = []
    lock = threading.Lock()

    def pump(stream: object, name: str) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with lock:
                lines.append((time.monotonic() - started, name, line.rstrip("\n")))

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out")),
               threading.Thread(target=pump, args=(proc.stderr, "err"))]  # fmt: skip
    for t in threads:
        t.start()
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        for t in threads:
            t.join(10)
    seconds = time.monotonic() - started
    return Run(proc.returncode, sorted(lines), seconds, cwd / "reports")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    work = tmp_path_factory.mktemp("demo-run")
    home = work / "home"
    notebooks = REPO / "notebooks"
    demo_args = [
        "demo",
        "--max-tickets",
        str(TICKETS),
        "--notebook",
        str(notebooks / "02_crm_batch_analysis.ipynb"),
    ]
    demo = _run(demo_args, work, home)
    health = _run(
        ["report", str(notebooks / "05_scheduled_report.ipynb"), "-p", "max_tickets", "12"], work, home
    )
    return {"demo": demo, "health": health}


def _gaps(run: Run) -> list[float]:
    times = [0.0, *(t for t, _, _ in run.lines), run.seconds]
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.mark.slow
@pytest.mark.local_llm
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", ["demo", "health"])
def test_the_terminal_shows_progress_at_least_every_10_seconds(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    err, out = run.text("err"), run.text("out")
    assert run.returncode == 0, err[-3000:]
    assert max(_gaps(run)) <= MAX_SILENCE_S, f"silent for {max(_gaps(run)):.1f} s:\n{err}"
    assert "without encryption" not in err and "IPKernelApp" not in err
    for stage in ("running: setting up", "fetching: 1.", "analysing: ", "rendering: "):
        assert stage in err, f"no {stage!r} line:\n{err}"
    if name == "demo":
        assert "pushing: 4. Push the insights back" in err
        pushed = re.search(r"pushing (\d+) of (\d+) tickets; (\d+) wait for review", err)
        assert pushed and int(pushed[2]) == TICKETS, err
        assert f"{pushed[1]} of {pushed[1]} pushed tickets carry the pushed insights" in err
    batch = re.compile(r"\|\s+df\.ai\.classify \(local\):\s+\d+%\|[█ ]{10}\| \d+/\d+ rows "
                       r"\[\d+:\d\d<(\d+:\d\d|\?), [\d.]+ rows/s\]")  # fmt: skip
    assert any(batch.search(line) for line in err.splitlines()), err
    assert re.search(r"^Report: .*\.html$", out, re.M), out


@pytest.mark.slow
@pytest.mark.local_llm
@pytest.mark.timeout(1500)
def test_the_demo_writes_the_report_and_its_summary(runs: dict[str, Run]) -> None:
    run = runs["demo"]
    assert run.returncode == 0
    report = run.out_dir / f"crm-insights-{TODAY}.html"
    summary = json.loads((run.out_dir / f"crm-insights-{TODAY}.summary.json").read_text())
    assert summary["rows"] == TICKETS and summary["failed"] == 0
    assert summary["pushed"] + summary["to_review"] == TICKETS  # only the confident rows are written back
    assert report.exists() and not (run.out_dir / f"crm-insights-{TODAY}-failed.html").exists()
    assert not list(run.out_dir.glob(".*partial*")), "a temporary report was left behind"
    assert f"Analysed {TICKETS} tickets with local" in run.text("out")


#: What must never show in a report's rendered text: a repr like ``HubSpot(base_url=...)``, a Python
#: dict or list of strings, a literal backslash-n, a log or batch line, a traceback, internal names.
FORBIDDEN = {
    "raw repr": re.compile(r"\b[A-Z]\w+\(\w+="),
    "python dict": re.compile(r"\{\s*['\"]\w+['\"]\s*:"),
    "python list of strings": re.compile(r"\[\s*'[^']*'\s*,"),
    "backslash-n literal": re.compile(r"\\n"),
    "log line": re.compile(r"aikit batch|INFO |WARNING |\[IPKernelApp\]"),
    "traceback": re.compile(r"Traceback|Error:"),
    "internal column name": re.compile(r"\b(ai_\w+|hs_\w+|createdate)\b"),
    "missing value": re.compile(r"\b(None|NaN|nan|NaT)\b"),
}

_READ = """() => ({
  title: document.title,
  text: document.body.innerText,
  headings: [...document.querySelectorAll('h1, h2')].map(h => h.innerText),
  images: [...document.images].map(i => ({
    w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width})),
  rows: document.querySelectorAll('tbody tr').length,
})"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.local_llm
@pytest.mark.timeout(1500)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
@pytest.mark.parametrize(
    ("name", "stem", "title"),
    [("demo", "crm-insights", "CRM ticket insights"), ("health", "ticket-health", "Ticket health")],
)
def test_the_report_reads_as_a_business_document(
    runs: dict[str, Run], name: str, stem: str, title: str
) -> None:
    from playwright.sync_api import sync_playwright

    run = runs[name]
    assert run.returncode == 0, run.text("err")[-3000:]
    report = run.out_dir / f"{stem}-{TODAY}.html"
    shot = SHOTS / f"report_{stem}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, chromium_page(p, width=1100, height=900) as page:
        page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())  # offline: nothing may load
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        seen = page.evaluate(_READ)
        page.screenshot(path=str(shot), full_page=True)
    long_date = dt.date.today().strftime("%B %Y")
    assert seen["title"].startswith(f"{title} · ") and long_date in seen["title"]
    assert seen["headings"][:2] == [title, "Key findings"], seen["headings"]
    assert "How this was made" in seen["headings"][seen["headings"].index("Charts") :], seen["headings"]
    assert "Source: Demo CRM" in seen["text"]
    if name == "demo":  # the agreement with the agents' categories is measured and shown
        assert re.search(r"Agreement of the AI's category with the agents'\s+\d+% \(95% CI", seen["text"])
    for what, pattern in FORBIDDEN.items():
        match = pattern.search(seen["text"])
        assert match is None, f"{what} in the {name} report: {match.group(0)!r}"
    assert len(seen["images"]) >= 1 and all(
        i["w"] > 200 and i["h"] > 100 and i["shown"] > 200 for i in seen["images"]
    )
    assert seen["rows"] >= 1
    assert shot.stat().st_size > 30_000
