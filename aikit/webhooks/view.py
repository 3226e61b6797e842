"""The listener's notebook view: an HTML summary (URL, sources, last events and rejections).

Pure rendering from plain values, escaped throughout; secrets never reach it (sources arrive with
their secret count only).

>>> html = render_html(url=None, running=False, store="/tmp/w.sqlite", sources=[], recent=[],
...                    rejections=[], warning=None, port=None)
>>> "not started" in html
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aikit.webhooks.hosting import TUNNEL_HELP

__all__ = ["render_html"]

_STATUS_COLOURS = {
    "done": "#1a7f37",
    "pending": "#9a6700",
    "processing": "#0969da",
    "failed": "#bc4c00",
    "dead": "#cf222e",
    "received": "#57606a",
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return "<p><i>none yet</i></p>"
    head = "".join(f"<th style='text-align:left'>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.strftime("%H:%M:%S")
    if isinstance(ts, int | float):
        return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")
    return ""


def render_html(
    *,
    url: str | None,
    running: bool,
    store: str,
    sources: Sequence[dict[str, Any]],
    recent: Sequence[dict[str, Any]],
    rejections: Sequence[dict[str, Any]],
    warning: str | None,
    port: int | None,
) -> str:
    """Render the listener summary as an HTML fragment."""
    state = "running" if running else ("stopped" if url else "not started")
    colour = "#1a7f37" if running else "#57606a"
    parts = [
        "<div class='aikit-webhooks'>",
        f"<b>WebhookListener</b> <span style='color:{colour}'>&#9679; {state}</span>",
        f" &middot; <code>{_e(url or '')}</code> &middot; store <code>{_e(store)}</code>",
    ]
    if warning:
        parts.append(f"<p style='color:#bc4c00'>&#9888; {_e(warning)}</p>")
    elif port is not None:
        parts.append(f"<p style='color:#57606a'>{_e(TUNNEL_HELP.format(port=port))}</p>")
    src_rows = []
    for s in sources:
        counts = s.get("counts", {})
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        src_rows.append(
            [
                f"<b>{_e(s['name'])}</b>",
                _e(s["scheme"]),
                f"<code>{_e(s['url'])}</code>",
                f"<code>{_e(s.get('public_url'))}</code>",
                _e(s.get("secrets")),
                _e(summary),
            ]
        )
    parts.append("<h4>Sources</h4>")
    parts.append(_table(["name", "scheme", "local URL", "public URL", "secrets", "counts"], src_rows))
    ev_rows = []
    for r in recent:
        status = str(r.get("status"))
        colour = _STATUS_COLOURS.get(status, "#57606a")
        ev_rows.append(
            [
                _e(r.get("id")),
                _e(_when(r.get("received_at"))),
                _e(r.get("source")),
                _e(r.get("event_type")),
                f"<span style='color:{colour}'>{_e(status)}</span>",
                _e((r.get("last_error") or "")[:120]),
            ]
        )
    parts.append("<h4>Last events</h4>")
    parts.append(_table(["id", "received (UTC)", "source", "type", "status", "last error"], ev_rows))
    rej_rows = [
        [
            _e(_when(r.get("at"))),
            _e(r.get("source")),
            _e(r.get("status")),
            _e(r.get("reason")),
            _e(r.get("client")),
        ]
        for r in list(rejections)[::-1]
    ]
    parts.append("<h4>Last rejections</h4>")
    parts.append(_table(["at (UTC)", "source", "status", "reason", "client"], rej_rows))
    parts.append("</div>")
    return "".join(parts)
