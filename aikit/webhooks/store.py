"""Durable webhook storage: the schema and every query, as methods of :class:`Store`.

Nothing else in :mod:`aikit.webhooks` writes SQL. Writes (inserting verified events, claiming one
for a handler, marking it done, failed or dead, memo values, replays) go through the single
:class:`~aikit.webhooks.writer.Writer` thread: SQLite in WAL mode with ``synchronous=FULL`` and
group commit, each caller answered only after its batch is committed. Reads open a short-lived
connection in the calling thread (WAL lets readers run beside the writer).

>>> import tempfile, pathlib, time
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "w.sqlite")
>>> store.open()
>>> event = NewEvent("gh", "id:1", "1", "push", time.time(), None, "{}", "", b"{}", None, "github", "pending")
>>> store.insert([event, event])  # the second is a duplicate of the first
[True, False]
>>> store.count(), store.status_counts()
(1, {'pending': 1})
>>> store.close()
"""

from __future__ import annotations

import asyncio
import numbers
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from aikit.settings import touch_private
from aikit.webhooks.writer import Writer

__all__ = ["RUN_STATUSES", "SCHEMA", "STATUSES", "NewEvent", "Run", "Store"]

#: Lifecycle of a stored event. ``received`` means no handler matched when it arrived; ``filtered``
#: that the source's ``filter=`` turned it away before its handlers; ``failed`` that some handler
#: waits for a retry; ``dead`` that some handler used up its attempts (the others are done).
STATUSES = ("received", "pending", "processing", "done", "failed", "dead", "filtered")
#: Lifecycle of one handler on one event (the ``handler_runs`` table).
RUN_STATUSES = ("pending", "running", "done", "failed", "dead")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    event_id TEXT,
    event_type TEXT,
    received_at REAL NOT NULL,
    provider_ts REAL,
    headers TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    body BLOB NOT NULL,
    content_type TEXT,
    verified TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    processed_at REAL,
    UNIQUE (source, dedupe_key)
);
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS handler_results (
    event INTEGER NOT NULL,
    handler TEXT NOT NULL,
    value TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (event, handler)
);
CREATE TABLE IF NOT EXISTS handler_runs (
    event INTEGER NOT NULL,
    handler TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (event, handler)
);
CREATE INDEX IF NOT EXISTS handler_runs_status ON handler_runs (status);
CREATE TABLE IF NOT EXISTS memo (
    event INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (event, key)
);
"""

_INSERT = (
    "INSERT INTO events (source, dedupe_key, event_id, event_type, received_at, provider_ts, headers,"
    " query, body, content_type, verified, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (source, dedupe_key) DO NOTHING"
)
_FRAME_COLUMNS = (
    "id, source, event_type, event_id, status, attempts, received_at, provider_ts, last_error,"
    " processed_at, body, content_type, headers"
)
_UNSETTLED = ("pending", "processing", "failed")


class NewEvent(NamedTuple):
    """One verified event to insert: the columns an arriving request fills, in insert order."""

    source: str
    dedupe_key: str
    event_id: str | None
    event_type: str | None
    received_at: float
    provider_ts: float | None
    headers: str
    query: str
    body: bytes
    content_type: str | None
    verified: str
    status: str


class Run(NamedTuple):
    """One handler's state on one event, as kept in ``handler_runs``."""

    handler: str
    status: str
    attempts: int
    next_at: float
    last_error: str | None


