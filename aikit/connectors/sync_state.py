"""Where an incremental CRM sync keeps its place: a private, durable SQLite file under ``$AIKIT_HOME``.

One row per sync *key* (the portal, or the base URL when the portal id cannot be read; the object
type; the state name) holds the cursor (the inclusive lower bound of the next run, in epoch
milliseconds), the versions already delivered at or after it (``ties``: ``{id: modified ms}``, so a
record seen at the boundary is not delivered twice), the properties synced, and the progress of a run
in flight (the slice being read and the last id read in it). Fetched records wait in the ``pending``
table until the caller gets them: each page is written there in the same transaction as the progress
that says it was read, so a process killed at any point resumes exactly where the last commit left it,
without fetching a committed page again and without losing one.

The file is created 0600 in a 0700 directory, written with ``synchronous=FULL`` (durable across power
loss), and a run holds an exclusive lock per key (another process syncing the same key gets a clear
:class:`~aikit.exceptions.SyncError`; the lock dies with its process).

>>> import tempfile, pathlib
>>> state = SyncState(pathlib.Path(tempfile.mkdtemp()) / "sync.sqlite")
>>> state.states().empty
True
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from aikit.exceptions import SyncError
from aikit.settings import ensure_dir, settings

__all__ = ["SavedState", "SyncState", "default_path"]

_DDL = """
CREATE TABLE IF NOT EXISTS states (
    key TEXT PRIMARY KEY, portal TEXT NOT NULL, object_type TEXT NOT NULL, name TEXT NOT NULL,
    properties TEXT, next_lo INTEGER, ties TEXT NOT NULL DEFAULT '{}', del_lo INTEGER,
    del_ties TEXT NOT NULL DEFAULT '{}', progress TEXT, runs INTEGER NOT NULL DEFAULT 0, updated_at TEXT);
CREATE TABLE IF NOT EXISTS pending (
    key TEXT NOT NULL, id TEXT NOT NULL, record TEXT, modified INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL, PRIMARY KEY (key, id));
"""


def default_path() -> Path:
    """``$AIKIT_SYNC_STATE``, else ``$AIKIT_HOME/sync/state.sqlite``."""
    env = os.environ.get("AIKIT_SYNC_STATE")
    return Path(env).expanduser() if env else settings().home / "sync" / "state.sqlite"


@dataclass
class SavedState:
    """One key's saved position (see the module docstring)."""

    key: str
    portal: str
    object_type: str
    name: str
    properties: list[str] | None = None
    next_lo: int | None = None
    ties: dict[str, int] = field(default_factory=dict)
    del_lo: int | None = None
    del_ties: dict[str, int] = field(default_factory=dict)
    progress: dict[str, Any] | None = None
    runs: int = 0


def _iso(ms: int | None) -> pd.Timestamp | None:
    return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")


