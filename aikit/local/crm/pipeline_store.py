"""Pipelines and their stages (deals and tickets), as HubSpot's ``/crm/v3/pipelines`` API keeps them.

:class:`PipelineStore` owns the ``pipelines`` table of the CRM's SQLite database. Each type starts
with HubSpot's built-in pipeline: the deal pipeline ``default`` ("Sales Pipeline": Appointment
Scheduled ... Closed Won / Closed Lost, each stage with ``metadata.probability`` and ``isClosed``)
and the ticket pipeline ``0`` ("Support Pipeline": New, Waiting on contact, Waiting on us, Closed,
each with ``metadata.ticketState``). Built-in ones carry ``createdAt`` 1970-01-01 (HubSpot's epoch 0);
pipelines and stages created through the API get numeric string ids. Stage labels are unique within
a pipeline; deal stages need a ``probability`` between 0 and 1.

>>> import sqlite3, threading
>>> pipes = PipelineStore(sqlite3.connect(":memory:"), threading.RLock())
>>> [s["label"] for s in pipes.get("tickets", "0")["stages"]]
['New', 'Waiting on contact', 'Waiting on us', 'Closed']
>>> pipes.stage("deals", "default", "closedwon")["metadata"]
{'isClosed': 'true', 'probability': '1.0'}
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["BUILTIN_CREATED", "PIPELINE_TYPES", "PipelineStore"]

PIPELINE_TYPES = ("deals", "tickets")
#: HubSpot reports ``createdAt = 0`` for built-in pipelines; the SDK needs it as an ISO date.
BUILTIN_CREATED = "1970-01-01T00:00:00Z"
_BUILTIN_UPDATED = "2024-03-01T10:00:00Z"
_FIRST_ID = 812723471
_DDL = "CREATE TABLE IF NOT EXISTS pipelines (type TEXT, id TEXT, def TEXT, PRIMARY KEY (type, id));"

_DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
]
_TICKET_STAGES = [
    ("1", "New", "OPEN"),
    ("2", "Waiting on contact", "OPEN"),
    ("3", "Waiting on us", "OPEN"),
    ("4", "Closed", "CLOSED"),
]


def _stage(sid: str, label: str, order: int, metadata: dict[str, str], at: str) -> dict[str, Any]:
    return {
        "id": sid,
        "label": label,
        "displayOrder": order,
        "metadata": metadata,
        "archived": False,
        "createdAt": at,
        "updatedAt": at,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def _builtin() -> dict[str, dict[str, Any]]:
    deals = [
        _stage(
            sid,
            label,
            i,
            {"isClosed": str(sid.startswith("closed")).lower(), "probability": p},
            BUILTIN_CREATED,
        )
        for i, (sid, label, p) in enumerate(_DEAL_STAGES)
    ]
    tickets = [
        _stage(sid, label, i, {"ticketState": state}, BUILTIN_CREATED)
        for i, (sid, label, state) in enumerate(_TICKET_STAGES)
    ]
    base = {"displayOrder": 0, "archived": False, "createdAt": BUILTIN_CREATED, "updatedAt": _BUILTIN_UPDATED}
    return {
        "deals": {"id": "default", "label": "Sales Pipeline", **base, "stages": deals},
        "tickets": {"id": "0", "label": "Support Pipeline", **base, "stages": tickets},
    }


def _order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HubSpot's order: by displayOrder, equal ones alphabetically by label."""
    return sorted(items, key=lambda p: (p.get("displayOrder", 0), str(p.get("label", "")).lower()))