class Store:
    """The SQLite event store behind a :class:`~aikit.webhooks.listener.WebhookListener`.

    Parameters
    ----------
    path : str or Path
        The database file (created with its directory by :meth:`open`).
    max_batch, gather_gap, gather_max, checkpoint_every
        Group-commit tuning of the :class:`~aikit.webhooks.writer.Writer`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_batch: int = 512,
        gather_gap: float = 0.001,
        gather_max: float = 0.003,
        checkpoint_every: int = 200,
    ) -> None:
        self.path = Path(path).expanduser()
        self.writer = Writer(
            self.path,
            max_batch=max_batch,
            gather_gap=gather_gap,
            gather_max=gather_max,
            checkpoint_every=checkpoint_every,
        )

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Store({str(self.path)!r}, {state})"

    @property
    def is_open(self) -> bool:
        """True while the writer runs (between :meth:`open` and :meth:`close`)."""
        return self.writer.is_open

    @property
    def exists(self) -> bool:
        """True once the file exists (reading a store that does not exist would create it)."""
        return self.path.exists()

    @property
    def commits(self) -> int:
        """Transactions committed since :meth:`open`."""
        return self.writer.commits

    @property
    def batched(self) -> int:
        """Operations committed since :meth:`open` (``batched / commits`` is the group size)."""
        return self.writer.batched

    @property
    def commit_seconds(self) -> float:
        """Time the writer spent gathering and committing batches."""
        return self.writer.commit_seconds

    def open(self) -> None:
        """Create the schema and start the writer (idempotent)."""
        self.writer.open(SCHEMA)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer and close its connection."""
        self.writer.close(timeout)

    def insert_async(self, events: Sequence[NewEvent]) -> asyncio.Future[list[bool]]:
        """Queue ``events`` from the event loop; resolves after the commit to one flag per event:
        True if stored, False for a duplicate of an earlier ``(source, dedupe_key)``."""
        return self.writer.submit_async(_inserter(events))

    def insert(self, events: Sequence[NewEvent]) -> list[bool]:
        """:meth:`insert_async` from a thread: wait for the commit, return the stored flags."""
        return self.writer.call(_inserter(events))

    def recover(self) -> int:
        """Put rows left in ``processing`` by a crash back to ``pending``, and handler runs left
        ``running`` back to ``pending`` (the attempt counts: it may have half-happened); return how
        many events."""
        now = time.time()
        sql = "UPDATE events SET status='pending', next_attempt_at=? WHERE status='processing'"

        def op(conn: sqlite3.Connection) -> int:
            conn.execute("UPDATE handler_runs SET status='pending', next_at=? WHERE status='running'", (now,))
            return int(conn.execute(sql, (now,)).rowcount)

        return int(self.writer.call(op))

    def claim(
        self,
        sources: Sequence[str],
        wanted: Callable[[str, str | None], bool],
        now: float | None = None,
    ) -> sqlite3.Row | None:
        """Mark the first due event (``pending``, or ``failed`` with its retry time reached) of
        ``sources`` that ``wanted(source, event_type)`` accepts as ``processing``, count the attempt
        and return its row; None if there is none. An idle store costs a read, never a write."""
        now = time.time() if now is None else now
        marks = ",".join("?" * len(sources))
        select = (
            "SELECT id, source, event_type FROM events WHERE status IN ('pending','failed') AND "
            f"next_attempt_at <= ? AND source IN ({marks}) ORDER BY next_attempt_at, id LIMIT 200"
        )
        params = (now, *sources)
        if not any(wanted(source, etype) for _, source, etype in self._read(select, params)):
            return None

        def op(conn: sqlite3.Connection) -> sqlite3.Row | None:
            for eid, source, etype in conn.execute(select, params).fetchall():
                if wanted(source, etype):
                    conn.execute(
                        "UPDATE events SET status='processing', attempts=attempts+1 WHERE id=?", (eid,)
                    )
                    conn.row_factory = sqlite3.Row
                    try:
                        row: sqlite3.Row = conn.execute("SELECT * FROM events WHERE id=?", (eid,)).fetchone()
                    finally:
                        conn.row_factory = None
                    return row
            return None

        return self.writer.call(op)

    def runs(self, event: int) -> dict[str, Run]:
        """The recorded state of every handler that has run (or is running) on ``event``."""
        sql = "SELECT handler, status, attempts, next_at, last_error FROM handler_runs WHERE event=?"
        return {r[0]: Run(r[0], r[1], int(r[2]), float(r[3]), r[4]) for r in self._read(sql, (event,))}

    def start_run(self, event: int, handler: str, attempt: int) -> None:
        """Mark a handler ``running`` on ``event`` (committed before the handler's code starts, so a
        crash in the middle is seen at the next start and the attempt is counted)."""
        sql = (
            "INSERT INTO handler_runs (event, handler, status, attempts, next_at, updated_at)"
            " VALUES (?,?,'running',?,0,?) ON CONFLICT (event, handler) DO UPDATE SET"
            " status='running', attempts=excluded.attempts, updated_at=excluded.updated_at"
        )
        now = time.time()
        self.writer.call(lambda conn: conn.execute(sql, (event, handler, attempt, now)))

    def settle(
        self,
        event: int,
        runs: Sequence[Run],
        results: Sequence[tuple[str, str]],
        status: str,
        next_at: float,
        error: str | None,
    ) -> None:
        """In one transaction: the handlers' new states, their results (name, JSON text) and the
        event's summary status (``done``, ``failed`` with its next retry time, ``dead``, ``filtered``)."""
        now = time.time()
        run_sql = (
            "INSERT OR REPLACE INTO handler_runs"
            " (event, handler, status, attempts, next_at, last_error, updated_at) VALUES (?,?,?,?,?,?,?)"
        )
        result_sql = "INSERT OR REPLACE INTO handler_results (event, handler, value, at) VALUES (?,?,?,?)"
        event_sql = "UPDATE events SET status=?, next_attempt_at=?, last_error=?, processed_at=? WHERE id=?"
        processed = None if status == "failed" else now

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(run_sql, [(event, *run, now) for run in runs])
            conn.executemany(result_sql, [(event, name, value, now) for name, value in results])
            conn.execute(event_sql, (status, next_at, error, processed, event))

        self.writer.call(op)

    def memo(self, event: int, key: str) -> str | None:
        """The JSON text stored by :meth:`set_memo` for ``(event, key)``, or None."""
        rows = self._read("SELECT value FROM memo WHERE event=? AND key=?", (event, key))
        return str(rows[0][0]) if rows else None

    def set_memo(self, event: int, key: str, value: str) -> None:
        """Store a memoised value (JSON text) with its event."""
        sql = "INSERT OR REPLACE INTO memo (event, key, value, at) VALUES (?,?,?,?)"
        now = time.time()
        self.writer.call(lambda conn: conn.execute(sql, (event, key, value, now)))

    def find(self, event: int | str) -> tuple[int, str, str | None] | None:
        """``(row id, source, event_type)`` of a row id (int) or the provider's event id (str; the
        newest row carrying it), or None."""
        sql = "SELECT id, source, event_type FROM events WHERE "
        if isinstance(event, numbers.Integral):  # also numpy ints from hook.events()["id"]
            rows = self._read(sql + "id = ?", (int(event),))
        else:
            rows = self._read(sql + "event_id = ? ORDER BY id DESC", (event,))
        return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def requeue(self, event: int | Sequence[int], handler: str | None = None) -> None:
        """Forget the handlers' results and states of ``event`` (one row id or several) and make it
        ``pending`` again (a replay); with ``handler``, only that handler's. Memo values stay."""
        ids = [event] if isinstance(event, int) else list(event)
        extra, params = ("", ()) if handler is None else (" AND handler = ?", (handler,))

        def op(conn: sqlite3.Connection) -> None:
            for rid in ids:
                conn.execute("DELETE FROM handler_results WHERE event = ?" + extra, (rid, *params))
                conn.execute("DELETE FROM handler_runs WHERE event = ?" + extra, (rid, *params))
                sql = "UPDATE events SET status='pending', attempts=0, next_attempt_at=0, last_error=NULL"
                conn.execute(sql + " WHERE id=?", (rid,))

        self.writer.call(op)

    def select(
        self,
        *,
        ids: Sequence[int] | None = None,
        source: str | None = None,
        since: float | None = None,
        status: str | None = None,
    ) -> list[tuple[int, str, str | None]]:
        """``(row id, source, event_type)`` of the events matching every filter given, oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})" if ids else "0")
            params.extend(int(i) for i in ids)
        for column, value in (("source", source), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("received_at >= ?")
            params.append(float(since))
        sql = "SELECT id, source, event_type FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [(int(r[0]), r[1], r[2]) for r in self._read(sql + " ORDER BY id", params)]

    def dead_runs(self, source: str | None = None) -> list[sqlite3.Row]:
        """Every dead handler run with its event: ``id, source, event_type, event_id, received_at,
        handler, attempts, last_error, dead_at, body, content_type``, oldest first."""
        sql = (
            "SELECT e.id, e.source, e.event_type, e.event_id, e.received_at, r.handler, r.attempts,"
            " r.last_error, r.updated_at AS dead_at, e.body, e.content_type"
            " FROM handler_runs r JOIN events e ON e.id = r.event WHERE r.status = 'dead'"
        )
        params: tuple[Any, ...] = ()
        if source is not None:
            sql += " AND e.source = ?"
            params = (source,)
        return self._read(sql + " ORDER BY e.id, r.handler", params)

    def prune(self, before: float) -> int:
        """Delete ``done``, ``received`` and ``filtered`` events received before ``before`` (unix
        time) with their bodies, results, runs and memo values; return how many events went."""
        doomed = "SELECT id FROM events WHERE status IN ('done','received','filtered') AND received_at < ?"

        def op(conn: sqlite3.Connection) -> int:
            for table in ("handler_results", "handler_runs", "memo"):
                conn.execute(f"DELETE FROM {table} WHERE event IN ({doomed})", (before,))
            return int(
                conn.execute(
                    "DELETE FROM events WHERE status IN ('done','received','filtered') AND received_at < ?",
                    (before,),
                ).rowcount
            )

        return int(self.writer.call(op))

    def unsettled(self) -> int:
        """Events pending, being handled or waiting for a retry."""
        marks = ",".join("?" * len(_UNSETTLED))
        return int(self._read(f"SELECT count(*) FROM events WHERE status IN ({marks})", _UNSETTLED)[0][0])

    def count(self, source: str | None = None) -> int:
        """Stored events, of one source or all."""
        if source is None:
            return int(self._read("SELECT count(*) FROM events")[0][0])
        return int(self._read("SELECT count(*) FROM events WHERE source=?", (source,))[0][0])

    def status_counts(self) -> dict[str, int]:
        """Stored events per status (statuses with no event are left out)."""
        return {s: int(n) for s, n in self._read("SELECT status, count(*) FROM events GROUP BY status")}

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest events first: ``id, source, event_type, status, received_at, last_error``."""
        sql = (
            "SELECT id, source, event_type, status, received_at, last_error FROM events"
            " ORDER BY id DESC LIMIT ?"
        )
        return [dict(r) for r in self._read(sql, (int(limit),))]

    def events(
        self,
        *,
        source: str | None = None,
        status: str | None = None,
        event_type: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[sqlite3.Row]:
        """Events matching every filter given, oldest first; ``limit`` keeps the newest.

        Each row has ``id, source, event_type, event_id, status, attempts, received_at,
        provider_ts, last_error, processed_at, body, content_type, headers``; ``since`` is a unix
        time compared with ``received_at``.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("source", source), ("status", status), ("event_type", event_type)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("received_at >= ?")
            params.append(float(since))
        sql = f"SELECT {_FRAME_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._read(sql, params)[::-1]

    def results_from(self, first: int) -> list[tuple[int, str, str | None]]:
        """``(event, handler, JSON value)`` recorded for every event with id ``>= first``."""
        sql = "SELECT event, handler, value FROM handler_results WHERE event >= ?"
        return [(int(e), h, v) for e, h, v in self._read(sql, (first,))]

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read-only query on a fresh connection in the calling thread."""
        if not self.path.exists():
            touch_private(self.path)  # 0600 from creation, like the writer's file
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            return list(conn.execute(sql, params))
        finally:
            conn.close()


def _inserter(events: Sequence[NewEvent]) -> Callable[[sqlite3.Connection], list[bool]]:
    def op(conn: sqlite3.Connection) -> list[bool]:
        return [conn.execute(_INSERT, event).rowcount == 1 for event in events]

    return op
