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
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from aikit.exceptions import AIKitError, ReportError

__all__ = ["add_arguments", "preflight", "run"]

DEFAULT_NOTEBOOK = Path("notebooks") / "02_crm_batch_analysis.ipynb"
#: Seconds each pre-flight request may take.
CHECK_TIMEOUT_S = 10.0

_KEY_NAMES = {"openai": "OpenAI API key", "anthropic": "Anthropic API key"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fetch tickets from a CRM, analyse each with AI, push the insights back and write a report "
        "(reports/crm-insights-<date>.html). With no options everything runs offline on 127.0.0.1: "
        "the demo CRM and the embedded SmolLM2 model. Takes about 2-4 minutes for 60 tickets on a "
        "laptop; a re-run is answered from the cache in seconds."
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
    parser.add_argument("--max-tickets", type=int, default=60, help="tickets to analyse (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed of the demo CRM (default 0)")
    parser.add_argument("--no-push", action="store_true", help="do not write the insights back to the CRM")


def _check_model(model: str) -> dict[str, str]:
    """The model's credential and endpoint; returns the variables the kernel needs."""
    import httpx

    from aikit.auth import resolve_key
    from aikit.client.providers import parse_model
    from aikit.exceptions import ConfigError, LocalModelError

    try:
        spec = parse_model(model)
    except ConfigError as exc:
        raise ReportError(f"--model {model!r} is not a model aikit knows: {exc}") from None
    if spec.provider == "local":
        import importlib.util

        from aikit.local.llm.models import find_model

        try:
            find_model(spec.model or None)
        except LocalModelError as exc:
            raise ReportError(f"The offline model is not installed: {exc}") from None
        if importlib.util.find_spec("xllamacpp") is None:
            raise ReportError(
                "The offline model's runtime (xllamacpp) is not installed: run `make demo` "
                "(or pip install -e '.[local]'), or pass --model openai:gpt-4o-mini with OPENAI_API_KEY set."
            )
        return {}
    env: dict[str, str] = {}
    key = resolve_key(spec.key_variables, required=False, provider=str(spec)) if spec.key_variables else None
    if key is None and spec.key_required:
        name = _KEY_NAMES.get(spec.provider, "API key")
        others = " or ".join(spec.key_variables[1:])
        raise ReportError(
            f"No {name} for --model {model}: set {spec.key_variables[0]}"
            f"{f' (or {others})' if others else ''} in the environment or in a .env file, "
            "or run without --model to use the offline model."
        )
    headers = {}
    if key is not None:
        env[key.name or spec.key_variables[0]] = key.reveal()
        if spec.provider == "anthropic":
            headers = {"x-api-key": key.reveal(), "anthropic-version": "2023-06-01"}
        else:
            headers = {"authorization": f"Bearer {key.reveal()}"}
    url = f"{spec.base_url}/models"
    try:
        status = httpx.get(url, headers=headers, timeout=CHECK_TIMEOUT_S).status_code
    except httpx.HTTPError as exc:
        raise ReportError(
            f"The model's endpoint {spec.base_url} did not answer ({type(exc).__name__}): check the "
            "network or the base URL, or run without --model to use the offline model."
        ) from None
    if status in (401, 403):
        raise ReportError(
            f"{spec.base_url} refused the key from {key.name if key else 'the environment'} (HTTP {status}): "
            "replace it with a valid key and run again."
        )
    return env


def _check_crm(crm_url: str) -> dict[str, str]:
    """The CRM answers and accepts the token; returns the variables the kernel needs."""
    import httpx

    from aikit.auth import resolve_key

    token = resolve_key(["HUBSPOT_TOKEN"], required=False, provider="HubSpot")
    if token is None:
        raise ReportError(
            f"No CRM token for --crm-url {crm_url}: set HUBSPOT_TOKEN (a HubSpot private-app token with "
            "the tickets scopes) in the environment or in a .env file."
        )
    url = f"{crm_url.rstrip('/')}/crm/v3/objects/tickets"
    try:
        reply = httpx.get(
            url,
            params={"limit": 1},
            headers={"authorization": f"Bearer {token.reveal()}"},
            timeout=CHECK_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise ReportError(
            f"The CRM at {crm_url} did not answer ({type(exc).__name__}): check --crm-url and the network."
        ) from None
    if reply.status_code in (401, 403):
        raise ReportError(
            f"The CRM at {crm_url} refused the token in HUBSPOT_TOKEN (HTTP {reply.status_code}): use a "
            "private-app token with the crm.objects.tickets read and write scopes."
        )
    if reply.status_code >= 400:
        raise ReportError(
            f"The CRM at {crm_url} answered HTTP {reply.status_code} to a ticket read: check --crm-url "
            "(it is the API's base URL, e.g. https://api.hubapi.com)."
        )
    return {"HUBSPOT_TOKEN": token.reveal()}


def _check_notebook(notebook: Path) -> None:
    import nbformat

    if not notebook.is_file():
        raise ReportError(
            f"The notebook {notebook} does not exist: run aikit demo from the repository folder."
        )
    nb = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not params or "report_path" not in params[0].source:
        raise ReportError(
            f"The notebook {notebook} takes no report_path parameter: its cell tagged 'parameters' must "
            "define report_path, and its last cell must call rep.save(report_path)."
        )


def preflight(notebook: Path, model: str, crm_url: str | None) -> dict[str, str]:
    """Check what can be checked before any work; return the kernel's credential variables.

    Raises
    ------
    ReportError
        One sentence: what is missing or refused, and what to do.
    """
    _check_notebook(notebook)
    env = _check_model(model)
    if crm_url is not None:
        env |= _check_crm(crm_url)
    return env


def _summary_paragraph(values: dict[str, Any], seconds: float) -> str:
    cost = values.get("cost_usd")
    cost_text = "free (local model)" if not cost else f"${cost:.4f}"
    pushed = values.get("pushed")
    push_text = (
        f"The insights of {pushed} tickets were written back to the CRM and read back to check they landed."
        if pushed
        else "Nothing was written back to the CRM."
    )
    return (
        f"Analysed {values.get('rows', '?')} tickets with {values.get('model', '?')} in {seconds:.0f} s: "
        f"{values.get('requests', '?')} AI answers, {values.get('cache_hits', '?')} of them from the cache; "
        f"{values.get('failed', 0)} tickets failed (kept with their error); cost {cost_text}. {push_text}"
    )


def _fail(
    reason: str,
    *,
    failed_page: Path,
    final: Path,
    title: str,
    details: list[tuple[str, str]],
    trace: list[str],
) -> int:
    from aikit.report.failure import failure_page, write_atomic

    kept = f"The last good report is unchanged: {final}." if final.exists() else None
    write_atomic(failed_page, failure_page(reason, title=title, kept=kept, details=details, traceback=trace))
    print(f"aikit demo failed: {reason}", file=sys.stderr)
    print(f"Details: {failed_page.resolve()}", file=sys.stderr)
    if kept:
        print(kept, file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    from aikit.report import read_summary
    from aikit.report.failure import write_atomic
    from aikit.report.notebook import NotebookFailure, Terminal, run_notebook

    started = time.perf_counter()
    terminal = Terminal("demo")
    out: Path = args.out
    stem = f"crm-insights-{dt.date.today().isoformat()}"
    final, failed_page = out / f"{stem}.html", out / f"{stem}-failed.html"
    summary_path, executed = out / f"{stem}.summary.json", (out / f"{stem}.ipynb").resolve()
    command = f"aikit demo --model {args.model} --max-tickets {args.max_tickets}"
    command += f" --crm-url {args.crm_url}" if args.crm_url else ""
    details = [("Command", command), ("Notebook", str(args.notebook)), ("Executed notebook", str(executed))]
    fail = {"failed_page": failed_page, "final": final, "title": stem, "details": details}

    terminal.say(f"pre-flight: model {args.model}, CRM {args.crm_url or 'demo CRM (started here)'}")
    try:
        env = preflight(args.notebook, args.model, args.crm_url)
    except ReportError as exc:
        return _fail(str(exc), trace=[], **fail)  # type: ignore[arg-type]
    terminal.say("pre-flight: ok")

    crm = None
    crm_url = args.crm_url
    out.mkdir(parents=True, exist_ok=True)
    partial = (out / f".{stem}.partial.html").resolve()
    partial.unlink(missing_ok=True)
    try:
        if crm_url is None:
            from aikit.local.crm import DemoCRM

            token = secrets.token_urlsafe(16)
            crm = DemoCRM(token=token, seed=args.seed).start()
            crm_url = crm.url
            env["HUBSPOT_TOKEN"] = token  # via the environment: never a notebook parameter (it is saved)
            terminal.say(f"started the demo CRM on {crm_url} (seed {args.seed})")
            source_name = f"Demo CRM (a HubSpot CRM v3 subset, dataset seed {args.seed}) on this machine"
        else:
            source_name = f"HubSpot at {crm_url}"
        terminal.say(f"running {args.notebook} headless (papermill); the executed copy goes to {executed}")
        params = {
            "crm_url": crm_url,
            "model": args.model,
            "max_tickets": args.max_tickets,
            "push_back": not args.no_push,
            "report_path": str(partial),
            "source_name": source_name,
        }
        run_notebook(args.notebook, executed, params, terminal=terminal, env=env)
        if not partial.exists():
            raise ReportError(
                f"{args.notebook} ran but saved no report: its last cell must call rep.save(report_path)."
            )
        summary = read_summary(partial)
    except NotebookFailure as exc:
        partial.unlink(missing_ok=True)
        text = str(exc)
        reason = f"{text[:1].upper()}{text[1:].rstrip('.')}. {_advice(exc)}"
        return _fail(reason, trace=exc.traceback, **fail)  # type: ignore[arg-type]
    except AIKitError as exc:
        partial.unlink(missing_ok=True)
        return _fail(f"The run failed: {exc}", trace=[], **fail)  # type: ignore[arg-type]
    finally:
        if crm is not None:
            crm.stop()
    terminal.say("rendering: moving the report into place")
    values = dict(summary.get("values", {}))
    os.replace(partial, final)
    write_atomic(summary_path, json.dumps(values, indent=1, default=str) + "\n")
    failed_page.unlink(missing_ok=True)  # today's failure is fixed: its page would only mislead
    print(f"Report: {final.resolve()}")
    print(_summary_paragraph(values, time.perf_counter() - started))
    return 0


def _advice(exc: Any) -> str:
    """How to fix a failed cell, when the error says it (aikit's errors name the variable to set)."""
    if exc.ename in ("MissingCredentialError", "AuthError", "OAuthError"):
        return "Set the variable named above and run aikit demo again."
    if exc.ename in ("CRMError", "PushError"):
        return "Check the CRM (--crm-url, HUBSPOT_TOKEN) and run aikit demo again; AI answers are cached."
    if exc.ename in ("ProviderError", "ProviderHTTPError", "RetryExhaustedError", "ProviderConnectionError"):
        return "Check the model's key and endpoint and run aikit demo again; answers already made are cached."
    return "Open the executed notebook named below to see the cell, fix it, and run aikit demo again."
