"""The call log: one SQLite row per attempt outcome of every AI call, readable as a DataFrame.

Rows go to the ``calls`` table of ``settings().calllog_path`` (``$AIKIT_HOME/calls.sqlite``). Recording
is off the hot path: :meth:`CallLog.record` puts a tuple on a queue (about a microsecond) and one
writer thread per database file inserts whatever has queued up in a single transaction. Reading
(:meth:`CallLog.frame`) flushes first, so a DataFrame always shows every call made before it.

Columns: ``ts`` (UTC time), ``session`` (one id per client object), ``provider``, ``model``,
``base_url`` (normalised, without credentials or secret query parameters), ``status`` (HTTP status, or
None for cache hits and transport errors), ``outcome`` (``ok``, ``cache_hit``, ``retry``, ``error``),
``attempt`` (1-based; 0 for a cache hit), ``wait_s`` (pacing wait before the attempt plus backoff after
it), ``input_tokens``, ``output_tokens``, ``cost_usd``, ``latency_s``, ``cache_hit``, ``error``,
``cache_key``, ``mode`` (``live``; ``batch`` for an answer or error of a provider batch job, priced
at the batch rate; ``job`` for the HTTP calls that run such a job: upload, create, poll, download)
and ``requests`` (how many requests the row answered: 1, except for the one ``cache_hit`` row that
stands for all the rows a batch found in the cache, so that a cached re-run of 10,000 rows writes one
row, not 10,000, and the process does not pay for them at exit; its tokens are the sums).
No key or header is ever recorded.

>>> import tempfile, pathlib
>>> log = CallLog(pathlib.Path(tempfile.mkdtemp()) / "calls.sqlite")
>>> log.record(CallRecord(provider="openai", model="gpt-4o-mini", outcome="ok", status=200, attempt=1))
>>> len(log.frame())
1
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aikit.exceptions import CallLogError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CallLog", "CallRecord", "calllog"]

_log = logging.getLogger("aikit.client.calllog")


@dataclass(slots=True)
class CallRecord:
    """One attempt outcome (see the module docstring for the columns)."""

    provider: str
    model: str
    outcome: str
    base_url: str = ""
    status: int | None = None
    attempt: int = 1
    wait_s: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    cache_hit: bool = False
    error: str | None = None
    cache_key: str | None = None
    session: str = ""
    ts: float = 0.0
    mode: str = "live"
    requests: int = 1


_COLUMNS = tuple(f.name for f in fields(CallRecord))
_as_row = attrgetter(*_COLUMNS)  # a flat tuple, ~20x cheaper than dataclasses.astuple
_TYPES = {
    "status": "INTEGER",
    "attempt": "INTEGER",
    "requests": "INTEGER",
    "input_tokens": "INTEGER",
    "output_tokens": "INTEGER",
    "cache_hit": "INTEGER",
    "wait_s": "REAL",
    "cost_usd": "REAL",
    "latency_s": "REAL",
    "ts": "REAL",
}
_CREATE = (
    "CREATE TABLE IF NOT EXISTS calls (id INTEGER PRIMARY KEY, "
    + ", ".join(f"{c} {_TYPES.get(c, 'TEXT')}" for c in _COLUMNS)
    + ")"
)
_INSERT = f"INSERT INTO calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_MAX_BATCH = 2000
#: How long the writer waits after a first row for more: fewer wake-ups (GIL hand-offs) and commits.
_GATHER_S = 0.05


def _connect(path: Path) -> sqlite3.Connection:
    from aikit.settings import touch_private

    touch_private(path)  # 0600 before SQLite opens it: its -wal and -shm get the same mode
    con = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(_CREATE)
    have = {row[1] for row in con.execute("PRAGMA table_info(calls)")}
    for name in _COLUMNS:  # a log written by an older aikit gains the newer columns
        if name not in have:
            con.execute(f"ALTER TABLE calls ADD COLUMN {name} {_TYPES.get(name, 'TEXT')}")
    con.execute("CREATE INDEX IF NOT EXISTS calls_ts ON calls (ts)")
    con.commit()
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return con


class _Writer:
    """The writer thread of one database file: drains the queue, one transaction per batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue: queue.SimpleQueue[tuple[Any, ...] | threading.Event] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.failures = 0

    def put(self, item: tuple[Any, ...] | threading.Event) -> None:
        self.queue.put(item)
        thread = self.thread
        if thread is None or not thread.is_alive():
            with self.lock:
                if self.thread is None or not self.thread.is_alive():
                    self.thread = threading.Thread(target=self._run, name="aikit-calllog", daemon=True)
                    self.thread.start()

    def _run(self) -> None:
        con: sqlite3.Connection | None = None
        while True:
            try:
                item = self.queue.get(timeout=30.0)
            except queue.Empty:
                with self.lock:  # idle: end the thread; the next record starts a new one
                    if self.queue.empty():
                        self.thread = None
                        break
                continue
            if not isinstance(item, threading.Event):
                time.sleep(_GATHER_S)  # let rows pile up: one wake-up and one commit per batch
            rows: list[tuple[Any, ...]] = []
            events: list[threading.Event] = []
            while True:
                if isinstance(item, threading.Event):
                    events.append(item)
                else:
                    rows.append(item)
                if len(rows) >= _MAX_BATCH:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            if rows:
                try:
                    if con is None:
                        con = _connect(self.path)
                    with con:
                        con.executemany(_INSERT, rows)
                except (sqlite3.Error, OSError, ValueError) as exc:  # never raise or print from here
                    self.failures += 1
                    log = _log.warning if self.failures == 1 else _log.debug
                    log("call log rows could not be written to %s (%s: %s); move the file away to start "
                        "a new log", self.path, type(exc).__name__, exc)  # fmt: skip
                    con = None
            for event in events:
                event.set()
        if con is not None:
            con.close()

    def flush(self, timeout: float = 10.0) -> None:
        if (self.thread is None or not self.thread.is_alive()) and self.queue.empty():
            return
        done = threading.Event()
        self.put(done)
        done.wait(timeout)


