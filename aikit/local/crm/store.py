"""The demo CRM's SQLite store: objects and associations; property definitions and webhook settings.

One connection guarded by a lock (the server's handlers and in-process callers such as
``DemoCRM.subscribe`` share it). A file path makes the CRM durable across restarts; ``":memory:"``
keeps it in the process. :class:`Store` owns the ``objects``, ``associations`` and ``meta`` tables;
its :attr:`~Store.properties` (:mod:`aikit.local.crm.property_store`) and :attr:`~Store.webhooks`
(:mod:`aikit.local.crm.webhook_store`) own theirs on the same connection. Every property value is
stored and returned as a string, as HubSpot does.

>>> store = Store(":memory:")
>>> rec = store.create("contacts", {"email": "ada@lovelace.example", "firstname": "Ada"})
>>> store.get("contacts", str(rec.id)).props["firstname"]
'Ada'
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aikit.local.crm.property_store import PropertyStore
from aikit.local.crm.schema import association_type, modified_property, type_pair_for_id
from aikit.local.crm.webhook_store import WebhookStore
from aikit.local.crm.wire import StoreError, iso_now, stringify

__all__ = ["Listener", "Record", "Store"]

_DDL = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, props TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0,
    archived_at TEXT);
CREATE INDEX IF NOT EXISTS objects_type ON objects(type, archived, id);
CREATE TABLE IF NOT EXISTS associations (
    from_type TEXT, from_id INTEGER, to_type TEXT, to_id INTEGER, type_id INTEGER,
    PRIMARY KEY (from_type, from_id, to_type, to_id, type_id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_FIRST_ID = 1001


@dataclass
class Record:
    """One stored CRM object."""

    id: int
    type: str
    props: dict[str, str | None]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None
    changes: dict[str, str | None] = field(default_factory=dict)


#: Receives ``(event_type, object_type, object_id, property_name, property_value)`` after a change.
Listener = Callable[[str, str, int, str | None, str | None], None]


class Store:
    """SQLite-backed CRM objects. ``strict`` rejects undefined properties, as HubSpot does."""

    def __init__(self, path: str = ":memory:", *, strict: bool = True) -> None:
        self.path, self.strict = path, strict
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_DDL)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self.listener: Listener | None = None
        #: Change events held back until the transaction in progress commits (None: none in progress).
        self._events: list[tuple[str, str, int, str | None, str | None]] | None = None
        #: Property definitions, groups and value checks (the ``properties`` tables).
        self.properties = PropertyStore(self._db, self._lock, strict=strict)
        #: Webhook apps and subscriptions (the ``webhook_apps`` and ``subscriptions`` tables).
        self.webhooks = WebhookStore(self._db, self._lock)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All the writes inside, or none of them: one commit, or a rollback on any exception.

        Batch endpoints run in one (HubSpot's batch writes are all-or-nothing per request); seeding uses
        one too. Change events (webhooks) are sent only once the commit is done, never for writes that
        were rolled back. Nested use joins the outer transaction.
        """
        with self._lock:
            if self._events is not None:  # already inside: one transaction, one commit
                yield
                return
            self._events = []
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._events = None
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            events, self._events = self._events, None
        for event in events:
            self._notify(*event)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def count(self, object_type: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM objects WHERE type=? AND archived=0", (object_type,)
            ).fetchone()
        return int(row[0])

    def _row(self, row: tuple[Any, ...]) -> Record:
        return Record(
            id=row[0],
            type=row[1],
            props=json.loads(row[2]),
            created_at=row[3],
            updated_at=row[4],
            archived=bool(row[5]),
            archived_at=row[6],
        )

    def get(
        self, object_type: str, object_id: str, *, id_property: str | None = None, archived: bool = False
    ) -> Record | None:
        with self._lock:
            if id_property and id_property != "hs_object_id":
                for rec in self._scan(object_type, archived):
                    if (rec.props.get(id_property) or "").lower() == object_id.lower():
                        return rec
                return None
            if not object_id.isdigit():
                return None
            row = self._db.execute(
                "SELECT * FROM objects WHERE id=? AND type=? AND archived=?",
                (int(object_id), object_type, int(archived)),
            ).fetchone()
        return None if row is None else self._row(row)

    def _scan(self, object_type: str, archived: bool = False) -> list[Record]:
        rows = self._db.execute(
            "SELECT * FROM objects WHERE type=? AND archived=? ORDER BY id", (object_type, int(archived))
        )
        return [self._row(r) for r in rows]

    def scan(self, object_type: str, archived: bool = False) -> list[Record]:
        """Every object of a type in id order (search filters these in Python)."""
        with self._lock:
            return self._scan(object_type, archived)

    def page(self, object_type: str, *, limit: int, after: int, archived: bool) -> tuple[list[Record], bool]:
        """Up to ``limit`` objects with id > ``after``, and whether more follow."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM objects WHERE type=? AND archived=? AND id>? ORDER BY id LIMIT ?",
                (object_type, int(archived), after, limit + 1),
            ).fetchall()
        return [self._row(r) for r in rows[:limit]], len(rows) > limit

    def create(
        self,
        object_type: str,
        props: dict[str, Any],
        *,
        associations: Iterable[tuple[str, int, int]] = (),
        created_at: str | None = None,
        check: bool = True,
    ) -> Record:
        """Insert an object; ``associations`` are ``(to_type, to_id, type_id)``."""
        with self._lock:
            clean: dict[str, str | None] = (
                self.properties.check(object_type, props)
                if check
                else {k: stringify(v) for k, v in props.items()}
            )
            if check and object_type == "contacts" and clean.get("email"):
                existing = self.get("contacts", str(clean["email"]), id_property="email")
                if existing is not None:
                    raise StoreError(409, "CONFLICT", f"Contact already exists. Existing ID: {existing.id}")
            now = created_at or iso_now()
            cur = self._db.execute("SELECT coalesce(max(id), ?) + 1 FROM objects", (_FIRST_ID - 1,))
            new_id = int(cur.fetchone()[0])
            clean.update(
                {"hs_object_id": str(new_id), "createdate": now, modified_property(object_type): now}
            )
            self._db.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?, ?, 0, NULL)",
                (new_id, object_type, json.dumps(clean), now, now),
            )
            for to_type, to_id, type_id in associations:
                self._associate(object_type, new_id, to_type, to_id, type_id)
            rec = Record(new_id, object_type, clean, now, now)
            self._emit("creation", object_type, new_id, None, None)
        return rec

    def update(
        self, object_type: str, object_id: str, props: dict[str, Any], *, id_property: str | None = None
    ) -> Record | None:
        """Apply ``props`` (``""`` clears a value); ``None`` when the object does not exist."""
        with self._lock:
            clean = self.properties.check(object_type, props)
            rec = self.get(object_type, object_id, id_property=id_property)
            if rec is None:
                return None
            changes = {k: v for k, v in clean.items() if rec.props.get(k) != v}
            if changes:
                now = iso_now()
                rec.props.update(changes)
                rec.props[modified_property(object_type)] = now
                rec.updated_at = now
                self._db.execute(
                    "UPDATE objects SET props=?, updated_at=? WHERE id=?",
                    (json.dumps(rec.props), now, rec.id),
                )
                for name, value in changes.items():
                    self._emit("propertyChange", object_type, rec.id, name, value)
            rec.changes = changes
        return rec

    def archive(self, object_type: str, object_id: str) -> bool:
        with self._lock:
            rec = self.get(object_type, object_id)
            if rec is None:
                return False
            self._db.execute("UPDATE objects SET archived=1, archived_at=? WHERE id=?", (iso_now(), rec.id))
            self._emit("deletion", object_type, rec.id, None, None)
        return True

    def _associate(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        if type_pair_for_id(type_id) != (from_type, to_type):
            raise StoreError(
                400, "VALIDATION_ERROR", f"associationTypeId {type_id} does not link {from_type} to {to_type}"
            )
        row = self._db.execute("SELECT type FROM objects WHERE id=? AND archived=0", (to_id,)).fetchone()
        if row is None or row[0] != to_type:
            raise StoreError(404, "OBJECT_NOT_FOUND", f"No {to_type} object with id {to_id}")
        back_id, _ = association_type(to_type, from_type)
        self._db.execute(
            "INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)",
            (from_type, from_id, to_type, to_id, type_id),
        )
        self._db.execute(
            "INSERT OR IGNORE INTO associations VALUES (?, ?, ?, ?, ?)",
            (to_type, to_id, from_type, from_id, back_id),
        )

    def associate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int | None = None
    ) -> None:
        """Link two objects both ways (the default type when ``type_id`` is None)."""
        with self._lock:
            tid = type_id if type_id is not None else association_type(from_type, to_type)[0]
            self._associate(from_type, from_id, to_type, to_id, tid)
            self._emit("associationChange", from_type, from_id, None, None)

    def associations_of(
        self, from_type: str, ids: Iterable[int], to_type: str
    ) -> dict[int, list[tuple[int, int]]]:
        """``{from_id: [(to_id, type_id), ...]}`` for live target objects."""
        id_list = list(ids)
        out: dict[int, list[tuple[int, int]]] = {i: [] for i in id_list}
        if not id_list:
            return out
        with self._lock:
            for chunk_start in range(0, len(id_list), 500):
                chunk = id_list[chunk_start : chunk_start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT a.from_id, a.to_id, a.type_id FROM associations a "
                    "JOIN objects o ON o.id=a.to_id "
                    f"WHERE a.from_type=? AND a.to_type=? AND o.archived=0 AND a.from_id IN ({marks}) "
                    f"ORDER BY a.to_id",
                    (from_type, to_type, *chunk),
                )
                for from_id, to_id, type_id in rows:
                    out[from_id].append((to_id, type_id))
        return out

    def _emit(
        self, event: str, object_type: str, object_id: int, prop: str | None, value: str | None
    ) -> None:
        if self._events is not None:
            self._events.append((event, object_type, object_id, prop, value))
        else:
            self._notify(event, object_type, object_id, prop, value)

    def _notify(
        self, event: str, object_type: str, object_id: int, prop: str | None, value: str | None
    ) -> None:
        if self.listener is not None:
            self.listener(event, object_type, object_id, prop, value)
