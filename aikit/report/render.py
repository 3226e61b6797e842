"""A report's blocks as one self-contained HTML page: inline CSS, charts as PNG data URIs, no scripts.

Pure rendering: :func:`page` takes the parts of a :class:`~aikit.report.Report` and returns the whole
document (``<title>`` with the date, the header with date and source, then findings, metrics, what
is not reliable, figures, tables and the "how this was made" footer); :func:`fragment` returns the
same content for a notebook cell. Every piece of text is escaped; nothing loads from the network.

>>> html = page(Header("Ticket health", "12 May 2026", "Demo CRM"), Body(findings=[Finding("All good.")]))
>>> "<title>Ticket health · 12 May 2026</title>" in html and "All good." in html
True
"""

from __future__ import annotations

import html as _html
import json
from dataclasses import dataclass, field
from typing import Any

from aikit.report.values import DASH, format_note_value, humanize

__all__ = [
    "CSS",
    "Body",
    "Figure",
    "Finding",
    "Header",
    "Metric",
    "Note",
    "Table",
    "Unreliable",
    "fragment",
    "note_items",
    "page",
]


@dataclass(frozen=True)
class Header:
    title: str
    date: str
    source: str | None = None


@dataclass(frozen=True)
class Finding:
    text: str
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None
    display: str
    note: str | None = None


@dataclass(frozen=True)
class Unreliable:
    name: str
    reason: str


@dataclass(frozen=True)
class Figure:
    png_base64: str
    caption: str
    width: int
    height: int


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    omitted: int = 0


@dataclass(frozen=True)
class Note:
    title: str
    items: tuple[tuple[str, str], ...] = ()
    text: str | None = None


@dataclass
class Body:
    findings: list[Finding] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    unreliable: list[Unreliable] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


CSS = """
.aikit-report{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
  color:#1f2328;line-height:1.5;max-width:1000px;margin:0 auto;padding:24px 28px 40px;background:#fff}
.aikit-report h1{font-size:1.9em;margin:0 0 4px;font-weight:650;letter-spacing:-.01em}
.aikit-report .meta{color:#59636e;margin:0 0 22px;font-size:.95em}
.aikit-report h2{font-size:1.15em;margin:30px 0 10px;padding-bottom:4px;border-bottom:1px solid #d1d9e0}
.aikit-report ul.findings{list-style:none;padding:0;margin:0}
.aikit-report ul.findings li{border-left:4px solid #0969da;background:#f6f8fa;padding:9px 14px;
  margin:0 0 8px;font-size:1.05em}
.aikit-report .ids{display:block;color:#59636e;font-size:.85em;margin-top:2px}
.aikit-report .metrics{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
.aikit-report .metric{border:1px solid #d1d9e0;border-radius:6px;padding:10px 14px}
.aikit-report .metric .name{color:#59636e;font-size:.85em}
.aikit-report .metric .value{font-size:1.3em;font-weight:600;margin:2px 0}
.aikit-report .metric .note{color:#59636e;font-size:.82em}
.aikit-report .unreliable{border-left:4px solid #bf8700;background:#fff8c5;padding:9px 14px;margin:0 0 8px}
.aikit-report figure{margin:0 0 22px}
.aikit-report figure img{max-width:100%;height:auto;display:block}
.aikit-report figcaption,.aikit-report caption{color:#1f2328;font-weight:600;text-align:left;
  margin:4px 0 8px;font-size:.95em}
.aikit-report table{border-collapse:collapse;width:100%;font-size:.9em;margin:0 0 6px}
.aikit-report th{text-align:left;background:#f6f8fa;border-bottom:2px solid #d1d9e0;padding:6px 8px}
.aikit-report td{border-bottom:1px solid #eaeef2;padding:5px 8px;vertical-align:top}
.aikit-report td.num,.aikit-report th.num{text-align:right;font-variant-numeric:tabular-nums}
.aikit-report .more{color:#59636e;font-size:.85em;margin:0 0 20px}
.aikit-report footer{margin-top:34px;padding-top:10px;border-top:1px solid #d1d9e0;color:#59636e;
  font-size:.88em}
.aikit-report footer h2{border:0;font-size:1em;margin:10px 0 4px;color:#1f2328}
.aikit-report footer dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
.aikit-report footer dt{font-weight:600}
.aikit-report footer dd{margin:0}
@media print{.aikit-report{max-width:none;padding:0}.aikit-report figure,.aikit-report tr{break-inside:avoid}}
"""


def _e(text: str) -> str:
    return _html.escape(text, quote=True)