_writers: dict[Path, _Writer] = {}
_writers_lock = threading.Lock()
_atexit_registered = False


def _writer(path: Path) -> _Writer:
    global _atexit_registered
    w = _writers.get(path)
    if w is None:
        with _writers_lock:
            w = _writers.setdefault(path, _Writer(path))
            if not _atexit_registered:  # rows queued just before exit still reach the file
                atexit.register(_flush_all)
                _atexit_registered = True
    return w


def _flush_all() -> None:
    for w in list(_writers.values()):
        w.flush(timeout=2.0)


def _after_fork() -> None:
    global _writers_lock
    _writers.clear()
    _writers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class CallLog:
    """Append-only log of AI call attempts in SQLite.

    Parameters
    ----------
    path : Path, optional
        The database file; default ``aikit.settings.settings().calllog_path``, resolved now.
    """

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from aikit.settings import settings

            path = settings().calllog_path
        self.path = Path(path).expanduser().absolute()  # resolved once: a later chdir moves nothing
        self._writer = _writer(self.path)

    def __repr__(self) -> str:
        return f"CallLog({str(self.path)!r})"

    def record(self, rec: CallRecord) -> None:
        """Queue one row (returns at once; the writer thread inserts it)."""
        if not rec.ts:
            rec.ts = time.time()
        self._writer.put(_as_row(rec))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything recorded so far is in the database."""
        self._writer.flush(timeout)

    def frame(self, where: dict[str, Any] | None = None, limit: int | None = None) -> pd.DataFrame:
        """The log as a DataFrame, oldest first; ``where`` filters on equal column values.

        >>> CallLog(Path("/nonexistent/calls.sqlite")).frame().empty
        True
        """
        import pandas as pd

        self.flush()
        columns = ["id", *_COLUMNS]
        if not self.path.exists():
            return _typed(pd.DataFrame(columns=columns))
        clauses, args = [], []
        for name, value in (where or {}).items():
            if name not in _COLUMNS:
                raise ConfigError(f"unknown call-log column {name!r}; the columns are {', '.join(_COLUMNS)}")
            clauses.append(f"{name} = ?")
            args.append(value)
        sql = f"SELECT {', '.join(columns)} FROM calls"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id"
        if limit is not None:
            newest = sql.replace("ORDER BY id", "ORDER BY id DESC")
            sql = f"SELECT * FROM ({newest} LIMIT {int(limit)}) ORDER BY id"
        try:
            con = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from exc
        try:
            have = {row[1] for row in con.execute("PRAGMA table_info(calls)")}
            picked = [c if c in have or c == "id" else f"NULL AS {c}" for c in columns]  # an older log
            sql = f"SELECT {', '.join(picked)} FROM calls"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += " ORDER BY id"
            if limit is not None:
                newest = sql.replace("ORDER BY id", "ORDER BY id DESC")
                sql = f"SELECT * FROM ({newest} LIMIT {int(limit)}) ORDER BY id"
            rows = con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):  # a log file made before any call: empty
                raise self._unreadable(exc) from exc
            rows = []
        except sqlite3.Error as exc:  # not a database, or damaged
            raise self._unreadable(exc) from exc
        finally:
            con.close()
        return _typed(pd.DataFrame.from_records(rows, columns=columns))

    def _unreadable(self, exc: sqlite3.Error) -> CallLogError:
        return CallLogError(
            f"the call log {str(self.path)!r} cannot be read ({type(exc).__name__}: {exc}); it is damaged "
            "or not an aikit call log. Move it away (aikit starts a new one) or pass calllog=False"
        )


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    df = df.set_index("id")
    df["ts"] = pd.to_datetime(df["ts"].astype("float64"), unit="s", utc=True)
    df["cache_hit"] = df["cache_hit"].astype(bool)
    df["mode"] = df["mode"].fillna("live")  # rows written before the column existed
    df["requests"] = df["requests"].fillna(1)
    for col in ("status", "attempt", "input_tokens", "output_tokens", "requests"):
        df[col] = df[col].astype("Int64")
    for col in ("wait_s", "cost_usd", "latency_s"):
        df[col] = df[col].astype("float64")
    return df


_default: CallLog | None = None


def calllog() -> CallLog:
    """The call log at the current ``settings().calllog_path`` (rebuilt when the path changes)."""
    global _default
    from aikit.settings import settings

    path = settings().calllog_path
    if _default is None or _default.path != path:
        _default = CallLog(path)
    return _default
