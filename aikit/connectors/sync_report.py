"""``SyncReport``: what an incremental sync read, delivered and where it will start next time.

>>> r = SyncReport("tickets", "default", fetched=12, delivered=12, expected=12, slices=1, requests=1,
...                ids=[str(i) for i in range(12)])
>>> r
<SyncReport tickets: 12 changed, 0 deleted, 12 fetched of 12 expected, 1 slice, 1 search request>
>>> r.counts["skipped"]
0
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["SyncReport"]


@dataclass
class SyncReport:
    """The outcome of :meth:`aikit.HubSpot.sync` (and ``sync_into``).

    Attributes
    ----------
    object_type, state : str
        What was synced, and the name of the saved position.
    fetched : int
        Records received in the pages read (the changed records, plus versions already delivered
        at the last run's boundary, counted in ``skipped``).
    delivered : int
        Records handed to you by this run, recovered ones included (the rows of the frame).
    expected : int
        The sum of the search API's ``total`` over the slices: what it said it would return.
        ``fetched`` differs only when records change while the sync runs (they come in this run's
        last slice or the next run).
    skipped : int
        Versions fetched again in the lookback overlap and not delivered twice.
    probed : int
        Records returned by the first page of a window that was then split (read, discarded).
    slices, splits : int
        Windows read to the end, and cuts of a window holding more than the search cap.
    requests, retries : int
        Search requests sent, and retries after 429/5xx or a dropped connection.
    recovered : int
        Rows an interrupted earlier run had already fetched, handed over now.
    resumed : bool
        True when this run continued an interrupted one (from its last committed page, or its last
        completed slice) and handed over what that one had already fetched.
    full : bool
        True when the run read everything (no saved position, or ``full=True``).
    previous, cursor : Timestamp or None
        The lower bound this run started from, and the one the next run starts from (inclusive).
    ids, deleted : list of str
        The ids delivered as changed, and the ids reported archived or merged away (when asked).
    seconds : float
        Wall time.
    """

    object_type: str
    state: str
    fetched: int = 0
    delivered: int = 0
    expected: int = 0
    skipped: int = 0
    probed: int = 0
    slices: int = 0
    splits: int = 0
    requests: int = 0
    retries: int = 0
    recovered: int = 0
    resumed: bool = False
    full: bool = False
    previous: pd.Timestamp | None = None
    cursor: pd.Timestamp | None = None
    ids: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "changed": len(self.ids),
            "deleted": len(self.deleted),
            "fetched": self.fetched,
            "expected": self.expected,
            "skipped": self.skipped,
            "probed": self.probed,
            "slices": self.slices,
            "splits": self.splits,
            "requests": self.requests,
            "retries": self.retries,
            "recovered": self.recovered,
        }

    def __repr__(self) -> str:
        c = self.counts
        plural = "" if c["slices"] == 1 else "s"
        req = "" if c["requests"] == 1 else "s"
        extra = ", resumed" if self.resumed else ""
        return (
            f"<SyncReport {self.object_type}: {c['changed']} changed, {c['deleted']} deleted, "
            f"{c['fetched']} fetched of {c['expected']} expected, {c['slices']} slice{plural}, "
            f"{c['requests']} search request{req}{extra}>"
        )

    def _repr_html_(self) -> str:
        c = self.counts
        mode = "Full sync" if self.full else "Incremental sync"
        if self.resumed:
            mode += " (resumed after an interruption)"
        cells = "".join(
            f"<td style='padding:2px 10px'><b>{v}</b><br><small>{html.escape(k)}</small></td>"
            for k, v in c.items()
        )
        since = "the beginning" if self.previous is None else str(self.previous)
        nxt = "-" if self.cursor is None else str(self.cursor)
        return (
            f"<div><b>{html.escape(mode)}</b> &middot; {html.escape(self.object_type)} "
            f"(state {html.escape(self.state)!s}) &middot; {self.seconds:.1f} s"
            f"<table><tr>{cells}</tr></table>"
            f"<p>read changes since {html.escape(since)}; the next run starts at {html.escape(nxt)}</p></div>"
        )
