"""``aikit report NOTEBOOK``: run a report notebook headless, the way a schedule (cron, systemd, CI) does.

The notebook is any notebook whose cell tagged ``parameters`` defines ``report_path`` and whose last
cell calls ``rep.save(report_path)`` (notebook 05 is one). The run is checked first (the notebook,
the model's key and endpoint, the CRM's token when ``crm_url`` is given), narrated in the terminal
(stages, batch progress, a heartbeat), and the report replaces ``<out>/<name>-<date>.html`` only when
every cell succeeded; otherwise ``<name>-<date>-failed.html`` says what to fix and the last good
report stays.

Example
-------
$ aikit report notebooks/05_scheduled_report.ipynb -p max_tickets 200 -p model openai:gpt-4o-mini
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import re
from pathlib import Path
from typing import Any

from aikit.exceptions import ReportError

__all__ = ["add_arguments", "parameter_value", "report_name", "run"]


def parameter_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill reads it: a number, True/False/None, else the text.

    >>> parameter_value("200"), parameter_value("0.5"), parameter_value("None"), parameter_value("openai:x")
    (200, 0.5, None, 'openai:x')
    """
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "true": True, "False": False, "false": False, "None": None}.get(text, text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "report"


def report_name(notebook: Path, defaults: dict[str, Any], overrides: dict[str, Any]) -> str:
    """The report's file name stem: from its ``title`` parameter, else from the notebook's name.

    >>> report_name(Path("05_scheduled_report.ipynb"), {"title": "'Ticket health'"}, {})
    'ticket-health'
    >>> report_name(Path("05_scheduled_report.ipynb"), {}, {})
    'scheduled-report'
    """
    title = overrides.get("title")
    if title is None and "title" in defaults:
        try:
            title = ast.literal_eval(str(defaults["title"]))
        except (ValueError, SyntaxError):
            title = None
    if isinstance(title, str) and title.strip():
        return _slug(title)
    return _slug(re.sub(r"^\d+[_-]", "", notebook.stem))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a report notebook headless (papermill) and write its report: <out>/<name>-<date>.html. "
        "Progress is shown in the terminal; a failed run keeps the last good report and writes "
        "<name>-<date>-failed.html saying what to fix."
    )
    parser.epilog = (
        "Keys come from the environment or a .env file (OPENAI_API_KEY, ANTHROPIC_API_KEY, "
        "HUBSPOT_TOKEN), never from -p: parameters are saved in the executed notebook."
    )
    parser.add_argument(
        "notebook", type=Path, help="the report notebook, e.g. notebooks/05_scheduled_report.ipynb"
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter of the notebook (repeatable), e.g. -p max_tickets 200",
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
    parser.add_argument("--name", default=None, help="file name of the report (default: from its title)")


def run(args: argparse.Namespace) -> int:
    import papermill

    from aikit.report.job import ReportPaths, produce, write_failure
    from aikit.report.notebook import Terminal
    from aikit.report.preflight import check_crm, check_model, check_notebook

    terminal = Terminal("report")
    overrides = {name: parameter_value(value) for name, value in args.parameter}
    command = "aikit report " + " ".join([str(args.notebook), *(f"-p {n} {v}" for n, v in args.parameter)])
    try:
        check_notebook(args.notebook)
        defaults = {k: v.get("default") for k, v in papermill.inspect_notebook(str(args.notebook)).items()}
    except ReportError as exc:
        name = args.name or _slug(args.notebook.stem)
        write_failure(ReportPaths.of(args.out / f"{name}-{dt.date.today()}.html"), str(exc), command=command)
        return 1
    name = args.name or report_name(args.notebook, defaults, overrides)
    report = args.out / f"{name}-{dt.date.today().isoformat()}.html"
    model = overrides.get("model")
    if model is None and "model" in defaults:
        model = ast.literal_eval(str(defaults["model"]))
    crm_url = overrides.get("crm_url")
    terminal.say(
        f"pre-flight: {args.notebook}, model {model or '(none)'}, CRM {crm_url or 'as the notebook says'}"
    )
    try:
        env = check_model(str(model)) if model else {}
        if crm_url:
            env |= check_crm(str(crm_url))
    except ReportError as exc:
        write_failure(ReportPaths.of(report), str(exc), command=command)
        return 1
    terminal.say("pre-flight: ok")
    outcome = produce(args.notebook, report, overrides, terminal=terminal, command=command, env=env)
    if not outcome.ok:
        return 1
    print(f"Report: {report.resolve()}")
    return 0
