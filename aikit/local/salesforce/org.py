"""One demo org's state shared by its endpoints: the store, query cursors, bulk jobs, API budget, logins.

:class:`ApiBudget` is the org's daily API request limit as a rolling window (Salesforce counts requests
over the last 24 hours; tests shrink the window). Every counted request updates it, every REST answer
carries ``Sforce-Limit-Info: api-usage=used/max``, and a request past the limit is refused with
``REQUEST_LIMIT_EXCEEDED``. :class:`Cursors` holds query results being paged with ``nextRecordsUrl``
(a locator idle for 15 minutes expires, as on Salesforce).

>>> budget = ApiBudget(2, window_s=60)
>>> budget.admit(now=0.0), budget.admit(now=1.0), budget.admit(now=2.0), budget.header(now=2.0)
(True, True, False, 'api-usage=2/2')
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aikit.local.salesforce.oauth import ConnectedApps, Sessions
from aikit.local.salesforce.store import Store
from aikit.local.salesforce.wire import ApiError, make_id

__all__ = ["API_VERSIONS", "ApiBudget", "Cursors", "Org"]

#: The versions the demo org answers (any ``vNN.N`` in a path is accepted; this is what it lists).
API_VERSIONS = [
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
    ("Spring '25", "63.0"),
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
    ("Spring '26", "66.0"),
]
LOCATOR_IDLE_S = 900.0


class ApiBudget:
    """At most ``max_requests`` counted requests per rolling ``window_s`` (None: unlimited)."""

    def __init__(self, max_requests: int | None = 15000, window_s: float = 86400.0) -> None:
        self.max_requests, self.window_s = max_requests, window_s
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.refused = 0

    def _purge(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()

    def admit(self, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        with self._lock:
            self._purge(t)
            if self.max_requests is not None and len(self._sent) >= self.max_requests:
                self.refused += 1
                return False
            self._sent.append(t)
            return True

    def spend(self, n: int) -> None:
        """Count ``n`` requests made by someone else (another integration sharing the org)."""
        t = time.monotonic()
        with self._lock:
            self._sent.extend([t] * n)

    def used(self, now: float | None = None) -> int:
        with self._lock:
            self._purge(time.monotonic() if now is None else now)
            return len(self._sent)

    @property
    def limit(self) -> int:
        return self.max_requests if self.max_requests is not None else 1_000_000_000

    def header(self, now: float | None = None) -> str:
        return f"api-usage={self.used(now)}/{self.limit}"


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]
    total: int
    all_rows: bool
    touched: float = field(default_factory=time.monotonic)


class Cursors:
    """Query results being paged: ``nextRecordsUrl`` is ``/services/data/vXX.X/query/{locator}-{offset}``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, _Cursor] = {}
        self._n = 0

    def page(
        self, rows: list[dict[str, Any]], total: int, batch: int, version: str, include_deleted: bool
    ) -> dict[str, Any]:
        if len(rows) <= batch:
            return {"totalSize": total, "done": True, "records": rows}
        with self._lock:
            self._n += 1
            locator = make_id("01g", self._n)
            self._open[locator] = _Cursor(rows, total, include_deleted)
            self._expire()
        return self._body(locator, 0, batch, version)

    def more(self, locator: str, batch: int, version: str) -> dict[str, Any]:
        ident, _, offset = locator.rpartition("-")
        with self._lock:
            self._expire()
            cursor = self._open.get(ident)
            if cursor is None or not offset.isdigit():
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.touched = time.monotonic()
        return self._body(ident, int(offset), batch, version)

    def _body(self, locator: str, offset: int, batch: int, version: str) -> dict[str, Any]:
        cursor = self._open[locator]
        chunk = cursor.rows[offset : offset + batch]
        body: dict[str, Any] = {
            "totalSize": cursor.total,
            "done": offset + batch >= len(cursor.rows),
            "records": chunk,
        }
        if not body["done"]:
            kind = "queryAll" if cursor.all_rows else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{offset + batch}"
        else:
            with self._lock:
                self._open.pop(locator, None)
        return body

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, c in self._open.items() if now - c.touched > LOCATOR_IDLE_S]:
            del self._open[key]


@dataclass
class Org:
    """Everything the endpoints of one demo org share."""

    store: Store
    apps: ConnectedApps
    sessions: Sessions
    budget: ApiBudget
    cursors: Cursors = field(default_factory=Cursors)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 2000
    bulk_delay_s: float = 0.0
    faults: list[int] = field(default_factory=list)
    stats: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
