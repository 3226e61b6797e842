"""``aikit demo``: the main job end to end on the embedded defaults, producing a report.

It starts the demo CRM (a HubSpot CRM v3 subset on 127.0.0.1), runs the CRM-analysis notebook headless
with papermill (the notebook starts the embedded offline LLM through ``aikit.AI("local")``), renders
``reports/crm-insights-<date>.html`` without code cells, and prints where the report is with a
one-paragraph summary. The same command points at real services with ``--crm-url`` (token from
``HUBSPOT_TOKEN``) and ``--model`` (key from the provider's environment variable).

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

from aikit.exceptions import AIKitError

__all__ = ["ReportError", "add_arguments", "render_html", "run", "run_report"]

DEFAULT_NOTEBOOK = Path("notebooks") / "02_crm_batch_analysis.ipynb"


class ReportError(AIKitError):
    """A report notebook failed; the message names the cell and where the rendered report is."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="notebook to run")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="report folder (default reports/)")
    parser.add_argument("--model", default="local", help='provider:model, default "local" (offline)')
    parser.add_argument("--crm-url", default=None, help="CRM base URL (default: start the demo CRM)")
    parser.add_argument("--max-tickets", type=int, default=60, help="tickets to analyse (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="demo CRM dataset seed")


def render_html(executed: Path, html_path: Path) -> Path:
    """Render an executed notebook to a static HTML report: no code cells, no widget state, no log lines."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)  # type: ignore[no-untyped-call]
    nb.metadata.pop("widgets", None)  # a report carries no live widget state
    for cell in nb.cells:  # progress and log lines stay in the executed .ipynb, not in the report
        if cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def run_report(
    notebook: Path,
    out_dir: Path,
    parameters: dict[str, Any],
    *,
    stem: str,
    env: dict[str, str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Execute ``notebook`` with papermill into ``out_dir`` and render it; return (html, summary)."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    executed = (out_dir / f"{stem}.ipynb").resolve()
    summary_path = (out_dir / f"{stem}.summary.json").resolve()  # the kernel runs in the notebook's folder
    summary_path.unlink(missing_ok=True)
    old_env = dict(os.environ)
    os.environ.update(env or {})
    try:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters={**parameters, "summary_path": str(summary_path)},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(notebook.parent),
        )
    except papermill.PapermillExecutionError as exc:
        # Papermill saved the notebook up to the failing cell: render it so the failure can be read.
        html = render_html(executed, out_dir / f"{stem}.html")
        raise ReportError(f"cell {exc.exec_count} failed ({exc.ename}: {exc.evalue}); see {html}") from None
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    html = render_html(executed, out_dir / f"{stem}.html")
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return html, summary


def _summary_paragraph(summary: dict[str, Any], seconds: float) -> str:
    cost = summary.get("cost_usd")
    cost_text = "free (local model)" if not cost else f"${cost:.4f}"
    return (
        f"Analysed {summary.get('rows', '?')} tickets with {summary.get('model', '?')} in {seconds:.0f} s: "
        f"{summary.get('requests', '?')} AI answers, {summary.get('cached', '?')} of them from the cache; "
        f"{summary.get('failed', '?')} tickets failed (kept with their error); cost {cost_text}. "
        f"The insights of {summary.get('pushed', '?')} tickets "
        f"were written back to the CRM as custom properties and read back to check they landed."
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    env: dict[str, str] = {}
    crm = None
    crm_url = args.crm_url
    if crm_url is None:
        from aikit.local.crm import DemoCRM

        token = secrets.token_urlsafe(16)
        crm = DemoCRM(token=token, seed=args.seed).start()
        crm_url = crm.url
        env["HUBSPOT_TOKEN"] = token  # via the environment: never a notebook parameter (it is saved)
    try:
        stem = f"crm-insights-{dt.date.today().isoformat()}"
        html, summary = run_report(
            args.notebook,
            args.out,
            {"crm_url": crm_url, "model": args.model, "max_tickets": args.max_tickets},
            stem=stem,
            env=env,
        )
    except ReportError as exc:
        print(f"aikit demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if crm is not None:
            crm.stop()
    print(f"Report: {html.resolve()}")
    print(_summary_paragraph(summary, time.perf_counter() - started))
    return 0
