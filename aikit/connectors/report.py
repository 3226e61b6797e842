"""``PushReport``: what a push changed, skipped and failed, row by row.

>>> import pandas as pd
>>> r = PushReport("tickets", dry_run=False, rows=3, unchanged=1, sent=2, updated=1,
...                diff=pd.DataFrame(columns=["id", "property", "old", "new"]),
...                failed=pd.DataFrame([{"id": "9", "property": "ai_sentiment", "error": "not found"}]))
>>> r.ok, r.counts["failed"]
(False, 1)
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["PushReport"]

FAILED_COLUMNS = ["id", "property", "error", "status", "category"]
DIFF_COLUMNS = ["id", "property", "old", "new"]


@dataclass
class PushReport:
    """The outcome of :meth:`aikit.HubSpot.push`.

    Attributes
    ----------
    object_type : str
        What was pushed (``"tickets"``...).
    dry_run : bool
        True when nothing was written: ``diff`` is what *would* change.
    rows : int
        Input rows.
    unchanged : int
        Rows whose values already matched (skipped: nothing to write).
    sent : int
        Objects sent in write calls.
    updated : int
        Objects the CRM confirmed as updated.
    diff : DataFrame
        ``id, property, old, new`` for every cell that differs (written, or to be written when dry).
    failed : DataFrame
        ``id, property, error, status, category``: every cell that could not be written, and why.
        Never silently empty: a 207 partial failure, a rejected batch or a missing object ends up here.
    created_properties : list of str
        Custom properties created first (``create_properties=True``), or that would be when dry.
    batches : int
        Write calls made (100 objects each at most).
    unknown : DataFrame
        ``id, property, error, status, category``: cells sent in a batch that got no answer (the
        connection broke, the CRM went away). The CRM may have applied them; push the same frame again
        to resolve them (only what still differs is written).
    created : int
        Objects created by an upsert (``push(..., upsert=True)``); ``updated`` counts the others.
    ids : DataFrame or None
        After an upsert: the ``id_property`` value of each row, the CRM ``id`` and ``new``.
    associated : int
        Associations created (``push(..., associate=...)``); existing ones are not sent again.
    """

    object_type: str
    dry_run: bool
    rows: int
    unchanged: int
    sent: int
    updated: int
    diff: pd.DataFrame
    failed: pd.DataFrame
    created_properties: list[str] = field(default_factory=list)
    batches: int = 0
    unknown: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILED_COLUMNS))
    created: int = 0
    ids: pd.DataFrame | None = None
    associated: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing failed and every batch sent was answered."""
        return len(self.failed) == 0 and len(self.unknown) == 0

    @property
    def failed_ids(self) -> list[str]:
        """Ids of the objects with at least one failed cell (re-push these after fixing the cause)."""
        return list(dict.fromkeys(self.failed["id"].astype(str))) if len(self.failed) else []

    @property
    def unknown_ids(self) -> list[str]:
        """Ids of the objects sent without an answer: applied or not, a re-push tells."""
        return list(dict.fromkeys(self.unknown["id"].astype(str))) if len(self.unknown) else []

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "unchanged": self.unchanged,
            "sent": self.sent,
            "updated": self.updated,
            "failed": len(self.failed_ids),
            "unknown": len(self.unknown_ids),
            "cells_changed": len(self.diff),
            "batches": self.batches,
            "created": self.created,
            "associated": self.associated,
        }

    def __repr__(self) -> str:
        c = self.counts
        mode = "dry run, " if self.dry_run else ""
        unknown = f", {c['unknown']} unknown" if c["unknown"] else ""
        return (
            f"<PushReport {self.object_type}: {mode}{c['rows']} rows, {c['unchanged']} unchanged, "
            f"{c['sent']} sent, {c['updated']} updated, {c['failed']} failed{unknown}, {c['batches']} batches"
            + (f", {c['created']} created" if c["created"] else "")
            + (f", {c['associated']} associated" if c["associated"] else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        c = self.counts
        colour = "#1a7f37" if self.ok else "#cf222e"
        title = (
            "Dry run: nothing written"
            if self.dry_run
            else ("Push complete" if self.ok else "Push finished with failures or unanswered batches")
        )
        cells = "".join(
            f"<td style='padding:2px 10px'><b>{v}</b><br><small>{html.escape(k)}</small></td>"
            for k, v in c.items()
        )
        parts = [
            f"<div><b style='color:{colour}'>{html.escape(title)}</b> &middot; "
            f"{html.escape(self.object_type)}",
            f"<table><tr>{cells}</tr></table>",
        ]
        if self.created_properties:
            verb = "would create" if self.dry_run else "created"
            parts.append(f"<p>{verb} properties: {html.escape(', '.join(self.created_properties))}</p>")
        if len(self.failed):
            parts.append("<p><b>Failed</b> (first 20)</p>" + self.failed.head(20).to_html(index=False))
        if len(self.unknown):
            parts.append(
                "<p><b>Unknown</b>: sent, no answer; push again to resolve (first 20)</p>"
                + self.unknown.head(20).to_html(index=False)
            )
        if len(self.diff):
            label = "Would change" if self.dry_run else "Changed"
            parts.append(f"<p><b>{label}</b> (first 20)</p>" + self.diff.head(20).to_html(index=False))
        return "".join(parts) + "</div>"
