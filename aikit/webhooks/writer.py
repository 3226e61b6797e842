"""The webhook store's single writer: one thread, group commit, ``synchronous=FULL``.

Every write goes through one writer thread. It takes whatever is queued (up to ``max_batch``
operations), runs them in one transaction and commits once, so sixteen concurrent requests cost one
fsync instead of sixteen. Only after that commit does each waiting caller learn its outcome; the
listener sends its 2xx at that point and never before. If the batch fails, each operation is retried
alone so that one bad write cannot fail its neighbours; a write that still fails is reported to its
caller (the listener answers 503 with ``Retry-After``). WAL checkpoints run on a second thread so
that no request waits for one.

An operation is a function of the open connection; :class:`~aikit.webhooks.store.Store` builds
them (it owns every SQL statement), this module only runs and commits them.

>>> import tempfile, pathlib
>>> writer = Writer(pathlib.Path(tempfile.mkdtemp()) / "w.sqlite")
>>> writer.open("CREATE TABLE t (x INTEGER)")
>>> writer.call(lambda conn: conn.execute("INSERT INTO t VALUES (1)").rowcount)
1
>>> writer.call(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])  # 2 is FULL
2
>>> writer.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aikit.exceptions import WebhookError
from aikit.settings import ensure_dir, touch_private

__all__ = ["Op", "Writer", "connect"]

T = TypeVar("T")
log = logging.getLogger("aikit.webhooks")

#: One write: runs inside the writer's open transaction and returns a value for its caller.
Op = Callable[[sqlite3.Connection], Any]


def connect(path: Path) -> sqlite3.Connection:
    """A new connection with the durable pragmas: WAL, ``synchronous=FULL`` (callers close it).

    A new file is created 0600 first, so the ``-wal`` and ``-shm`` SQLite adds copy that mode."""
    if not path.exists():
        touch_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class _Waiter:
    """Where an operation's outcome goes: an asyncio future on some loop, or a thread future."""

    __slots__ = ("fut", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None, fut: Any) -> None:
        self.loop = loop
        self.fut = fut


_STOP = object()


