"""One report run: notebook in, report moved into place only on success, a failure page otherwise.

:func:`produce` is what ``aikit demo`` and ``aikit report`` share. For a target ``reports/x.html``:

- the notebook runs with ``report_path`` set to a hidden temporary file next to it
  (``reports/.x.partial.html``), and the executed notebook is kept as ``reports/x.ipynb``;
- when every cell succeeded and the notebook saved its report, the temporary file is renamed to
  ``reports/x.html`` and the report's values are written to ``reports/x.summary.json`` (both
  atomic), and an old ``reports/x-failed.html`` is removed;
- otherwise ``reports/x.html`` and ``x.summary.json`` are left exactly as they were (the last good
  report) and ``reports/x-failed.html`` says in its first line what failed and how to fix it.

>>> paths = ReportPaths.of(Path("reports/x.html"))
>>> paths.failed.name, paths.summary.name, paths.executed.name, paths.partial.name
('x-failed.html', 'x.summary.json', 'x.ipynb', '.x.partial.html')
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aikit.exceptions import AIKitError, ReportError
from aikit.report.failure import failure_page, write_atomic
from aikit.report.notebook import NotebookFailure, Terminal, run_notebook

__all__ = ["Outcome", "ReportPaths", "advice", "produce", "write_failure"]


@dataclass(frozen=True)
class ReportPaths:
    """The files of one report: the page, its failure page, summary, executed notebook, temp file."""

    report: Path
    failed: Path
    summary: Path
    executed: Path
    partial: Path

    @classmethod
    def of(cls, report: Path) -> ReportPaths:
        stem, folder = report.stem, report.parent
        return cls(
            report=report,
            failed=folder / f"{stem}-failed.html",
            summary=folder / f"{stem}.summary.json",
            executed=folder / f"{stem}.ipynb",
            partial=folder / f".{stem}.partial.html",
        )


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``ok``, the files, the report's values (footer) and, on failure, the reason."""

    ok: bool
    paths: ReportPaths
    values: dict[str, Any]
    reason: str | None = None


def advice(ename: str) -> str:
    """How to fix a failed cell, by the error's class (aikit's own errors name what to set)."""
    if ename in ("MissingCredentialError", "AuthError", "OAuthError"):
        return "Set the variable named above and run again."
    if ename in ("CRMError", "PushError"):
        return (
            "Check the CRM's URL and token (HUBSPOT_TOKEN) and run again; AI answers made so far are cached."
        )
    if ename.startswith("Provider") or ename in (
        "RetryExhaustedError",
        "InvalidOutputError",
        "LocalModelError",
    ):
        return "Check the model's key and endpoint and run again; AI answers made so far are cached."
    return "Open the executed notebook named below to see the cell, fix it, and run again."


def write_failure(
    paths: ReportPaths,
    reason: str,
    *,
    command: str,
    details: Sequence[tuple[str, str]] = (),
    traceback: Sequence[str] = (),
    stream: Any = None,
) -> Outcome:
    """Write the failure page (the last good report untouched) and say so on ``stream`` (stderr)."""
    kept = f"The last good report is unchanged: {paths.report}." if paths.report.exists() else None
    facts = [("Command", command), *details, ("Executed notebook", str(paths.executed))]
    page = failure_page(reason, title=paths.report.stem, kept=kept, details=facts, traceback=traceback)
    write_atomic(paths.failed, page)
    out = stream if stream is not None else sys.stderr
    print(f"{' '.join(command.split()[:2])} failed: {reason}", file=out)
    print(f"Details: {paths.failed.resolve()}", file=out)
    if kept:
        print(kept, file=out)
    return Outcome(False, paths, {}, reason)


def produce(
    notebook: Path,
    report: Path,
    parameters: Mapping[str, Any],
    *,
    terminal: Terminal,
    command: str,
    env: Mapping[str, str] | None = None,
    details: Sequence[tuple[str, str]] = (),
) -> Outcome:
    """Run ``notebook`` so that it saves its report, and put the report in place only on success.

    ``parameters`` must not name ``report_path`` (it is set here); credentials go in ``env``.
    """
    paths = ReportPaths.of(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    paths.partial.unlink(missing_ok=True)
    params = {**parameters, "report_path": str(paths.partial.resolve())}
    try:
        run_notebook(notebook, paths.executed.resolve(), params, terminal=terminal, env=env)
        if not paths.partial.exists():
            raise ReportError(
                f"{notebook} ran but saved no report: its last cell must call rep.save(report_path)"
            )
        from aikit.report import read_summary

        values = dict(read_summary(paths.partial).get("values", {}))
    except NotebookFailure as exc:
        paths.partial.unlink(missing_ok=True)
        text = str(exc)
        reason = f"{text[:1].upper()}{text[1:].rstrip('.')}. {advice(exc.ename)}"
        return write_failure(paths, reason, command=command, details=details, traceback=exc.traceback)
    except AIKitError as exc:
        paths.partial.unlink(missing_ok=True)
        text = str(exc).rstrip(".")
        return write_failure(paths, f"{text[:1].upper()}{text[1:]}.", command=command, details=details)
    terminal.say(f"rendering: moving the report into place as {report}")
    os.replace(paths.partial, report)
    write_atomic(paths.summary, json.dumps(values, indent=1, default=str) + "\n")
    paths.failed.unlink(missing_ok=True)  # the failure it described is fixed: it would only mislead
    return Outcome(True, paths, values)
