"""``aikit demo``: the main job end to end on the embedded defaults, producing a report a manager can read.

1. **Pre-flight**, before any work: the model string parses, its key is found (``OPENAI_API_KEY``...)
   and its endpoint answers and accepts the key (for ``local``: the embedded model and its runtime
   are installed); the CRM answers and accepts the token (``HUBSPOT_TOKEN``). The first failure
   stops the run with one sentence saying what to fix.
2. The demo CRM (a HubSpot CRM v3 subset on 127.0.0.1) starts, unless ``--crm-url`` names one.
3. Notebook 02 runs headless with papermill (:func:`aikit.report.notebook.run_notebook`): the
   terminal shows each stage, the kernel's progress lines and a heartbeat, never 10 s of silence.
   The notebook's last cell saves its :class:`aikit.report.Report` to ``report_path``.
4. Only when every cell succeeded is the report moved into place as
   ``reports/crm-insights-<date>.html`` (with ``...summary.json`` next to it): a failed run never
   replaces the last good report. It writes ``crm-insights-<date>-failed.html`` instead, whose first
   line says what failed and how to fix it, with the traceback folded below.

Credentials reach the kernel through its environment, never as notebook parameters (those are
saved in the executed notebook).

Example
-------
$ aikit demo --max-tickets 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import time
from pathlib import Path
from typing import Any

from aikit.exceptions import ReportError

__all__ = ["add_arguments", "preflight", "run"]

DEFAULT_NOTEBOOK = Path("notebooks") / "02_crm_batch_analysis.ipynb"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fetch tickets from a CRM, analyse each with AI, push the insights back and write a report "
        "(reports/crm-insights-<date>.html). With no options everything runs offline on 127.0.0.1: "
        "the demo CRM and the embedded SmolLM2 model. Labels the 40 newest tickets (the older ones are the "
        "labelled history) in about 2-4 minutes on a laptop; a re-run is answered from the cache in seconds."
    )
    parser.epilog = (
        "Keys come from the environment or a .env file: OPENAI_API_KEY / ANTHROPIC_API_KEY for "
        "--model, HUBSPOT_TOKEN for --crm-url. A failed run keeps the last good report and writes "
        "...-failed.html saying what to fix."
    )
    parser.add_argument(
        "--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="notebook to run (default %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
    parser.add_argument(
        "--model",
        default="local",
        help='AI model as provider:model, e.g. openai:gpt-4o-mini (default "local": offline)',
    )
    parser.add_argument(
        "--crm-url",
        default=None,
        help="CRM base URL, e.g. https://api.hubapi.com (default: start the demo CRM)",
    )
    parser.add_argument(
        "--max-tickets", type=int, default=40, help="newest tickets to label; older ones teach (default 40)"
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset seed of the demo CRM (default 0)")
    parser.add_argument("--no-push", action="store_true", help="do not write the insights back to the CRM")


def preflight(notebook: Path, model: str, crm_url: str | None) -> dict[str, str]:
    """Check what can be checked before any work; return the kernel's credential variables.

    Raises
    ------
    ReportError
        One sentence: what is missing or refused, and what to do.
    """
    from aikit.report.preflight import check_crm, check_model, check_notebook

    check_notebook(notebook)
    env = check_model(model)
    if crm_url is not None:
        env |= check_crm(crm_url)
    return env


def _summary_paragraph(values: dict[str, Any], seconds: float, model: str) -> str:
    cost = values.get("cost_usd")
    cost_text = "free (local model)" if not cost else f"${cost:.4f}"
    pushed = values.get("pushed")
    push_text = (
        f"The insights of {pushed} tickets were written back to the CRM and read back to check they landed."
        if pushed
        else "Nothing was written back to the CRM."
    )
    return (
        f"Analysed {values.get('rows', '?')} tickets with {model} in {seconds:.0f} s: "
        f"{values.get('requests', '?')} AI answers, {values.get('cache_hits', '?')} of them from the cache; "
        f"{values.get('failed', 0)} tickets failed (kept with their error); cost {cost_text}. {push_text}"
    )


def run(args: argparse.Namespace) -> int:
    from aikit.report.job import ReportPaths, produce, write_failure
    from aikit.report.notebook import Terminal

    started = time.perf_counter()
    terminal = Terminal("demo")
    report = args.out / f"crm-insights-{dt.date.today().isoformat()}.html"
    command = f"aikit demo --model {args.model} --max-tickets {args.max_tickets}"
    command += f" --crm-url {args.crm_url}" if args.crm_url else ""
    details = [("Notebook", str(args.notebook))]

    terminal.say(f"pre-flight: model {args.model}, CRM {args.crm_url or 'demo CRM (started here)'}")
    try:
        env = preflight(args.notebook, args.model, args.crm_url)
    except ReportError as exc:
        write_failure(ReportPaths.of(report), str(exc), command=command, details=details)
        return 1
    terminal.say("pre-flight: ok")

    crm = None
    crm_url = args.crm_url
    source_name = f"HubSpot at {crm_url}"
    try:
        if crm_url is None:
            from aikit.local.crm import DemoCRM

            token = secrets.token_urlsafe(16)
            crm = DemoCRM(token=token, seed=args.seed).start()
            crm_url = crm.url
            env["HUBSPOT_TOKEN"] = token  # via the environment: never a notebook parameter (it is saved)
            source_name = f"Demo CRM (a HubSpot CRM v3 subset, dataset seed {args.seed}) on this machine"
            terminal.say(f"started the demo CRM on {crm_url} (seed {args.seed})")
        terminal.say(f"running {args.notebook} headless (papermill)")
        params = {
            "crm_url": crm_url,
            "model": args.model,
            "max_tickets": args.max_tickets,
            "push_back": not args.no_push,
            "source_name": source_name,
            "demo_data": crm is not None,  # the report says when the demo's templated tickets flatter it
        }
        outcome = produce(
            args.notebook, report, params, terminal=terminal, command=command, env=env, details=details
        )
    finally:
        if crm is not None:
            crm.stop()
    if not outcome.ok:
        return 1
    print(f"Report: {report.resolve()}")
    print(_summary_paragraph(outcome.values, time.perf_counter() - started, args.model))
    return 0