class Writer:
    """The one thread that writes a SQLite file, committing queued operations in groups.

    Parameters
    ----------
    path : Path
        The database file (created with its directory by :meth:`open`).
    max_batch : int
        Most operations committed together.
    gather_gap, gather_max : float
        After the first queued operation, keep collecting (up to the size of the previous batch)
        while the next one arrives within ``gather_gap`` seconds, for at most ``gather_max``.
    checkpoint_every : int
        Commits between WAL checkpoints, which run on their own thread.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_batch: int = 512,
        gather_gap: float = 0.001,
        gather_max: float = 0.003,
        checkpoint_every: int = 200,
    ) -> None:
        self.path = path
        self.max_batch = max_batch
        self.gather_gap = gather_gap
        self.gather_max = gather_max
        self.checkpoint_every = checkpoint_every
        self._last_batch = 1
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self.commits = 0
        self.batched = 0
        self.commit_seconds = 0.0

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Writer({str(self.path)!r}, {state})"

    @property
    def is_open(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def open(self, schema: str) -> None:
        """Create ``schema`` (a script of ``IF NOT EXISTS`` statements) and start the threads."""
        with self._lock:
            if self.is_open:
                return
            try:
                ensure_dir(self.path.parent)
                conn = connect(self.path)
                conn.executescript(schema)
            except (sqlite3.Error, OSError) as exc:
                raise WebhookError(f"cannot open the webhook store at {self.path}: {exc}") from exc
            conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the request path
            self._conn = conn
            self._queue = queue.SimpleQueue()
            self._closing.clear()
            self._thread = threading.Thread(target=self._run, name="aikit-webhook-writer", daemon=True)
            self._thread.start()
            self._checkpointer = threading.Thread(
                target=self._checkpoints, name="aikit-webhook-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the threads and close the connection."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._queue.put(_STOP)
            thread.join(timeout)
            self._thread = None
            self._closing.set()
            if self._checkpointer is not None:
                self._checkpointer.join(timeout)
                self._checkpointer = None
            if self._conn is not None and not thread.is_alive():
                self._conn.close()
                self._conn = None

    def submit_async(self, op: Op) -> asyncio.Future[Any]:
        """Queue ``op`` from a running event loop; the future resolves after its batch commits."""
        if not self.is_open:
            raise WebhookError("the webhook store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put((op, _Waiter(loop, fut)))
        return fut

    def call(self, op: Callable[[sqlite3.Connection], T], timeout: float = 60.0) -> T:
        """Run ``op`` in the writer's transaction from any thread and wait for the commit."""
        if not self.is_open:
            raise WebhookError("the webhook store is closed")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((op, _Waiter(None, fut)))
        return fut.result(timeout)

    def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            t0 = time.perf_counter()
            txn = _Txn(conn)
            batch = [item]
            txn.run(item[0])
            # Group commit. The senders answered by the previous commit usually come straight
            # back, so wait for about as many operations as that commit carried: while they keep
            # arriving (gaps under ``gather_gap``), for at most ``gather_max``. Each operation runs
            # in the open transaction as it arrives; one fsync then serves them all. A lone sender
            # (previous batch of 1) never waits.
            expected = self._last_batch
            deadline = t0 + self.gather_max
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    wait = min(self.gather_gap, deadline - time.perf_counter())
                    if len(batch) >= expected or wait <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=wait)
                    except queue.Empty:
                        break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
                txn.run(nxt[0])
            self._last_batch = len(batch)
            try:
                outcomes = txn.commit()
                if outcomes is None:
                    outcomes = self._isolate(conn, batch)
                else:
                    self.commits += 1
            except BaseException as exc:  # never let the writer die silently
                outcomes = [(None, exc)] * len(batch)
            self.commit_seconds += time.perf_counter() - t0
            self.batched += len(batch)
            self._deliver(batch, outcomes)

    def _checkpoints(self) -> None:
        """Copy the WAL into the database every ``checkpoint_every`` commits (PASSIVE: never blocks
        the writer). With the WAL fully copied, the writer restarts it from the beginning."""
        conn: sqlite3.Connection | None = None
        done = self.commits
        try:
            while not self._closing.wait(0.25):
                if self.commits - done < self.checkpoint_every:
                    continue
                done = self.commits
                if conn is None:
                    conn = connect(self.path)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the writer's own commits stay durable without checkpoints
            log.debug("webhook store checkpoint failed: %s", exc)
        finally:
            if conn is not None:
                conn.close()

    def _isolate(
        self, conn: sqlite3.Connection, batch: Sequence[Any]
    ) -> list[tuple[Any, BaseException | None]]:
        """The batch failed as a whole: run each operation in its own transaction."""
        out: list[tuple[Any, BaseException | None]] = []
        for op, _ in batch:
            txn = _Txn(conn)
            txn.run(op)
            outcome = txn.commit()
            if outcome is None:
                out.append((None, txn.error))
            else:
                self.commits += 1
                out.append(outcome[0])
        return out

    @staticmethod
    def _deliver(batch: Sequence[Any], outcomes: Sequence[tuple[Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
        for (_, waiter), (value, err) in zip(batch, outcomes, strict=True):
            if waiter.loop is None:
                if err is None:
                    waiter.fut.set_result(value)
                else:
                    waiter.fut.set_exception(err)
            else:
                by_loop.setdefault(waiter.loop, []).append((waiter.fut, value, err))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, items)


class _Txn:
    """One write transaction that operations join as they arrive (the writer thread only)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.results: list[tuple[Any, BaseException | None]] = []
        self.error: BaseException | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            self.error = exc

    def run(self, op: Op) -> None:
        if self.error is not None:
            return
        try:
            self.results.append((op(self.conn), None))
        except Exception as exc:
            self.error = exc

    def commit(self) -> list[tuple[Any, BaseException | None]] | None:
        """The results, or None if anything failed (the transaction is then rolled back)."""
        if self.error is None:
            try:
                self.conn.execute("COMMIT")
                return self.results
            except Exception as exc:
                self.error = exc
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        return None


def _resolve(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, value, err in items:
        if fut.done():
            continue
        if err is None:
            fut.set_result(value)
        else:
            fut.set_exception(err)
