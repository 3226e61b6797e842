"""The demo org's records: kept in memory for fast SOQL, written through to SQLite to survive restarts.

One lock guards both (the server's handlers and in-process callers such as ``DemoSalesforce`` admin
methods share the store). Each object's records live in a dict by id; deleted records move to the
recycle bin (``IsDeleted = true``), which ``queryAll`` still sees. The store fills the fields Salesforce
derives itself: ids, ``CaseNumber``, ``CreatedDate``/``LastModifiedDate``/``SystemModstamp``, the owner,
a Contact's ``Name``, a Case's ``IsClosed``/``ClosedDate``, an Opportunity's probability and flags.

>>> store = Store(":memory:")
>>> rid = store.insert("Account", {"Name": "Northwind Analytics"})
>>> store.get("Account", rid)["Name"], store.get("Account", rid)["IsDeleted"]
('Northwind Analytics', False)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from aikit.local.salesforce.schema import CLOSED_STATUSES, STAGE_PROBABILITY, SObject, field, fresh_objects
from aikit.local.salesforce.wire import make_id, now_iso

__all__ = ["INTEGRATION_USER", "Store"]

_DDL = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
    deleted_at TEXT);
CREATE INDEX IF NOT EXISTS records_type ON records(type, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
#: The user that owns seeded records and acts for client-credentials and JWT logins.
INTEGRATION_USER = make_id("005", 1)


class Store:
    """SQLite-backed records of the demo org, mirrored in memory (``path=":memory:"``: process only)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self.lock = threading.RLock()
        if path != ":memory:":  # private from the first byte (SQLite gives -wal/-shm the same mode)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_DDL)
        self.objects: dict[str, SObject] = fresh_objects()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.objects}
        self.bin: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.objects}
        self._seq: dict[str, int] = dict.fromkeys(self.objects, 0)
        self._load()

    def _load(self) -> None:
        custom = self.get_meta("custom_fields")
        for entry in json.loads(custom) if custom else []:
            self.objects[entry["object"]].add_field(entry["field"])
        rows = self._db.execute("SELECT id, type, seq, data, deleted_at FROM records ORDER BY seq").fetchall()
        for rid, rtype, seq, data, deleted_at in rows:
            (self.bin if deleted_at else self.records)[rtype][rid] = json.loads(data)
            self._seq[rtype] = max(self._seq[rtype], int(seq))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group many writes into one SQLite commit."""
        with self.lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_field(self, object_name: str, definition: dict[str, Any]) -> None:
        """Add a custom field (kept across restarts with the records)."""
        with self.lock:
            self.objects[object_name].add_field(definition)
            saved = json.loads(self.get_meta("custom_fields") or "[]")
            saved.append({"object": object_name, "field": definition})
            self.set_meta("custom_fields", json.dumps(saved))

    def count(self, object_name: str) -> int:
        return len(self.records[object_name])

    def exists(self, object_name: str, rid: str) -> bool:
        return self._find(object_name, rid) is not None

    def _find(self, object_name: str, rid: str) -> str | None:
        """The stored id for ``rid`` (15 or 18 characters, any case), or None."""
        table = self.records.get(object_name, {})
        if rid in table:
            return rid
        if len(rid) == 15:
            return next((k for k in table if k.startswith(rid)), None)
        lowered = rid.lower()
        return next((k for k in table if k.lower() == lowered), None) if len(rid) == 18 else None

    def get(self, object_name: str, rid: str, *, include_deleted: bool = False) -> dict[str, Any] | None:
        with self.lock:
            found = self._find(object_name, rid)
            if found is not None:
                return self.records[object_name][found]
            if include_deleted:
                return self.bin.get(object_name, {}).get(rid)
            return None

    def is_deleted(self, object_name: str, rid: str) -> bool:
        return rid in self.bin.get(object_name, {})

    def scan(self, object_name: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            rows = list(self.records[object_name].values())
            if include_deleted:
                rows += list(self.bin[object_name].values())
        return rows

    def find_by(self, object_name: str, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Records whose ``field_name`` equals ``value`` (text compared case-insensitively)."""
        want = value.lower() if isinstance(value, str) else value
        with self.lock:
            return [r for r in self.records[object_name].values() if _folded(r.get(field_name)) == want]

    def _write(
        self, object_name: str, rid: str, record: dict[str, Any], deleted_at: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
            (rid, object_name, record["_seq"], json.dumps(record), deleted_at),
        )

    def insert(
        self,
        object_name: str,
        values: dict[str, Any],
        *,
        created: str | None = None,
        user: str = INTEGRATION_USER,
    ) -> str:
        """Store a new record from already validated ``values``; returns its 18-character id."""
        obj = self.objects[object_name]
        with self.lock:
            self._seq[object_name] += 1
            seq = self._seq[object_name]
            rid = make_id(obj.key_prefix, seq)
            stamp = created or now_iso()
            record: dict[str, Any] = {f["name"]: None for f in obj.fields}
            for f in obj.fields:
                if f["type"] == "boolean":
                    record[f["name"]] = False
                default = next((p["value"] for p in f["picklistValues"] if p["defaultValue"]), None)
                if default is not None:
                    record[f["name"]] = default
            record.update(values)
            record.update(
                {
                    "_seq": seq,
                    "Id": rid,
                    "IsDeleted": False,
                    "CreatedDate": stamp,
                    "CreatedById": user,
                    "LastModifiedDate": stamp,
                    "LastModifiedById": user,
                    "SystemModstamp": stamp,
                }
            )
            if "OwnerId" in record and not record["OwnerId"]:
                record["OwnerId"] = user
            if object_name == "Case":
                record["CaseNumber"] = f"{seq:08d}"
            _derive(object_name, record, {}, stamp)
            self.records[object_name][rid] = record
            self._write(object_name, rid, record)
        return rid

    def update(
        self, object_name: str, rid: str, values: dict[str, Any], *, user: str = INTEGRATION_USER
    ) -> bool:
        """Apply validated ``values``; False when there is no such (live) record."""
        with self.lock:
            found = self._find(object_name, rid)
            if found is None:
                return False
            record = self.records[object_name][found]
            before = dict(record)
            record.update(values)
            stamp = now_iso()
            record.update({"LastModifiedDate": stamp, "LastModifiedById": user, "SystemModstamp": stamp})
            _derive(object_name, record, before, stamp)
            self._write(object_name, found, record)
        return True

    def delete(self, object_name: str, rid: str) -> bool:
        """Move a record to the recycle bin (``IsDeleted``; ``queryAll`` still returns it)."""
        with self.lock:
            found = self._find(object_name, rid)
            if found is None:
                return False
            record = self.records[object_name].pop(found)
            stamp = now_iso()
            record.update({"IsDeleted": True, "SystemModstamp": stamp, "_deleted": stamp})
            self.bin[object_name][found] = record
            self._write(object_name, found, record, stamp)
        return True


def _folded(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _derive(object_name: str, record: dict[str, Any], before: dict[str, Any], stamp: str) -> None:
    if object_name == "Contact":
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    elif object_name == "Case":
        closed = record.get("Status") in CLOSED_STATUSES
        if closed and not before.get("IsClosed"):
            record["ClosedDate"] = (record.get("ClosedDate") or stamp) if not before else stamp
        if not closed:
            record["ClosedDate"] = None
        record["IsClosed"] = closed
    elif object_name == "Opportunity":
        stage = record.get("StageName")
        record["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        record["IsWon"] = stage == "Closed Won"
        if stage != before.get("StageName"):
            if record.get("Probability") is None or before:
                record["Probability"] = float(STAGE_PROBABILITY.get(str(stage), 0))
            record["ForecastCategoryName"] = (
                "Closed" if record["IsWon"] else "Omitted" if record["IsClosed"] else "Pipeline"
            )


def custom_field(name: str, ftype: str, **options: Any) -> dict[str, Any]:
    """A custom field definition (``name`` must end in ``__c``), for :meth:`Store.add_field`."""
    return field(name, ftype, **options)