def _findings(findings: list[Finding]) -> str:
    items = []
    for f in findings:
        unmentioned = [i for i in f.ids if i not in f.text]
        ids = ""
        if unmentioned:
            shown = ", ".join(f"#{i}" for i in unmentioned[:12])
            more = f" and {len(unmentioned) - 12} more" if len(unmentioned) > 12 else ""
            ids = f"<span class='ids'>Tickets {_e(shown)}{more}</span>"
        items.append(f"<li>{_e(f.text)}{ids}</li>")
    return f"<section><h2>Key findings</h2><ul class='findings'>{''.join(items)}</ul></section>"


def _metrics(metrics: list[Metric]) -> str:
    cards = []
    for m in metrics:
        note = f"<div class='note'>{_e(m.note)}</div>" if m.note else ""
        cards.append(
            f"<div class='metric'><div class='name'>{_e(m.name)}</div>"
            f"<div class='value'>{_e(m.display)}</div>{note}</div>"
        )
    return f"<section><h2>Measures</h2><div class='metrics'>{''.join(cards)}</div></section>"


def _unreliable(items: list[Unreliable]) -> str:
    rows = "".join(f"<div class='unreliable'><b>{_e(u.name)}</b>: {_e(u.reason)}</div>" for u in items)
    return f"<section><h2>Not reliable enough to act on</h2>{rows}</section>"


def _figures(figures: list[Figure]) -> str:
    parts = [
        f"<figure><figcaption>{_e(f.caption)}</figcaption>"
        f"<img alt='{_e(f.caption)}' width='{f.width}' height='{f.height}' "
        f"src='data:image/png;base64,{f.png_base64}'></figure>"
        for f in figures
    ]
    return f"<section><h2>Charts</h2>{''.join(parts)}</section>"


def _table(t: Table) -> str:
    head = "".join(
        f"<th class='{'num' if n else ''}'>{_e(h)}</th>" for h, n in zip(t.headers, t.numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{'num' if n else ''}'>{_e(v)}</td>" for v, n in zip(row, t.numeric, strict=True)
        )
        + "</tr>"
        for row in t.rows
    )
    if not t.rows:
        body = f"<tr><td colspan='{max(1, len(t.headers))}'>{DASH} none {DASH}</td></tr>"
    more = f"<p class='more'>… and {t.omitted:,} more rows not shown.</p>" if t.omitted else ""
    caption = f"<caption>{_e(t.caption)}</caption>"
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _tables(tables: list[Table]) -> str:
    return f"<section><h2>Details</h2>{''.join(_table(t) for t in tables)}</section>"


def _notes(notes: list[Note]) -> str:
    parts = []
    for n in notes:
        inner = f"<p>{_e(n.text)}</p>" if n.text else ""
        if n.items:
            inner += "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in n.items) + "</dl>"
        parts.append(f"<h2>{_e(n.title)}</h2>{inner}")
    return f"<footer>{''.join(parts)}</footer>"


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    return item() if callable(item) else str(value)


def _data_script(data: dict[str, Any]) -> str:
    # Machine-readable summary for tools (``aikit demo`` reads it); every "<" is written as \u003c,
    # so no text in it can close the element or open a tag.
    payload = json.dumps(data, default=_plain).replace("<", "\\u003c")
    return f"<script type='application/json' id='aikit-report-data'>{payload}</script>"


def _content(header: Header, body: Body) -> str:
    meta = _e(header.date) + (f" · Source: {_e(header.source)}" if header.source else "")
    parts = [f"<header><h1>{_e(header.title)}</h1><p class='meta'>{meta}</p></header>"]
    if body.findings:
        parts.append(_findings(body.findings))
    if body.metrics:
        parts.append(_metrics(body.metrics))
    if body.unreliable:
        parts.append(_unreliable(body.unreliable))
    if body.figures:
        parts.append(_figures(body.figures))
    if body.tables:
        parts.append(_tables(body.tables))
    if body.notes:
        parts.append(_notes(body.notes))
    return "".join(parts)


def fragment(header: Header, body: Body) -> str:
    """The report as one ``<div>`` with its own scoped style (for a notebook's output area)."""
    return f"<div class='aikit-report'><style>{CSS}</style>{_content(header, body)}</div>"


def page(header: Header, body: Body) -> str:
    """The report as a whole HTML document, readable offline and printable."""
    title = _e(f"{header.title} · {header.date}")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{title}</title><style>body{{margin:0;background:#fff}}{CSS}</style></head>"
        f"<body><main class='aikit-report'>{_content(header, body)}</main>"
        f"{_data_script(body.data)}</body></html>"
    )


def note_items(values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A mapping as ``(label, text)`` pairs for the footer."""
    return tuple((humanize(k), format_note_value(str(k), v)) for k, v in values.items())
