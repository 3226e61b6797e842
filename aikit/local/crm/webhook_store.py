"""Webhook settings of the demo CRM: each app's target URL and secret, and its event subscriptions.

:class:`WebhookStore` owns the ``webhook_apps`` and ``subscriptions`` tables of the CRM's SQLite
database (sharing :class:`~aikit.local.crm.store.Store`'s connection and lock). The delivery side,
:class:`~aikit.local.crm.webhooks.WebhookDispatcher`, reads the subscriptions on every change, so
the list of all subscriptions is cached until the next write.

>>> import sqlite3, threading
>>> hooks = WebhookStore(sqlite3.connect(":memory:"), threading.RLock())
>>> hooks.set_app(42, "http://127.0.0.1:8000/hooks", "s3cret", "v3")
>>> hooks.add_subscription(42, "ticket.creation", None, True)["eventType"]
'ticket.creation'
>>> [s["appId"] for s in hooks.subscriptions()]
[42]
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from aikit.local.crm.wire import iso_now

__all__ = ["WebhookStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS webhook_apps (
    app_id INTEGER PRIMARY KEY, target_url TEXT, client_secret TEXT, signature_version TEXT);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY, app_id INTEGER, event_type TEXT, property_name TEXT, active INTEGER,
    created_at TEXT, updated_at TEXT);
"""


class WebhookStore:
    """Apps (target URL, client secret, signature version) and their subscriptions."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        with lock:
            db.executescript(_DDL)
        self._subs: list[dict[str, Any]] | None = None

    def set_app(self, app_id: int, target_url: str, client_secret: str, signature_version: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO webhook_apps VALUES (?, ?, ?, ?)",
                (app_id, target_url, client_secret, signature_version),
            )

    def app(self, app_id: int) -> tuple[str, str, str] | None:
        """``(target_url, client_secret, signature_version)`` of an app, or None."""
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
        """An app's subscriptions, or every app's (each with its ``appId``) when ``app_id`` is None."""
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


def _subscription(
    sub_id: int, event_type: str, prop: str | None, active: bool, created: str, updated: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": str(sub_id), "eventType": event_type, "active": active}
    if prop:
        out["propertyName"] = prop
    return out | {"createdAt": created, "updatedAt": updated}