class SyncState:
    """The sync positions of this machine (one SQLite file, any number of portals and object types).

    Parameters
    ----------
    path : str or Path, optional
        The state file. Default ``$AIKIT_SYNC_STATE``, else ``$AIKIT_HOME/sync/state.sqlite``.

    Examples
    --------
    >>> state = SyncState()                                 # doctest: +SKIP
    >>> state.states()[["object_type", "name", "cursor", "pending"]]   # doctest: +SKIP
    >>> state.reset("tickets")                              # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._held: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"SyncState(path={str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                os.chmod(ensure_dir(self.path.parent), 0o700)
                if not self.path.exists():
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
                os.chmod(self.path, 0o600)
                db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_DDL)
            except (OSError, sqlite3.Error) as exc:
                raise SyncError(
                    f"cannot open the sync state {self.path}: {exc}. Check the permissions, or point "
                    f"AIKIT_SYNC_STATE (or SyncState(path=...)) at a writable file"
                ) from exc
            self._db = db
        return self._db

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise SyncError(f"the sync state {self.path} could not be written: {exc}") from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            for key in list(self._held):
                self.release(key)
            if self._db is not None:
                self._db.close()
                self._db = None

    @staticmethod
    def key(portal: str, object_type: str, name: str) -> str:
        return f"{portal}|{object_type}|{name}"

    def acquire(self, key: str) -> None:
        """Hold the key's lock for this process (released by :meth:`release` or when the process ends)."""
        import hashlib

        lock_dir = ensure_dir(self.path.parent / "locks")
        os.chmod(lock_dir, 0o700)
        lock_path = lock_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock (Windows): one process per state file is the user's job
            pass
        except OSError:
            os.close(fd)
            raise SyncError(
                f"another sync of {key.split('|')[1]} (state {key.split('|')[2]!r}) is running; wait for it "
                "to finish, or pass another state= name"
            ) from None
        self._held[key] = fd

    def release(self, key: str) -> None:
        fd = self._held.pop(key, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def load(self, key: str) -> SavedState | None:
        with self._lock:
            row = self._conn().execute("SELECT * FROM states WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return SavedState(
                key=row[0],
                portal=row[1],
                object_type=row[2],
                name=row[3],
                properties=None if row[4] is None else list(json.loads(row[4])),
                next_lo=row[5],
                ties={str(k): int(v) for k, v in json.loads(row[6]).items()},
                del_lo=row[7],
                del_ties={str(k): int(v) for k, v in json.loads(row[8]).items()},
                progress=None if row[9] is None else dict(json.loads(row[9])),
                runs=int(row[10]),
            )
        except (ValueError, TypeError) as exc:
            raise SyncError(
                f"the sync state for {key!r} in {self.path} is unreadable ({exc}); reset it with "
                f"SyncState().reset(...) or sync again with full=True"
            ) from exc

    def save(self, state: SavedState, db: sqlite3.Connection | None = None) -> None:
        """Write the whole row (inside a transaction when ``db`` is given)."""
        values = (
            state.key,
            state.portal,
            state.object_type,
            state.name,
            None if state.properties is None else json.dumps(state.properties),
            state.next_lo,
            json.dumps(state.ties),
            state.del_lo,
            json.dumps(state.del_ties),
            None if state.progress is None else json.dumps(state.progress),
            state.runs,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        sql = "INSERT OR REPLACE INTO states VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        if db is not None:
            db.execute(sql, values)
            return
        with self._tx() as tx:
            tx.execute(sql, values)

    def commit(
        self,
        state: SavedState,
        records: Sequence[Mapping[str, Any]] = (),
        modified: Sequence[int | None] = (),
        deleted: Mapping[str, int] | None = None,
    ) -> None:
        """Land fetched ``records`` (and ``deleted`` ids) in ``pending`` and save ``state``, atomically."""
        with self._tx() as db:
            row = db.execute("SELECT coalesce(max(seq), 0) FROM pending WHERE key=?", (state.key,)).fetchone()
            seq = int(row[0])
            for rec, mod in zip(records, modified, strict=True):
                seq += 1
                db.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, 0, ?)",
                    (state.key, str(rec["id"]), json.dumps(rec), mod, seq),
                )
            for oid, at in (deleted or {}).items():
                seq += 1
                db.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?, ?, NULL, ?, 1, ?)", (state.key, oid, at, seq)
                )
            self.save(state, db)

    def pending_modified(self, key: str, since: int) -> dict[str, int]:
        """``{id: modified}`` of pending records modified at or after ``since`` (the next ties)."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT id, modified FROM pending WHERE key=? AND deleted=0 AND modified>=?", (key, since)
                )
                .fetchall()
            )
        return {str(i): int(m) for i, m in rows}

    def pending(self, key: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The records and deleted ids waiting for the caller (records in id order)."""
        with self._lock:
            rows = (
                self._conn()
                .execute("SELECT id, record, deleted FROM pending WHERE key=? ORDER BY seq", (key,))
                .fetchall()
            )
        records = [json.loads(r[1]) for r in rows if not r[2]]
        records.sort(key=lambda r: (len(str(r["id"])), str(r["id"])))
        return records, [str(r[0]) for r in rows if r[2]]

    def count_pending(self, key: str) -> int:
        with self._lock:
            row = self._conn().execute("SELECT count(*) FROM pending WHERE key=?", (key,)).fetchone()
        return int(row[0])

    def hand_over(self, state: SavedState) -> None:
        """The caller has the pending rows: clear them and save the finished ``state``, atomically."""
        with self._tx() as db:
            db.execute("DELETE FROM pending WHERE key=?", (state.key,))
            self.save(state, db)

    def states(self) -> pd.DataFrame:
        """One row per saved sync: portal, object type, name, cursor, properties, pending rows, runs."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT s.key, s.portal, s.object_type, s.name, s.next_lo, s.properties, s.progress, "
                    "s.runs, s.updated_at, (SELECT count(*) FROM pending p WHERE p.key=s.key) "
                    "FROM states s ORDER BY s.key"
                )
                .fetchall()
            )
        columns = [
            "portal",
            "object_type",
            "name",
            "cursor",
            "properties",
            "in_progress",
            "pending",
            "runs",
            "updated_at",
        ]
        data = [
            {
                "portal": r[1],
                "object_type": r[2],
                "name": r[3],
                "cursor": _iso(r[4]),
                "properties": None if r[5] is None else json.loads(r[5]),
                "in_progress": r[6] is not None,
                "pending": int(r[9]),
                "runs": int(r[7]),
                "updated_at": r[8],
            }
            for r in rows
        ]
        return pd.DataFrame(data, columns=columns)

    def reset(
        self, object_type: str | None = None, name: str | None = None, portal: str | None = None
    ) -> int:
        """Forget matching saved syncs (their next run is a full one); returns how many."""
        clauses, args = [], []
        for column, value in (("object_type", object_type), ("name", name), ("portal", portal)):
            if value is not None:
                clauses.append(f"{column}=?")
                args.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._tx() as db:
            keys = [r[0] for r in db.execute(f"SELECT key FROM states{where}", args).fetchall()]
            for key in keys:
                db.execute("DELETE FROM states WHERE key=?", (key,))
                db.execute("DELETE FROM pending WHERE key=?", (key,))
        return len(keys)
