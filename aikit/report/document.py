"""The :class:`Report`: what a notebook says to a manager, collected step by step, rendered as one page.

A notebook builds it as it goes (``finding``, ``metric``, ``unreliable``, ``figure``, ``table``,
``note``) and ends with ``rep.save(path)``; in a cell, ``rep`` on its own shows the report inline.
The order on the page is fixed, whatever order the calls came in: title with the date and the data
source, the findings, the measures, what is not reliable, the charts, the tables, and the "how this
was made" footer. Every value is written as a reader expects it (see :mod:`aikit.report.values`).

>>> import pandas as pd
>>> rep = Report("Ticket health", source="Demo CRM", date="2026-05-12")
>>> rep.finding("Billing is the top category: 23 of 60 tickets.", ids=[101, 117])
>>> rep.metric("Negative tickets", 0.25, display="25% (15 of 60)")
>>> rep.table(pd.DataFrame({"id": [101], "ai_category": ["billing"]}), "Tickets to review")
>>> rep.note("How this was made", {"model": "local", "rows": 60, "cost_usd": 0.0, "elapsed_s": 75})
>>> rep
Report('Ticket health', 2026-05-12: 1 finding, 1 metric, 0 figures, 1 table)
>>> [k for k, _ in rep.to_dict()["notes"][0]["items"]]
['Model', 'Rows', 'Cost', 'Time']
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aikit.exceptions import ConfigError
from aikit.report import render
from aikit.report.values import clean_text, format_value, humanize

__all__ = ["Report"]

#: Rows a table shows before it says "... and N more rows".
MAX_TABLE_ROWS = 50
#: Characters a table cell shows before it is shortened with an ellipsis.
MAX_CELL_CHARS = 240


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(
            f"{what} must be text (a str), got {type(value).__name__}: write the sentence itself"
        )
    text = clean_text(value)
    if not text:
        raise ConfigError(f"{what} is empty")
    return text


def _date(date: dt.date | str | None) -> dt.date:
    if date is None:
        return dt.date.today()
    if isinstance(date, dt.datetime):
        return date.date()
    if isinstance(date, dt.date):
        return date
    try:
        return dt.date.fromisoformat(str(date))
    except ValueError:
        raise ConfigError(f"date must be a datetime.date or 'YYYY-MM-DD', got {date!r}") from None


def _long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _figure_png(fig: Any) -> tuple[str, int, int]:
    figure = getattr(fig, "figure", fig)  # an Axes carries its Figure
    if not callable(getattr(figure, "savefig", None)):
        raise ConfigError(f"figure needs a matplotlib Figure (or Axes), got {type(fig).__name__}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    data = buffer.getvalue()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return base64.b64encode(data).decode("ascii"), width, height


def _short(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1].rstrip() + "…"


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


class Report:
    """A business document built from a notebook: findings first, then measures, charts and tables.

    Parameters
    ----------
    title : str
        What the report is about, e.g. ``"CRM ticket insights"``.
    source : str, optional
        Where the data came from (shown under the title), e.g. ``"HubSpot (api.hubapi.com)"``.
    date : datetime.date or str, optional
        The report's date (``"YYYY-MM-DD"``); None means today.

    Examples
    --------
    >>> rep = Report("CRM ticket insights", source="Demo CRM", date="2026-05-12")
    >>> rep.finding("Billing is the top category: 23 of 60 tickets.")
    >>> path = rep.save(Path(tempfile.mkdtemp()) / "report.html")
    >>> "Billing is the top category" in path.read_text()
    True
    """

    def __init__(self, title: str, source: str | None = None, date: dt.date | str | None = None) -> None:
        self.title = _text(title, "title")
        self.source = None if source is None else _text(source, "source")
        self.date = _date(date)
        self._body = render.Body()

    def finding(self, text: str, ids: Iterable[Any] | None = None) -> None:
        """Add a headline finding: one sentence computed from the data, with the records it is about.

        ``ids`` are listed under the sentence when it does not name them itself.
        """
        ids_text = tuple(format_value(i) for i in (ids or ()))
        self._body.findings.append(render.Finding(_text(text, "a finding"), ids_text))

    def metric(
        self, name: str, value: float | None, display: str | None = None, note: str | None = None
    ) -> None:
        """Add a measure: ``display`` is how it reads (with its uncertainty), ``note`` the context.

        ``value`` is the number itself (kept in the report's data); without ``display`` it is
        written as a number.
        """
        if value is not None and not isinstance(value, int | float):
            item = getattr(value, "item", None)
            if not callable(item):
                raise ConfigError(
                    f"metric {name!r}: value must be a number or None, got {type(value).__name__}"
                )
            value = item()
        shown = format_value(value) if display is None else _text(display, f"metric {name!r} display")
        noted = None if note is None else _text(note, f"metric {name!r} note")
        number = None if value is None else float(value)
        self._body.metrics.append(render.Metric(_text(name, "a metric name"), number, shown, noted))

    def unreliable(self, name: str, reason: str) -> None:
        """Say that a measure is not good enough to act on, and why (e.g. not above its baseline)."""
        self._body.unreliable.append(render.Unreliable(_text(name, "name"), _text(reason, "reason")))

    def figure(self, fig: Any, caption: str) -> None:
        """Add a matplotlib Figure (or Axes) as an embedded PNG image with its caption."""
        png, width, height = _figure_png(fig)
        self._body.figures.append(render.Figure(png, _text(caption, "a caption"), width, height))

    def table(
        self,
        df: Any,
        caption: str,
        columns: Mapping[str, str] | Iterable[str] | None = None,
        max_rows: int = MAX_TABLE_ROWS,
    ) -> None:
        """Add a table of ``df``: ``columns`` maps the columns to show to their headers, in order.

        Without ``columns`` every column with a value is shown under a readable name
        (``ai_category`` reads ``Category``). Text is folded onto one line, long text shortened,
        missing values shown as a dash; past ``max_rows`` rows the table says how many more there are.
        """
        import pandas as pd

        frame = df.to_frame() if isinstance(df, pd.Series) else df
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError(f"table needs a pandas DataFrame, got {type(df).__name__}")
        if columns is None:
            names = {c: humanize(c) for c in frame.columns if not frame[c].isna().all()}
        elif isinstance(columns, Mapping):
            names = {c: _text(h, f"the header of {c!r}") for c, h in columns.items()}
        else:
            names = {c: humanize(c) for c in columns}
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ConfigError(f"table {caption!r}: no column {missing} (columns: {list(frame.columns)})")
        shown = frame.loc[:, list(names)]
        numeric = tuple(_is_numeric(shown[c]) for c in names)
        rows = tuple(
            tuple(_short(format_value(v)) for v in row)
            for row in shown.head(max_rows).itertuples(index=False, name=None)
        )
        omitted = max(0, len(shown) - max_rows)
        self._body.tables.append(
            render.Table(_text(caption, "a caption"), tuple(names.values()), rows, numeric, omitted)
        )

    def note(self, title: str, details: Mapping[str, Any] | str) -> None:
        """Add a footer note: a mapping (``model``, ``rows``, ``cost_usd``, ``cache_hits``,
        ``elapsed_s``...) written as labelled values, or a sentence."""
        if isinstance(details, str):
            self._body.notes.append(render.Note(_text(title, "a note title"), text=_text(details, "a note")))
        elif isinstance(details, Mapping):
            self._body.notes.append(
                render.Note(_text(title, "a note title"), items=render.note_items(dict(details)))
            )
            self._body.data.setdefault("values", {}).update({str(k): v for k, v in details.items()})
        else:
            raise ConfigError(f"note {title!r} needs a mapping or a sentence, got {type(details).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """Everything the report says as plain data (what the saved page embeds for tools)."""
        b = self._body
        return {
            "title": self.title,
            "date": self.date.isoformat(),
            "source": self.source,
            "findings": [{"text": f.text, "ids": list(f.ids)} for f in b.findings],
            "metrics": [
                {"name": m.name, "value": m.value, "display": m.display, "note": m.note} for m in b.metrics
            ],
            "unreliable": [{"name": u.name, "reason": u.reason} for u in b.unreliable],
            "figures": [f.caption for f in b.figures],
            "tables": [{"caption": t.caption, "rows": len(t.rows) + t.omitted} for t in b.tables],
            "notes": [
                {"title": n.title, "items": [list(i) for i in n.items], "text": n.text} for n in b.notes
            ],
            "values": dict(b.data.get("values", {})),
        }

    def _header(self) -> render.Header:
        return render.Header(self.title, _long_date(self.date), self.source)

    def to_html(self) -> str:
        """The whole page: self-contained (inline style, embedded images), readable offline."""
        body = render.Body(**{**self._body.__dict__, "data": self.to_dict()})
        return render.page(self._header(), body)

    def _repr_html_(self) -> str:
        return render.fragment(self._header(), self._body)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` atomically (a temporary file in the same folder, then a rename).

        A reader never sees half a report, and a failed save leaves the previous file as it was.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_html().encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # a report is a document to share, not a private state file
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def __repr__(self) -> str:
        b = self._body

        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        return (
            f"Report({self.title!r}, {self.date.isoformat()}: {n(len(b.findings), 'finding')}, "
            f"{n(len(b.metrics), 'metric')}, {n(len(b.figures), 'figure')}, {n(len(b.tables), 'table')})"
        )
