"""Stored webhook events as a pandas DataFrame (the analyst's view of the store).

One row per stored event, oldest first: ``id, source, event_type, event_id, status, attempts,
received_at, provider_ts, last_error, processed_at, payload, result, headers``. ``payload`` is the
parsed body (JSON, or a dict for form posts), ``result`` maps each handler's name to its recorded
return value, and ``headers`` have every signature redacted.

>>> events_frame([], {}).columns[:4].tolist()
['id', 'source', 'event_type', 'event_id']
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aikit.webhooks.handlers import parse_body
from aikit.webhooks.store import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "DEAD_COLUMNS", "as_epoch", "dead_frame", "events_frame", "query_events"]

COLUMNS = [
    "id",
    "source",
    "event_type",
    "event_id",
    "status",
    "attempts",
    "received_at",
    "provider_ts",
    "last_error",
    "processed_at",
    "payload",
    "result",
    "headers",
]

#: The dead-letter view: one row per (event, handler) that gave up.
DEAD_COLUMNS = [
    "id",
    "source",
    "event_type",
    "event_id",
    "received_at",
    "handler",
    "attempts",
    "error",
    "dead_at",
    "payload",
    "last_error",
]


def as_epoch(since: float | datetime | timedelta | str) -> float:
    """Unix time from a datetime, an ISO string, a number, or a timedelta meaning "that long ago".

    >>> as_epoch(12.5)
    12.5
    >>> as_epoch("1970-01-01T00:01:00")
    60.0
    """
    if isinstance(since, timedelta):
        return time.time() - since.total_seconds()
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    if isinstance(since, str):
        parsed = datetime.fromisoformat(since)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return float(since)


def query_events(
    store: Store,
    *,
    source: str | None = None,
    status: str | None = None,
    since: float | datetime | timedelta | str | None = None,
    event_type: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Read events matching the filters (``limit`` keeps the newest) into a DataFrame."""
    rows = store.events(
        source=source,
        status=status,
        event_type=event_type,
        since=None if since is None else as_epoch(since),
        limit=limit,
    )
    results: dict[int, dict[str, Any]] = {}
    if rows:
        for ev, handler, value in store.results_from(rows[0]["id"]):
            results.setdefault(ev, {})[handler.rsplit(":", 1)[-1]] = json.loads(value) if value else None
    return events_frame(rows, results)


def events_frame(rows: Sequence[sqlite3.Row], results: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """Build the DataFrame from store rows and handler results."""
    import pandas as pd

    records = [
        {
            "id": r["id"],
            "source": r["source"],
            "event_type": r["event_type"],
            "event_id": r["event_id"],
            "status": r["status"],
            "attempts": r["attempts"],
            "received_at": r["received_at"],
            "provider_ts": r["provider_ts"],
            "last_error": r["last_error"],
            "processed_at": r["processed_at"],
            "payload": parse_body(bytes(r["body"]), r["content_type"]),
            "result": results.get(r["id"]),
            "headers": json.loads(r["headers"]),
        }
        for r in rows
    ]
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    for col in ("received_at", "provider_ts", "processed_at"):
        df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    return df


def dead_frame(rows: Sequence[sqlite3.Row]) -> pd.DataFrame:
    """The dead-letter DataFrame from :meth:`Store.dead_runs` rows: ``handler`` is the function name,
    ``error`` the last line of ``last_error`` (the full traceback, scrubbed of secrets).

    >>> dead_frame([]).columns.tolist()[:6]
    ['id', 'source', 'event_type', 'event_id', 'received_at', 'handler']
    """
    import pandas as pd

    records = [
        {
            **{k: r[k] for k in DEAD_COLUMNS if k not in ("payload", "handler", "error")},
            "handler": r["handler"].rsplit(":", 1)[-1],
            "error": (str(r["last_error"] or "").strip().splitlines() or [""])[-1],
            "payload": parse_body(bytes(r["body"]), r["content_type"]),
        }
        for r in rows
    ]
    df = pd.DataFrame.from_records(records, columns=DEAD_COLUMNS)
    for col in ("received_at", "dead_at"):
        df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    return df
