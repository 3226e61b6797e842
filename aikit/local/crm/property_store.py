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
from collections.abc import Callable
from typing import Any

from aikit.local.crm.schema import EXTERNAL_OPTIONS, OBJECT_TYPES, READ_ONLY, builtin_properties
from aikit.local.crm.validate import normalized, problem
from aikit.local.crm.wire import StoreError, iso_now, stringify

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
        self._unique: dict[str, set[str]] = {}
        #: ``(object type, property) -> options`` for pipelines, stages and owners (set by the Store).
        self.external: Callable[[str, str], list[dict[str, Any]]] | None = None

    def definitions(self, object_type: str, *, archived: bool = False) -> list[dict[str, Any]]:
        """HubSpot's definitions for the type, then the custom ones in creation order.

        ``archived=True`` lists the archived custom properties instead (``GET ...?archived=true``).
        """
        with self._lock:
            rows = self._db.execute("SELECT def FROM properties WHERE type=? ORDER BY rowid", (object_type,))
            custom = [json.loads(r[0]) for r in rows]
        if archived:
            return [p for p in custom if p.get("archived")]
        builtin = builtin_properties(object_type)
        if self.external is not None:
            for prop in builtin:
                if prop["name"] in EXTERNAL_OPTIONS:
                    prop["options"] = self.external(object_type, prop["name"])
        return builtin + [p for p in custom if not p.get("archived")]

    def archive(self, object_type: str, name: str) -> None:
        """Archive a custom property (HubSpot-defined ones are not archivable: 400)."""
        with self._lock:
            row = self._db.execute(
                "SELECT def FROM properties WHERE type=? AND name=?", (object_type, name)
            ).fetchone()
            if row is None or json.loads(row[0]).get("archived"):
                if name in {p["name"] for p in builtin_properties(object_type)}:
                    raise StoreError(
                        400,
                        "VALIDATION_ERROR",
                        f"{name} is a HubSpot-defined property and cannot be archived",
                    )
                raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for {object_type}")
            now = iso_now()
            definition = json.loads(row[0]) | {"archived": True, "archivedAt": now, "updatedAt": now}
            self._db.execute(
                "UPDATE properties SET def=? WHERE type=? AND name=?",
                (json.dumps(definition), object_type, name),
            )
            self.forget(object_type)

    def unique(self, object_type: str) -> set[str]:
        """Properties whose values must be unique (``hasUniqueValue``), usable as upsert ``idProperty``."""
        with self._lock:
            unique = self._unique.get(object_type)
            if unique is None:
                unique = {p["name"] for p in self.definitions(object_type) if p.get("hasUniqueValue")}
                unique |= {"email"} if object_type == "contacts" else set()
                self._unique[object_type] = unique
            return unique

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
            if any(p["name"] == name for p in self.definitions(object_type, archived=True)):
                raise StoreError(409, "CONFLICT", f"A property named '{name}' exists in the archive.")
            self._db.execute(
                "INSERT INTO properties VALUES (?, ?, ?)", (object_type, name, json.dumps(definition))
            )
            self.forget(object_type)
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
            self.forget(object_type)
        return definition

    def forget(self, object_type: str) -> None:
        """Drop the cached names and options of a type (after a definition, pipeline or owner change)."""
        self._unique.pop(object_type, None)
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
