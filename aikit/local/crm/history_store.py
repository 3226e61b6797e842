"""Every value each property has had, for ``propertiesWithHistory``.

:class:`HistoryStore` owns the ``history`` table: one row per property write (creation included), with
the time, HubSpot's ``sourceType`` (``API`` for writes through the API, ``IMPORT`` for the seeded
dataset, ``CRM_UI`` for merges) and an optional ``sourceId``. Reads come back as HubSpot's
``ValueWithTimestamp`` lists, newest first.

>>> import sqlite3, threading
>>> history = HistoryStore(sqlite3.connect(":memory:"), threading.RLock())
>>> history.record(7, {"dealstage": "qualifiedtobuy"}, "2025-04-10T15:00:00.000Z", "IMPORT")
>>> history.record(7, {"dealstage": "contractsent"}, "2025-05-02T09:12:44.120Z", "API")
>>> [v["value"] for v in history.of([7], ["dealstage"])[7]["dealstage"]]
['contractsent', 'qualifiedtobuy']
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HistoryStore"]

_DDL = """
CREATE TABLE IF NOT EXISTS history (object_id INTEGER, name TEXT, value TEXT, ts TEXT, source_type TEXT,
    source_id TEXT);
CREATE INDEX IF NOT EXISTS history_object ON history(object_id, name);
"""


class HistoryStore:
    """Property value history per object id (ids are unique across object types in the demo)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        with lock:
            db.executescript(_DDL)

    def record(
        self,
        object_id: int,
        values: Mapping[str, str | None],
        ts: str,
        source_type: str,
        source_id: str | None = None,
    ) -> None:
        """Append one entry per property in ``values`` (None is stored as ``""``: a cleared value)."""
        rows = [(object_id, name, value or "", ts, source_type, source_id) for name, value in values.items()]
        with self._lock:
            self._db.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?)", rows)

    def of(
        self, object_ids: Iterable[int], names: Iterable[str]
    ) -> dict[int, dict[str, list[dict[str, Any]]]]:
        """``{object id: {name: [ValueWithTimestamp, ...]}}``, newest first; every name is present."""
        ids, wanted = list(object_ids), list(dict.fromkeys(names))
        out: dict[int, dict[str, list[dict[str, Any]]]] = {i: {n: [] for n in wanted} for i in ids}
        if not ids or not wanted:
            return out
        with self._lock:
            for start in range(0, len(ids), 400):
                chunk = ids[start : start + 400]
                marks_ids, marks_names = ",".join("?" * len(chunk)), ",".join("?" * len(wanted))
                rows = self._db.execute(
                    "SELECT object_id, name, value, ts, source_type, source_id FROM history "
                    f"WHERE object_id IN ({marks_ids}) AND name IN ({marks_names}) "
                    "ORDER BY ts DESC, rowid DESC",
                    (*chunk, *wanted),
                ).fetchall()
                for object_id, name, value, ts, source_type, source_id in rows:
                    entry: dict[str, Any] = {"value": value, "timestamp": ts, "sourceType": source_type}
                    if source_id:
                        entry["sourceId"] = source_id
                    out[object_id][name].append(entry)
        return out
