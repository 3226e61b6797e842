"""Association types and labels: HubSpot's built-in ones plus USER_DEFINED labels made through the API.

:class:`LabelStore` owns the ``association_labels`` table. A user-defined label is created for a pair
of object types with its inverse (the label seen from the other side, the same text unless
``inverseLabel`` says otherwise); each direction gets its own ``typeId``. Built-in types are HubSpot's
HUBSPOT_DEFINED ids (:mod:`aikit.local.crm.schema`), unlabelled except the "Primary" ones.

>>> import sqlite3, threading
>>> labels = LabelStore(sqlite3.connect(":memory:"), threading.RLock())
>>> spec = labels.create("contacts", "companies", "decision_maker", "Decision maker", "Decided by")
>>> labels.pair(spec["typeId"]), labels.label(labels.inverse(spec["typeId"]))
(('contacts', 'companies'), 'Decided by')
>>> labels.inverse(279), labels.category(1), labels.label(1)
(280, 'HUBSPOT_DEFINED', 'Primary')
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from aikit.local.crm.schema import ASSOCIATION_TYPES, INVERSE, PRIMARY, association_type, type_pair_for_id
from aikit.local.crm.wire import StoreError

__all__ = ["LabelStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS association_labels (type_id INTEGER PRIMARY KEY, from_type TEXT, to_type TEXT,
    name TEXT, label TEXT, inverse_id INTEGER);
"""
_FIRST_USER_ID = 10001


class LabelStore:
    """Association type ids: lookup of pair, inverse, category and label; user-defined label CRUD."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        with lock:
            db.executescript(_DDL)

    def _row(self, type_id: int) -> tuple[str, str, str, str, int] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT from_type, to_type, name, label, inverse_id FROM association_labels WHERE type_id=?",
                (type_id,),
            ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))

    def pair(self, type_id: int) -> tuple[str, str] | None:
        """``(from, to)`` object types of a type id, or None when no such type exists."""
        builtin = type_pair_for_id(type_id)
        if builtin is not None:
            return builtin
        row = self._row(type_id)
        return None if row is None else (row[0], row[1])

    def inverse(self, type_id: int) -> int:
        if type_id in INVERSE:
            return INVERSE[type_id]
        builtin = type_pair_for_id(type_id)
        if builtin is not None:
            return association_type(builtin[1], builtin[0])[0]
        row = self._row(type_id)
        if row is None:
            raise StoreError(400, "VALIDATION_ERROR", f"Unknown associationTypeId {type_id}")
        return row[4]

    def category(self, type_id: int) -> str:
        return "HUBSPOT_DEFINED" if type_id < _FIRST_USER_ID else "USER_DEFINED"

    def label(self, type_id: int) -> str | None:
        """The label text (``None`` for HubSpot's unlabelled default types)."""
        if type_id in PRIMARY:
            return "Primary"
        if type_pair_for_id(type_id) is not None:
            return None
        row = self._row(type_id)
        return None if row is None else row[3]

    def spec(self, type_id: int) -> dict[str, Any]:
        """``{category, typeId, label}`` as the v4 API reports an association type."""
        return {"category": self.category(type_id), "typeId": type_id, "label": self.label(type_id)}

    def labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        """Every association type from ``from_type`` to ``to_type``: default, Primary, user-defined."""
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            raise StoreError(400, "VALIDATION_ERROR", f"{from_type} cannot be associated with {to_type}")
        ids = [association_type(from_type, to_type)[0]]
        ids += [tid for tid, pair in PRIMARY.items() if pair == (from_type, to_type)]
        with self._lock:
            rows = self._db.execute(
                "SELECT type_id FROM association_labels WHERE from_type=? AND to_type=? ORDER BY type_id",
                (from_type, to_type),
            ).fetchall()
        return [self.spec(tid) for tid in ids + [int(r[0]) for r in rows]]

    def create(
        self, from_type: str, to_type: str, name: str, label: str, inverse_label: str | None = None
    ) -> dict[str, Any]:
        """A USER_DEFINED label both ways; returns the forward ``{category, typeId, label}``."""
        if (from_type, to_type) not in ASSOCIATION_TYPES:
            raise StoreError(400, "VALIDATION_ERROR", f"{from_type} cannot be associated with {to_type}")
        if not name or not label:
            raise StoreError(400, "VALIDATION_ERROR", "an association label needs a name and a label")
        with self._lock:
            taken = self._db.execute(
                "SELECT 1 FROM association_labels WHERE from_type=? AND to_type=? AND name=?",
                (from_type, to_type, name),
            ).fetchone()
            if taken:
                raise StoreError(409, "CONFLICT", f"An association label named {name!r} already exists")
            row = self._db.execute(
                "SELECT coalesce(max(type_id), ?) + 1 FROM association_labels", (_FIRST_USER_ID - 1,)
            ).fetchone()
            forward = int(row[0])
            self._db.execute(
                "INSERT INTO association_labels VALUES (?, ?, ?, ?, ?, ?)",
                (forward, from_type, to_type, name, label, forward + 1),
            )
            self._db.execute(
                "INSERT INTO association_labels VALUES (?, ?, ?, ?, ?, ?)",
                (forward + 1, to_type, from_type, name, inverse_label or label, forward),
            )
        return self.spec(forward)

    def rename(
        self, from_type: str, to_type: str, type_id: int, label: str, inverse_label: str | None
    ) -> None:
        row = self._row(type_id)
        if row is None or (row[0], row[1]) != (from_type, to_type):
            raise StoreError(
                404, "OBJECT_NOT_FOUND", f"No user-defined label {type_id} from {from_type} to {to_type}"
            )
        with self._lock:
            self._db.execute("UPDATE association_labels SET label=? WHERE type_id=?", (label, type_id))
            if inverse_label:
                self._db.execute(
                    "UPDATE association_labels SET label=? WHERE type_id=?", (inverse_label, row[4])
                )

    def delete(self, from_type: str, to_type: str, type_id: int) -> None:
        row = self._row(type_id)
        if row is None or (row[0], row[1]) != (from_type, to_type):
            raise StoreError(
                404, "OBJECT_NOT_FOUND", f"No user-defined label {type_id} from {from_type} to {to_type}"
            )
        with self._lock:
            self._db.execute("DELETE FROM association_labels WHERE type_id IN (?, ?)", (type_id, row[4]))
            self._db.execute("DELETE FROM associations WHERE type_id IN (?, ?)", (type_id, row[4]))
