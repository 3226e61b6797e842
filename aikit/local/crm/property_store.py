"""Property definitions of the demo CRM: HubSpot's built-in ones, custom ones, groups, value checks.

:class:`PropertyStore` owns the ``properties`` and ``property_groups`` tables of the CRM's SQLite
database (sharing :class:`~aikit.local.crm.store.Store`'s connection and lock) and checks values the
way HubSpot does: read-only system properties are refused, ``strict`` refuses undefined names, and
every value must fit its property's type (:mod:`aikit.local.crm.validate`: numbers, booleans, dates,
datetimes, enumeration options, text length). Values come back as strings.

>>> import sqlite3, threading
>>> props = PropertyStore(sqlite3.connect(":memory:"), threading.RLock())
>>> "email" in props.names("contacts")
True
>>> props.check("companies", {"numberofemployees": 12.0})
{'numberofemployees': '12'}
>>> try:
...     props.check("contacts", {"hs_object_id": "1"})
... except StoreError as exc:
...     exc.errors[0]["code"]
'READ_ONLY_VALUE'
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from aikit.local.crm.schema import OBJECT_TYPES, READ_ONLY, builtin_properties
from aikit.local.crm.validate import normalized, problem
from aikit.local.crm.wire import StoreError, stringify

__all__ = ["PropertyStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS properties (type TEXT, name TEXT, def TEXT, PRIMARY KEY (type, name));
CREATE TABLE IF NOT EXISTS property_groups (type TEXT, name TEXT, label TEXT, display_order INTEGER,
    PRIMARY KEY (type, name));
"""


class PropertyStore:
    """Built-in and custom property definitions and groups per object type; value checks."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, *, strict: bool = True) -> None:
        self._db, self._lock, self.strict = db, lock, strict
        with lock:
            db.executescript(_DDL)
        self._names: dict[str, set[str]] = {}
        self._options: dict[str, dict[str, set[str]]] = {}
        self._types: dict[str, dict[str, str]] = {}

    def definitions(self, object_type: str) -> list[dict[str, Any]]:
        """HubSpot's definitions for the type, then the custom ones in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT def FROM properties WHERE type=? ORDER BY rowid", (object_type,))
            custom = [json.loads(r[0]) for r in rows]
        return builtin_properties(object_type) + custom

    def groups(self, object_type: str) -> list[dict[str, Any]]:
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

    def create_group(self, object_type: str, name: str, label: str, display_order: int) -> dict[str, Any]:
        with self._lock:
            if any(g["name"] == name for g in self.groups(object_type)):
                raise StoreError(409, "CONFLICT", f"A property group named '{name}' already exists.")
            self._db.execute(
                "INSERT INTO property_groups VALUES (?, ?, ?, ?)", (object_type, name, label, display_order)
            )
        return {"name": name, "label": label, "displayOrder": display_order, "archived": False}

    def options(self, object_type: str) -> dict[str, set[str]]:
        """Allowed values of the enumeration (and bool) properties that define options."""
        with self._lock:
            opts = self._options.get(object_type)
            if opts is None:
                opts = self._options[object_type] = {
                    p["name"]: {str(o["value"]) for o in p["options"]}
                    for p in self.definitions(object_type)
                    if p.get("type") in ("enumeration", "bool") and p.get("options")
                }
            return opts

    def types(self, object_type: str) -> dict[str, str]:
        """``{property name: type}`` of the built-in and custom properties."""
        with self._lock:
            types = self._types.get(object_type)
            if types is None:
                types = self._types[object_type] = {
                    p["name"]: str(p.get("type") or "string") for p in self.definitions(object_type)
                }
            return types

    def names(self, object_type: str) -> set[str]:
        with self._lock:
            names = self._names.get(object_type)
            if names is None:
                names = self._names[object_type] = {p["name"] for p in self.definitions(object_type)}
            return names

    def create(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        name = definition["name"]
        with self._lock:
            if name in self.names(object_type):
                raise StoreError(409, "CONFLICT", f"A property named '{name}' already exists.")
            self._db.execute(
                "INSERT INTO properties VALUES (?, ?, ?)", (object_type, name, json.dumps(definition))
            )
            self._forget(object_type)
        return definition

    def update(self, object_type: str, name: str, changes: dict[str, Any]) -> dict[str, Any] | None:
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
            self._forget(object_type)
        return definition

    def _forget(self, object_type: str) -> None:
        self._names.pop(object_type, None)
        self._options.pop(object_type, None)
        self._types.pop(object_type, None)

    def check(self, object_type: str, props: dict[str, Any]) -> dict[str, str | None]:
        """``props`` as stored strings, or a 400 ``StoreError`` listing every invalid value."""
        errors: list[dict[str, Any]] = []
        known = self.names(object_type) if self.strict else set()
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
            elif isinstance(value, list | dict):
                errors.append(
                    {
                        "message": f"Invalid input JSON: {name} must be a string, not an "
                        f"{'array' if isinstance(value, list) else 'object'}",
                        "code": "INVALID_TYPE",
                        "context": {"propertyName": [name]},
                    }
                )
            else:
                text = None if value is None else stringify(value)
                ptype = self.types(object_type).get(name)
                found = (
                    None if text is None else problem(ptype, text, name, self.options(object_type).get(name))
                )
                if found is not None:
                    errors.append(found)
                clean[name] = None if text is None else normalized(ptype, text)
        if errors:
            raise StoreError(
                400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(errors)}", errors
            )
        return clean
