"""``aikit demo`` before any work: pre-flight checks, and a failed run that keeps the last good report.

Each check is driven for real: the ``aikit`` command in a subprocess, the demo CRM and the fake
provider on 127.0.0.1. No request leaves loopback (the one check that would reach a public
provider, the missing OpenAI key, fails before any request is made).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aikit.exceptions import ReportError
from aikit.local.crm import DemoCRM
from aikit.report.preflight import check_crm, check_model, check_notebook
from aikit.testing import FakeProvider

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "02_crm_batch_analysis.ipynb"
TODAY = dt.date.today().isoformat()


def _first_line(page: str) -> str:
    """The first line of text a reader sees on the page."""
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page.split("<body>", 1)[1], flags=re.S)
    return next(line.strip() for line in re.sub(r"<[^>]+>", "\n", body).splitlines() if line.strip())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_key_fails_in_seconds_and_keeps_the_last_good_report(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    good = reports / f"crm-insights-{TODAY}.html"
    summary = reports / f"crm-insights-{TODAY}.summary.json"
    good.write_text("<html><body>the good report</body></html>")
    summary.write_text('{"rows": 60}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "AIKIT_API_KEY")}
    env["PYTHONPATH"] = str(REPO)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "aikit", "demo", "--model", "openai:gpt-4o-mini", "--notebook", str(NOTEBOOK)],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert took < 30, f"the missing key was noticed only after {took:.0f} s"
    assert "started the demo CRM" not in proc.stderr and "running" not in proc.stderr  # no work was done
    assert (
        "aikit demo failed: No OpenAI API key for --model openai:gpt-4o-mini: set OPENAI_API_KEY"
        in proc.stderr
    )
    assert good.read_text() == "<html><body>the good report</body></html>"
    assert summary.read_text() == '{"rows": 60}\n'
    failed = reports / f"crm-insights-{TODAY}-failed.html"
    line = _first_line(failed.read_text())
    assert line.startswith(
        "No OpenAI API key for --model openai:gpt-4o-mini: set OPENAI_API_KEY (or AIKIT_API_KEY)"
    )
    assert line.endswith("or run without --model to use the offline model.")
    assert "The last good report is unchanged" in failed.read_text()
    assert proc.stdout == ""  # stdout carries only the result ("Report: ..."), and there is none


def test_crm_checks_name_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    monkeypatch.chdir(Path("/"))  # no .env
    with DemoCRM(token="the-right-token", seed=0) as crm:
        with pytest.raises(ReportError, match=r"^No CRM token for --crm-url .*: set HUBSPOT_TOKEN"):
            check_crm(crm.url)
        monkeypatch.setenv("HUBSPOT_TOKEN", "a-wrong-token")
        with pytest.raises(ReportError, match=r"refused the token in HUBSPOT_TOKEN \(HTTP 401\)"):
            check_crm(crm.url)
        monkeypatch.setenv("HUBSPOT_TOKEN", "the-right-token")
        assert check_crm(crm.url) == {"HUBSPOT_TOKEN": "the-right-token"}
    with pytest.raises(ReportError, match=r"did not answer \(ConnectError\): check --crm-url"):
        check_crm(f"http://127.0.0.1:{_free_port()}")


def test_model_checks_name_the_problem(monkeypatch: pytest.MonkeyPatch, fake: FakeProvider) -> None:
    from aikit.client import providers

    monkeypatch.chdir(Path("/"))
    with pytest.raises(ReportError, match="is not a model aikit knows"):
        check_model("gpt-4o-mini")
    with pytest.raises(ReportError, match="The offline model is not installed"):
        check_model("local:/nonexistent/model.gguf")
    # An OpenAI-compatible endpoint on loopback stands in for a provider: wrong key, right key, gone.
    monkeypatch.setitem(providers.DEFAULT_BASE_URLS, "ollama", fake.base_url)
    monkeypatch.setenv("AIKIT_API_KEY", "sk-wrong")
    with pytest.raises(ReportError, match=r"refused the key from AIKIT_API_KEY \(HTTP 401\)"):
        check_model("ollama:llama3.2")
    monkeypatch.setenv("AIKIT_API_KEY", fake.config.api_key)
    assert check_model("ollama:llama3.2") == {"AIKIT_API_KEY": fake.config.api_key}
    monkeypatch.setitem(providers.DEFAULT_BASE_URLS, "ollama", f"http://127.0.0.1:{_free_port()}/v1")
    with pytest.raises(ReportError, match="did not answer"):
        check_model("ollama:llama3.2")


def test_notebook_checks(tmp_path: Path) -> None:
    check_notebook(NOTEBOOK)  # notebook 02 takes report_path
    with pytest.raises(ReportError, match="does not exist"):
        check_notebook(tmp_path / "missing.ipynb")
    plain = tmp_path / "plain.ipynb"
    plain.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    with pytest.raises(ReportError, match="takes no report_path parameter"):
        check_notebook(plain)


def test_cli_help_says_what_each_command_does() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def help_of(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "aikit", *args, "--help"], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return " ".join(proc.stdout.split())  # argparse wraps lines

    top = help_of()
    assert (
        "serve serve" not in top
        and "serve ... " not in top
        and "the offline LLM (ai), the demo CRM (crm)" in top
    )
    assert "report" in top and "aikit demo" in top
    listen = help_of("listen")
    assert "default 8787" in listen and "stripe" in listen and "hubspot" in listen and "hmac" in listen
    demo = help_of("demo")
    assert "OPENAI_API_KEY" in demo and "HUBSPOT_TOKEN" in demo and "-failed.html" in demo
    assert "-p NAME VALUE" in help_of("report")
