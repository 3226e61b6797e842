"""The demo CRM's SQLite store: objects, associations, custom properties and webhook subscriptions.

One connection guarded by a lock (the server's handlers and in-process callers such as
``DemoCRM.subscribe`` share it). A file path makes the CRM durable across restarts; ``":memory:"``
keeps it in the process. Every property value is stored and returned as a string, as HubSpot does.

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
from datetime import UTC, datetime
from typing import Any

from aikit.local.crm.schema import (
    OBJECT_TYPES,
    READ_ONLY,
    association_type,
    builtin_properties,
    modified_property,
    type_pair_for_id,
)

__all__ = ["Listener", "Record", "Store", "StoreError", "iso_now"]

_DDL = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, props TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0,
    archived_at TEXT);
CREATE INDEX IF NOT EXISTS objects_type ON objects(type, archived, id);
CREATE TABLE IF NOT EXISTS associations (
    from_type TEXT, from_id INTEGER, to_type TEXT, to_id INTEGER, type_id INTEGER,
    PRIMARY KEY (from_type, from_id, to_type, to_id, type_id));
CREATE TABLE IF NOT EXISTS properties (type TEXT, name TEXT, def TEXT, PRIMARY KEY (type, name));
CREATE TABLE IF NOT EXISTS property_groups (type TEXT, name TEXT, label TEXT, display_order INTEGER,
    PRIMARY KEY (type, name));
CREATE TABLE IF NOT EXISTS webhook_apps (
    app_id INTEGER PRIMARY KEY, target_url TEXT, client_secret TEXT, signature_version TEXT);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY, app_id INTEGER, event_type TEXT, property_name TEXT, active INTEGER,
    created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_FIRST_ID = 1001


def iso_now() -> str:
    """Now as HubSpot writes it: ``2025-01-06T09:30:00.123Z``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class StoreError(Exception):
    """A request the API answers with an error body (status, category, message, errors)."""

    def __init__(
        self, status: int, category: str, message: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.category, self.message, self.errors = status, category, message, errors or []


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
        self._names: dict[str, set[str]] = {}
        self._options: dict[str, dict[str, set[str]]] = {}
        self._subs: list[dict[str, Any]] | None = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group many writes into one commit (seeding a file-backed store)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta ------------------------------------------------------------------------------------
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

    # -- properties ------------------------------------------------------------------------------
    def list_properties(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT def FROM properties WHERE type=? ORDER BY rowid", (object_type,))
            custom = [json.loads(r[0]) for r in rows]
        return builtin_properties(object_type) + custom

    def property_groups(self, object_type: str) -> list[dict[str, Any]]:
        """HubSpot's default group for the type plus the groups created through the API."""
        builtin = OBJECT_TYPES[object_type].group
        out = [
            {
                "name": builtin,
                "label": builtin.replace("information", " information").title(),
                "displayOrder": -1,
                "archived": False,
            }
        ]
        with self._lock:
            rows = self._db.execute(
                "SELECT name, label, display_order FROM property_groups WHERE type=? ORDER BY rowid",
                (object_type,),
            ).fetchall()
        return out + [{"name": n, "label": lab, "displayOrder": d, "archived": False} for n, lab, d in rows]

    def create_property_group(
        self, object_type: str, name: str, label: str, display_order: int
    ) -> dict[str, Any]:
        with self._lock:
            if any(g["name"] == name for g in self.property_groups(object_type)):
                raise StoreError(409, "CONFLICT", f"A property group named '{name}' already exists.")
            self._db.execute(
                "INSERT INTO property_groups VALUES (?, ?, ?, ?)", (object_type, name, label, display_order)
            )
        return {"name": name, "label": label, "displayOrder": display_order, "archived": False}

    def property_options(self, object_type: str) -> dict[str, set[str]]:
        """Allowed values of the enumeration (and bool) properties that define options."""
        with self._lock:
            opts = self._options.get(object_type)
            if opts is None:
                opts = self._options[object_type] = {
                    p["name"]: {str(o["value"]) for o in p["options"]}
                    for p in self.list_properties(object_type)
                    if p.get("type") in ("enumeration", "bool") and p.get("options")
                }
            return opts

    def property_names(self, object_type: str) -> set[str]:
        with self._lock:
            names = self._names.get(object_type)
            if names is None:
                names = self._names[object_type] = {p["name"] for p in self.list_properties(object_type)}
            return names

    def create_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        name = definition["name"]
        with self._lock:
            if name in self.property_names(object_type):
                raise StoreError(409, "CONFLICT", f"A property named '{name}' already exists.")
            self._db.execute(
                "INSERT INTO properties VALUES (?, ?, ?)", (object_type, name, json.dumps(definition))
            )
            self._names.pop(object_type, None)
            self._options.pop(object_type, None)
        return definition

    def update_property(self, object_type: str, name: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Patch a custom property's definition; None when there is no such custom property."""
        with self._lock:
            row = self._db.execute(
                "SELECT def FROM properties WHERE type=? AND name=?", (object_type, name)
            ).fetchone()
            if row is None:
                return None
            definition: dict[str, Any] = json.loads(row[0]) | changes
            self._db.execute(
                "UPDATE properties SET def=? WHERE type=? AND name=?",
                (json.dumps(definition), object_type, name),
            )
            self._names.pop(object_type, None)
            self._options.pop(object_type, None)
        return definition

    # -- objects ---------------------------------------------------------------------------------
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

    def check_props(self, object_type: str, props: dict[str, Any]) -> dict[str, str | None]:
        errors: list[dict[str, Any]] = []
        known = self.property_names(object_type) if self.strict else set()
        clean: dict[str, str | None] = {}
        for name, value in props.items():
            if name in READ_ONLY:
                errors.append(
                    {
                        "message": f'Property "{name}" is read-only',
                        "code": "READ_ONLY_VALUE",
                        "context": {"propertyName": [name]},
                    }
                )
            elif self.strict and name not in known:
                errors.append(
                    {
                        "message": f'Property "{name}" does not exist',
                        "code": "PROPERTY_DOESNT_EXIST",
                        "context": {"propertyName": [name]},
                    }
                )
            else:
                text = None if value is None else _stringify(value)
                allowed = self.property_options(object_type).get(name)
                if text and allowed is not None and not set(text.split(";")) <= allowed:
                    errors.append(
                        {
                            "message": f"{text} was not one of the allowed options: {sorted(allowed)}",
                            "code": "INVALID_OPTION",
                            "context": {"propertyName": [name]},
                        }
                    )
                clean[name] = text
        if errors:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(errors)}", errors
            )
        return clean

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
                self.check_props(object_type, props)
                if check
                else {k: _stringify(v) for k, v in props.items()}
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
            clean = self.check_props(object_type, props)
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

    # -- associations ----------------------------------------------------------------------------
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

    # -- webhooks --------------------------------------------------------------------------------
    def set_webhook_app(
        self, app_id: int, target_url: str, client_secret: str, signature_version: str
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO webhook_apps VALUES (?, ?, ?, ?)",
                (app_id, target_url, client_secret, signature_version),
            )

    def webhook_app(self, app_id: int) -> tuple[str, str, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT target_url, client_secret, signature_version FROM webhook_apps WHERE app_id=?",
                (app_id,),
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def add_subscription(
        self, app_id: int, event_type: str, property_name: str | None, active: bool
    ) -> dict[str, Any]:
        now = iso_now()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO subscriptions "
                "(app_id, event_type, property_name, active, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (app_id, event_type, property_name, int(active), now, now),
            )
            sub_id = int(cur.lastrowid or 0)
            self._subs = None
        return _subscription(sub_id, event_type, property_name, active, now, now)

    def subscriptions(self, app_id: int | None = None) -> list[dict[str, Any]]:
        if app_id is None and self._subs is not None:
            return self._subs
        with self._lock:
            if app_id is None:
                rows = self._db.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM subscriptions WHERE app_id=? ORDER BY id", (app_id,)
                ).fetchall()
        out = [_subscription(r[0], r[2], r[3], bool(r[4]), r[5], r[6]) | {"appId": r[1]} for r in rows]
        if app_id is None:
            self._subs = out
        return out

    def delete_subscription(self, app_id: int, sub_id: int) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM subscriptions WHERE app_id=? AND id=?", (app_id, sub_id))
            self._subs = None
        return cur.rowcount > 0

    def _emit(
        self, event: str, object_type: str, object_id: int, prop: str | None, value: str | None
    ) -> None:
        if self.listener is not None:
            self.listener(event, object_type, object_id, prop, value)


def _subscription(
    sub_id: int, event_type: str, prop: str | None, active: bool, created: str, updated: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(sub_id), "eventType": event_type, "active": active}
    if prop:
        out["propertyName"] = prop
    return out | {"createdAt": created, "updatedAt": updated}


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