class PipelineStore:
    """Pipelines and stages per pipelined object type; ``changed(type)`` is called after every write."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock
        self.changed: Callable[[str], None] | None = None
        self._cache: dict[str, list[dict[str, Any]]] = {}
        with lock:
            db.executescript(_DDL)
            for t, pipeline in _builtin().items():
                db.execute(
                    "INSERT OR IGNORE INTO pipelines VALUES (?, ?, ?)",
                    (t, pipeline["id"], json.dumps(pipeline)),
                )

    def _check_type(self, object_type: str) -> None:
        if object_type not in PIPELINE_TYPES:
            raise StoreError(400, "VALIDATION_ERROR", f"Object type {object_type} does not have pipelines")

    def _decoded(self, object_type: str) -> list[dict[str, Any]]:
        """The type's pipelines as stored, decoded once per write; callers must not modify them."""
        cached = self._cache.get(object_type)
        if cached is None:
            rows = self._db.execute("SELECT def FROM pipelines WHERE type=?", (object_type,)).fetchall()
            cached = self._cache[object_type] = [json.loads(r[0]) for r in rows]
        return cached

    def _all(self, object_type: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self._decoded(object_type))

    def _save(self, object_type: str, pipeline: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pipelines VALUES (?, ?, ?)",
            (object_type, pipeline["id"], json.dumps(pipeline)),
        )
        self._cache.pop(object_type, None)
        if self.changed is not None:
            self.changed(object_type)

    def _new_id(self) -> str:
        ids = [int(r[0]) for r in self._db.execute("SELECT id FROM pipelines") if str(r[0]).isdigit()]
        stage_ids = [
            int(s["id"])
            for (raw,) in self._db.execute("SELECT def FROM pipelines")
            for s in json.loads(raw)["stages"]
            if str(s["id"]).isdigit()
        ]
        return str(max([_FIRST_ID - 1, *ids, *stage_ids]) + 1)

    def pipelines(self, object_type: str, *, archived: bool = False) -> list[dict[str, Any]]:
        """The pipelines of a type (archived ones only when asked), stages in display order."""
        self._check_type(object_type)
        with self._lock:
            items = [p for p in self._all(object_type) if archived or not p["archived"]]
        for p in items:
            p["stages"] = _order([s for s in p["stages"] if archived or not s["archived"]])
        return _order(items)

    def get(self, object_type: str, pipeline_id: str, *, archived: bool = False) -> dict[str, Any] | None:
        for p in self.pipelines(object_type, archived=True):
            if p["id"] == pipeline_id and (archived or not p["archived"]):
                if not archived:
                    p["stages"] = [s for s in p["stages"] if not s["archived"]]
                return p
        return None

    def require(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        pipeline = self.get(object_type, pipeline_id)
        if pipeline is None:
            raise StoreError(
                404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id} for {object_type}"
            )
        return pipeline

    def exists(self, object_type: str, pipeline_id: str) -> bool:
        """True for a live pipeline of the type (fast: no copy; used on every write)."""
        with self._lock:
            return any(p["id"] == pipeline_id and not p["archived"] for p in self._decoded(object_type))

    def stage(self, object_type: str, pipeline_id: str, stage_id: str) -> dict[str, Any] | None:
        """One live stage of a live pipeline, or None (a copy)."""
        with self._lock:
            for p in self._decoded(object_type):
                if p["id"] == pipeline_id and not p["archived"]:
                    for s in p["stages"]:
                        if s["id"] == stage_id and not s["archived"]:
                            found: dict[str, Any] = copy.deepcopy(s)
                            return found
        return None

    def options(self, object_type: str, prop: str) -> list[dict[str, Any]]:
        """Property options for the pipeline property (pipelines) or the stage property (all stages)."""
        if object_type not in PIPELINE_TYPES:
            return []
        pipelines = self.pipelines(object_type)
        if prop in ("pipeline", "hs_pipeline"):
            return [
                {"label": p["label"], "value": p["id"], "displayOrder": i, "hidden": False}
                for i, p in enumerate(pipelines)
            ]
        out: list[dict[str, Any]] = []
        for p in pipelines:
            for s in p["stages"]:
                out.append({"label": s["label"], "value": s["id"], "displayOrder": len(out), "hidden": False})
        return out

    def _validate(self, object_type: str, data: dict[str, Any], stages: bool) -> None:
        errors = []
        if not isinstance(data.get("label"), str) or not data["label"].strip():
            errors.append("label is required")
        if not isinstance(data.get("displayOrder", 0), int):
            errors.append("displayOrder must be an integer")
        if stages:
            raw = data.get("stages")
            if not isinstance(raw, list) or not raw:
                errors.append("a pipeline needs at least one stage")
            else:
                labels = [s.get("label") for s in raw if isinstance(s, dict)]
                if len(labels) != len(raw) or len(set(labels)) != len(labels):
                    errors.append("stage labels must be present and unique within the pipeline")
                for s in raw:
                    if isinstance(s, dict):
                        errors += self._stage_errors(object_type, s)
        if errors:
            raise StoreError(400, "VALIDATION_ERROR", "; ".join(errors))

    @staticmethod
    def _stage_errors(object_type: str, data: dict[str, Any]) -> list[str]:
        errors = []
        if not isinstance(data.get("label"), str) or not data["label"].strip():
            errors.append("a stage needs a label")
        meta = data.get("metadata") or {}
        if not isinstance(meta, dict):
            return [*errors, "metadata must be an object of strings"]
        if object_type == "deals":
            try:
                probability = float(meta.get("probability"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                probability = -1.0
            if not 0.0 <= probability <= 1.0:
                errors.append("deal stages need metadata.probability between 0.0 and 1.0")
        if object_type == "tickets" and meta.get("ticketState") not in (None, "OPEN", "CLOSED"):
            errors.append("metadata.ticketState must be OPEN or CLOSED")
        return errors

    def _stage_from(
        self, object_type: str, data: dict[str, Any], sid: str, order: int, at: str
    ) -> dict[str, Any]:
        meta = {k: str(v) for k, v in (data.get("metadata") or {}).items()}
        if object_type == "deals":
            meta["probability"] = str(float(meta["probability"]))
            meta.setdefault("isClosed", "false")
        return _stage(sid, str(data["label"]), int(data.get("displayOrder", order)), meta, at)

    def create(self, object_type: str, data: dict[str, Any]) -> dict[str, Any]:
        self._check_type(object_type)
        self._validate(object_type, data, stages=True)
        now = iso_now()
        with self._lock:
            pid = self._new_id()
            pipeline: dict[str, Any] = {
                "id": pid,
                "label": str(data["label"]),
                "displayOrder": int(data.get("displayOrder", 0)),
                "archived": False,
                "createdAt": now,
                "updatedAt": now,
                "stages": [],
            }
            first = int(pid) + 1
            pipeline["stages"] = [
                self._stage_from(object_type, raw, str(first + i), i, now)
                for i, raw in enumerate(data["stages"])
            ]
            self._save(object_type, pipeline)
        return self.require(object_type, pid)

    def update(self, object_type: str, pipeline_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH: ``label``, ``displayOrder``, ``archived`` (False restores an archived pipeline)."""
        unknown = sorted(set(patch) - {"label", "displayOrder", "archived"})
        if unknown:
            raise StoreError(400, "VALIDATION_ERROR", f"These fields cannot be changed: {', '.join(unknown)}")
        with self._lock:
            pipeline = self.get(object_type, pipeline_id, archived=True)
            if pipeline is None:
                raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")
            if "label" in patch:
                self._validate(object_type, {"label": patch["label"]}, stages=False)
            pipeline |= {k: patch[k] for k in ("label", "displayOrder", "archived") if k in patch}
            pipeline["updatedAt"] = iso_now()
            if not pipeline["archived"]:
                pipeline.pop("archivedAt", None)
            self._save(object_type, pipeline)
        return pipeline

    def replace(self, object_type: str, pipeline_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """PUT: a new label, order and stage list (stage ids kept when the label matches)."""
        self._validate(object_type, data, stages=True)
        with self._lock:
            old = self.require(object_type, pipeline_id)
            by_label = {s["label"]: s["id"] for s in old["stages"]}
            now, fresh = iso_now(), int(self._new_id())
            stages = []
            for i, raw in enumerate(data["stages"]):
                sid = by_label.get(raw["label"]) or str(fresh + i)
                stages.append(self._stage_from(object_type, raw, sid, i, now))
            new = {**old, "label": data["label"], "displayOrder": int(data.get("displayOrder", 0))}
            new |= {"stages": stages, "updatedAt": now}
            self._save(object_type, new)
        return new

    def archive(self, object_type: str, pipeline_id: str) -> None:
        with self._lock:
            pipeline = self.require(object_type, pipeline_id)
            if len(self.pipelines(object_type)) == 1:
                raise StoreError(400, "VALIDATION_ERROR", f"{object_type} must keep at least one pipeline")
            now = iso_now()
            self._save(object_type, pipeline | {"archived": True, "archivedAt": now, "updatedAt": now})

    def create_stage(self, object_type: str, pipeline_id: str, data: dict[str, Any]) -> dict[str, Any]:
        errors = self._stage_errors(object_type, data)
        if errors:
            raise StoreError(400, "VALIDATION_ERROR", "; ".join(errors))
        with self._lock:
            pipeline = self.get(object_type, pipeline_id, archived=True)
            if pipeline is None or pipeline["archived"]:
                raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")
            if any(s["label"] == data["label"] and not s["archived"] for s in pipeline["stages"]):
                raise StoreError(409, "CONFLICT", f"A stage labelled {data['label']!r} already exists")
            stage = self._stage_from(object_type, data, self._new_id(), len(pipeline["stages"]), iso_now())
            pipeline["stages"].append(stage)
            self._save(object_type, pipeline)
        return stage

    def update_stage(
        self, object_type: str, pipeline_id: str, stage_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        unknown = sorted(set(patch) - {"label", "displayOrder", "metadata", "archived"})
        if unknown:
            raise StoreError(400, "VALIDATION_ERROR", f"These fields cannot be changed: {', '.join(unknown)}")
        with self._lock:
            pipeline = self.require(object_type, pipeline_id)
            full = self.get(object_type, pipeline_id, archived=True) or pipeline
            stage = next((s for s in full["stages"] if s["id"] == stage_id), None)
            if stage is None:
                raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {stage_id}")
            merged = {**stage, **patch}
            if "metadata" in patch:
                merged["metadata"] = {
                    **stage["metadata"],
                    **{k: str(v) for k, v in patch["metadata"].items()},
                }
            errors = self._stage_errors(object_type, merged)
            if errors:
                raise StoreError(400, "VALIDATION_ERROR", "; ".join(errors))
            merged["updatedAt"] = iso_now()
            if merged.get("archived"):
                merged["archivedAt"] = merged["updatedAt"]
            full["stages"] = [merged if s["id"] == stage_id else s for s in full["stages"]]
            self._save(object_type, full)
        return merged
