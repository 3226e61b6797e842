"""The portal's owners (users and queues that records are assigned to), as ``/crm/v3/owners`` serves them.

:class:`OwnerStore` owns the ``owners`` table. An owner is HubSpot's ``PublicOwner``: a string ``id``
(what ``hubspot_owner_id`` holds on contacts, companies, deals and tickets), an integer ``userId``,
name, email, ``type`` (``PERSON`` or ``QUEUE``) and teams. Deactivated users are ``archived``.

>>> import sqlite3, threading
>>> owners = OwnerStore(sqlite3.connect(":memory:"), threading.RLock())
>>> owners.add("Ana", "Silva", "ana@northwind.example", teams=[("101", "Support EMEA")])["id"]
'52550153'
>>> owners.get("52550153")["teams"][0]["name"]
'Support EMEA'
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from aikit.local.crm.wire import iso_now

__all__ = ["OwnerStore"]

_DDL = "CREATE TABLE IF NOT EXISTS owners (id INTEGER PRIMARY KEY, def TEXT NOT NULL);"
_FIRST_ID, _FIRST_USER = 52550153, 9586504


class OwnerStore:
    """Owners by id; ``changed()`` is called after every write (property options follow owners)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        self.changed: Callable[[], None] | None = None
        self._ids: set[str] | None = None
        with lock:
            db.executescript(_DDL)

    def add(
        self,
        first_name: str,
        last_name: str,
        email: str,
        *,
        teams: Sequence[tuple[str, str]] = (),
        kind: str = "PERSON",
        archived: bool = False,
        created_at: str | None = None,
    ) -> dict[str, Any]:
        """Add an owner (the first team is the primary one); returns the PublicOwner shape."""
        with self._lock:
            row = self._db.execute("SELECT coalesce(max(id), ?) + 1 FROM owners", (_FIRST_ID - 1,)).fetchone()
            oid = int(row[0])
            user_id = _FIRST_USER + (oid - _FIRST_ID) * 7
            at = created_at or iso_now()
            owner = {
                "id": str(oid),
                "email": email,
                "firstName": first_name,
                "lastName": last_name,
                "userId": user_id,
                "userIdIncludingInactive": user_id,
                "type": kind,
                "archived": archived,
                "createdAt": at,
                "updatedAt": at,
                "teams": [
                    {"id": tid, "name": name, "primary": i == 0} for i, (tid, name) in enumerate(teams)
                ],
            }
            self._db.execute("INSERT INTO owners VALUES (?, ?)", (oid, json.dumps(owner)))
            self._ids = None
        if self.changed is not None:
            self.changed()
        return owner

    def _all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT def FROM owners ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def page(
        self, *, email: str | None = None, after: int = 0, limit: int = 100, archived: bool = False
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Owners with id > ``after`` (optionally one email), and the next ``after`` when more follow."""
        hits = [
            o
            for o in self._all()
            if o["archived"] == archived
            and int(o["id"]) > after
            and (email is None or o["email"].lower() == email.lower())
        ]
        more = len(hits) > limit
        return hits[:limit], (str(int(hits[limit - 1]["id"]) + 1) if more else None)

    def get(self, owner_id: str, *, id_property: str = "id", archived: bool = False) -> dict[str, Any] | None:
        """One owner by ``id`` or by ``userId``."""
        key = "userId" if id_property == "userId" else "id"
        for owner in self._all():
            if str(owner[key]) == str(owner_id) and owner["archived"] == archived:
                return owner
        return None

    def ids(self) -> set[str]:
        """Ids of active owners (valid ``hubspot_owner_id`` values)."""
        if self._ids is None:
            self._ids = {o["id"] for o in self._all() if not o["archived"]}
        return self._ids

    def options(self) -> list[dict[str, Any]]:
        """``hubspot_owner_id`` options: label "First Last", value the owner id."""
        return [
            {
                "label": f"{o['firstName']} {o['lastName']}".strip() or o["email"],
                "value": o["id"],
                "displayOrder": i,
                "hidden": False,
            }
            for i, o in enumerate(o for o in self._all() if not o["archived"])
        ]
