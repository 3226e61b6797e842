"""The job records: one SQLite file under ``$AIKIT_HOME`` (``jobs.sqlite``, mode 0600), durable.

The file is ``$AIKIT_JOB_STORE`` when that is set.

Every query lives here. Three tables:

- ``jobs``: one row per job a user started (a DataFrame run in batch mode, an
  :class:`~aikit._jobs.job.AsyncJob`): its kind, provider, model, base URL, the fingerprint that lets
  a re-run find it, status, counts and timestamps. At most one *unfinished* job has a given
  fingerprint (a partial unique index), so two processes re-running the same cell at once cannot
  both submit;
- ``parts``: the provider jobs of a job (one provider batch per part; several past the provider's
  limits, more for resubmission rounds): the remote id, the provider's status and counts;
- ``items``: the requests of a job: ``custom_id``, the part that carries it, the request hash (the
  cache key), the rows it answers, and its state (``queued``, ``submitted``, ``answered``, ``failed``,
  ``expired``, ``missing``, ``cancelled``, ``live``, ``skipped``) with the provider's error line.

A job is written before the call that starts it returns, and each part before and right after its
provider call (``synchronous=FULL``: a record survives a killed kernel or a power cut).

>>> import pathlib, tempfile
>>> store = JobStore(pathlib.Path(tempfile.mkdtemp()) / "jobs.sqlite")
>>> job = store.claim("rest", fingerprint="export-1", name="export", detail={})
>>> store.claim("rest", fingerprint="export-1", name="export", detail={}).id == job.id
True
>>> store.finish(job.id, "done")
>>> store.active("export-1") is None
True
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aikit.exceptions import JobError

__all__ = ["FINISHED", "Item", "JobRecord", "JobStore", "Part", "job_store"]

#: Job statuses after which nothing changes.
FINISHED = frozenset({"done", "failed", "cancelled"})

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, provider TEXT, model TEXT, base_url TEXT,
        fingerprint TEXT, status TEXT NOT NULL, rows INTEGER, created_at REAL NOT NULL,
        updated_at REAL NOT NULL, finished_at REAL, detail TEXT, summary TEXT, error TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_active ON jobs (fingerprint) WHERE finished_at IS NULL",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at)",
    """CREATE TABLE IF NOT EXISTS parts (
        job_id TEXT NOT NULL, part INTEGER NOT NULL, round INTEGER NOT NULL, remote_id TEXT,
        input_file_id TEXT, status TEXT NOT NULL, state TEXT NOT NULL, counts TEXT, requests INTEGER,
        submitted_at REAL, updated_at REAL NOT NULL, collected INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, part))""",
    """CREATE TABLE IF NOT EXISTS items (
        job_id TEXT NOT NULL, custom_id TEXT NOT NULL, part INTEGER, cache_key TEXT NOT NULL,
        rows TEXT NOT NULL, state TEXT NOT NULL, error TEXT, round INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job_id, custom_id))""",
    "CREATE INDEX IF NOT EXISTS items_part ON items (job_id, part)",
)


@dataclass
class JobRecord:
    """One row of ``jobs``."""

    id: str
    kind: str
    name: str | None
    provider: str | None
    model: str | None
    base_url: str | None
    fingerprint: str | None
    status: str
    rows: int | None
    created_at: float
    updated_at: float
    finished_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: True when :meth:`JobStore.claim` found this unfinished job instead of creating it.
    attached: bool = False

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass
class Part:
    """One provider job of a job (one row of ``parts``)."""

    job_id: str
    part: int
    round: int
    remote_id: str | None
    input_file_id: str | None
    status: str
    state: str
    counts: dict[str, int]
    requests: int
    submitted_at: float | None
    updated_at: float
    collected: bool


@dataclass(frozen=True, slots=True)
class Item:
    """One request of a job (one row of ``items``)."""

    custom_id: str
    part: int | None
    cache_key: str
    rows: tuple[int, ...]
    state: str
    error: str | None
    round: int


def _job(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["detail"] = json.loads(data["detail"] or "{}")
    data["summary"] = json.loads(data["summary"] or "{}")
    return JobRecord(**data)


def _part(row: sqlite3.Row) -> Part:
    data = dict(row)
    data["counts"] = json.loads(data["counts"] or "{}")
    data["collected"] = bool(data["collected"])
    return Part(**data)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class JobStore:
    """The job records in one SQLite file (see the module docstring).

    Parameters
    ----------
    path : Path
        The database file; its directory is created private (0700), the file and its WAL are 0600.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction (committed on success, rolled back on error)."""
        if not self._ready:
            self._create()
        try:
            con = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise JobError(f"cannot open the job store {self.path}: {exc}") from exc
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _create(self) -> None:
        from aikit.settings import ensure_dir

        with self._lock:
            if self._ready:
                return
            ensure_dir(self.path.parent)
            if not self.path.exists():  # created 0600 before SQLite opens it (its WAL inherits the mode)
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            try:
                con = sqlite3.connect(str(self.path), timeout=30.0)
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                    for sql in _SCHEMA:
                        con.execute(sql)
                    con.commit()
                finally:
                    con.close()
            except sqlite3.Error as exc:
                raise JobError(f"cannot open the job store {self.path}: {exc}") from exc
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.chmod(f"{self.path}{suffix}", 0o600)
            self._ready = True

    def claim(
        self,
        kind: str,
        *,
        fingerprint: str | None,
        name: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        rows: int | None = None,
        detail: Mapping[str, Any] | None = None,
        reuse_done: bool = False,
    ) -> JobRecord:
        """The unfinished job with ``fingerprint`` (``attached=True``), else a new one (``submitting``).

        With ``reuse_done``, the latest job with that fingerprint that finished ``done`` is attached to
        as well (its result is fetched again rather than the job submitted again).
        """
        now = time.time()
        with self._db() as con:
            if fingerprint is not None:
                row = con.execute(
                    "SELECT * FROM jobs WHERE fingerprint = ? AND finished_at IS NULL", (fingerprint,)
                ).fetchone()
                if row is None and reuse_done:
                    row = con.execute(
                        "SELECT * FROM jobs WHERE fingerprint = ? AND status = 'done' "
                        "ORDER BY created_at DESC LIMIT 1",
                        (fingerprint,),
                    ).fetchone()
                if row is not None:
                    job = _job(row)
                    job.attached = True
                    return job
            job_id = "job_" + uuid.uuid4().hex[:16]
            con.execute(
                "INSERT INTO jobs (id, kind, name, provider, model, base_url, fingerprint, status, rows, "
                "created_at, updated_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?)",
                (
                    job_id,
                    kind,
                    name,
                    provider,
                    model,
                    base_url,
                    fingerprint,
                    rows,
                    now,
                    now,
                    _dumps(dict(detail or {})),
                ),
            )
        return JobRecord(
            job_id,
            kind,
            name,
            provider,
            model,
            base_url,
            fingerprint,
            "submitting",
            rows,
            now,
            now,
            detail=dict(detail or {}),
        )

    def get(self, job_id: str) -> JobRecord:
        """The job ``job_id`` (``JobError`` when there is none)."""
        with self._db() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"no job {job_id!r} in {self.path}; aikit.jobs() lists the recorded ones")
        return _job(row)

    def active(self, fingerprint: str) -> JobRecord | None:
        """The unfinished job with ``fingerprint``, or None."""
        with self._db() as con:
            row = con.execute(
                "SELECT * FROM jobs WHERE fingerprint = ? AND finished_at IS NULL", (fingerprint,)
            ).fetchone()
        return None if row is None else _job(row)

    def update(
        self,
        job_id: str,
        *,
        status: str | None = None,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a job's status, summary, error or detail (and its ``updated_at``)."""
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [time.time()]
        for column, value in (("status", status), ("error", error)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        for column, mapping in (("summary", summary), ("detail", detail)):
            if mapping is not None:
                sets.append(f"{column} = ?")
                args.append(_dumps(dict(mapping)))
        with self._db() as con:
            con.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))

    def finish(
        self, job_id: str, status: str, *, summary: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Mark a job finished (``done``, ``failed`` or ``cancelled``): a re-run then starts a new one."""
        if status not in FINISHED:
            raise ValueError(f"a finished status is one of {sorted(FINISHED)}, got {status!r}")
        self.update(job_id, status=status, summary=summary, error=error)
        with self._db() as con:
            con.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time(), job_id))

    def add_items(self, job_id: str, items: Iterable[tuple[str, str, Sequence[int]]]) -> None:
        """Record the requests of a job: ``(custom_id, cache_key, rows)``, state ``queued``."""
        with self._db() as con:
            con.executemany(
                "INSERT OR IGNORE INTO items (job_id, custom_id, cache_key, rows, state) "
                "VALUES (?, ?, ?, ?, 'queued')",
                ((job_id, cid, key, _dumps(list(rows))) for cid, key, rows in items),
            )

    def items(
        self, job_id: str, *, part: int | None = None, states: Iterable[str] | None = None
    ) -> list[Item]:
        """The requests of a job (of one part, or in some states)."""
        sql = "SELECT * FROM items WHERE job_id = ?"
        args: list[Any] = [job_id]
        if part is not None:
            sql += " AND part = ?"
            args.append(part)
        wanted = list(states or ())
        if wanted:
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        with self._db() as con:
            rows = con.execute(sql, args).fetchall()
        return [
            Item(
                r["custom_id"],
                r["part"],
                r["cache_key"],
                tuple(json.loads(r["rows"])),
                r["state"],
                r["error"],
                r["round"],
            )
            for r in rows
        ]

    def set_items(self, job_id: str, changes: Iterable[tuple[str, str, str | None]]) -> None:
        """Settle requests: ``(custom_id, state, error)``."""
        with self._db() as con:
            con.executemany(
                "UPDATE items SET state = ?, error = ? WHERE job_id = ? AND custom_id = ?",
                ((state, error, job_id, cid) for cid, state, error in changes),
            )

    def add_part(self, job_id: str, round_: int, custom_ids: Sequence[str]) -> int:
        """A new part (``pending``) carrying ``custom_ids``, recorded before anything is sent."""
        now = time.time()
        with self._db() as con:
            (last,) = con.execute(
                "SELECT COALESCE(MAX(part), -1) FROM parts WHERE job_id = ?", (job_id,)
            ).fetchone()
            part = int(last) + 1
            con.execute(
                "INSERT INTO parts (job_id, part, round, status, state, counts, requests, updated_at) "
                "VALUES (?, ?, ?, 'pending', 'pending', '{}', ?, ?)",
                (job_id, part, round_, len(custom_ids), now),
            )
            con.executemany(
                "UPDATE items SET part = ?, round = ?, state = 'submitted', error = NULL "
                "WHERE job_id = ? AND custom_id = ?",
                ((part, round_, job_id, cid) for cid in custom_ids),
            )
        return part

    def set_part(
        self,
        job_id: str,
        part: int,
        *,
        remote_id: str | None = None,
        input_file_id: str | None = None,
        status: str | None = None,
        state: str | None = None,
        counts: Mapping[str, int] | None = None,
        collected: bool | None = None,
    ) -> None:
        """Record what the provider said about a part."""
        now = time.time()
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [now]
        for column, value in (
            ("remote_id", remote_id),
            ("input_file_id", input_file_id),
            ("status", status),
            ("state", state),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if remote_id is not None:
            sets.append("submitted_at = COALESCE(submitted_at, ?)")
            args.append(now)
        if counts is not None:
            sets.append("counts = ?")
            args.append(_dumps(dict(counts)))
        if collected is not None:
            sets.append("collected = ?")
            args.append(int(collected))
        with self._db() as con:
            con.execute(
                f"UPDATE parts SET {', '.join(sets)} WHERE job_id = ? AND part = ?", (*args, job_id, part)
            )

    def parts(self, job_id: str) -> list[Part]:
        """The parts of a job, in order."""
        with self._db() as con:
            rows = con.execute("SELECT * FROM parts WHERE job_id = ? ORDER BY part", (job_id,)).fetchall()
        return [_part(r) for r in rows]

    def jobs(self, *, limit: int | None = None) -> list[JobRecord]:
        """Every job, newest first."""
        sql = "SELECT * FROM jobs ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if not self.path.exists():
            return []
        with self._db() as con:
            return [_job(r) for r in con.execute(sql).fetchall()]

    def item_counts(self, job_id: str) -> dict[str, int]:
        """How many requests of a job are in each state."""
        with self._db() as con:
            rows = con.execute(
                "SELECT state, COUNT(*) FROM items WHERE job_id = ? GROUP BY state", (job_id,)
            ).fetchall()
        return {str(state): int(n) for state, n in rows}


_stores: dict[Path, JobStore] = {}
_stores_lock = threading.Lock()


def job_store(path: Path | None = None) -> JobStore:
    """The job store at ``path`` (default ``$AIKIT_HOME/jobs.sqlite``, read from the environment now)."""
    if path is None:
        from aikit.settings import settings

        override = os.environ.get("AIKIT_JOB_STORE")
        path = Path(override).expanduser() if override else settings().home / "jobs.sqlite"
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = JobStore(path)
        return store
