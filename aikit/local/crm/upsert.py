"""``POST /crm/v3/objects/{type}/batch/upsert``: create or update by a unique property, in one call.

Each input names its ``idProperty`` (a property with unique values, or ``email`` on contacts) and gives
that property's value as ``id``. An existing record with the value is updated, otherwise one is created
with the value set; each result says which with ``new``. The whole batch is validated first and written
in one transaction; an input the CRM refuses (a missing required property, a bad stage) is reported in
a 207 with its id while the others are written, as HubSpot does.
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import MAX_BATCH, Call, serialize
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["batch_upsert", "handlers"]


def _inputs(data: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise StoreError(400, "VALIDATION_ERROR", "inputs must be an array of objects")
    if len(inputs) > MAX_BATCH:
        raise StoreError(
            400,
            "VALIDATION_ERROR",
            f"Batch input limit exceeded: {len(inputs)} inputs (the maximum is {MAX_BATCH})",
        )
    return inputs


def batch_upsert(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    inputs = _inputs(call.json_object())
    store, started = call.store, iso_now()
    unique = store.properties.unique(t)
    keys: list[tuple[str, str]] = []
    for item in inputs:
        prop, value = item.get("idProperty"), item.get("id")
        if not isinstance(prop, str) or not isinstance(value, str | int) or str(value) == "":
            raise StoreError(400, "VALIDATION_ERROR", "each upsert input needs idProperty and id")
        if prop not in unique:
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"idProperty {prop} is not a property with unique values on {t}; "
                f"use one of {sorted(unique)} (or create the property with hasUniqueValue=true)",
            )
        props = item.get("properties", {})
        if not isinstance(props, dict):
            raise StoreError(400, "VALIDATION_ERROR", "properties must be an object of name -> value")
        store.properties.check(t, props)  # refuse the whole batch on a bad value, before any write
        keys.append((prop, str(value).lower()))
    if len(set(keys)) != len(keys):
        raise StoreError(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
    known = store.properties.names(t)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with store.transaction():
        for item in inputs:
            prop, value, props = item["idProperty"], str(item["id"]), dict(item.get("properties", {}))
            try:
                existing = store.find(t, prop, value)
                if existing is None:
                    rec, new = store.create(t, {**props, prop: value}), True
                else:
                    updated = store.update(t, str(existing), props)
                    assert updated is not None
                    rec, new = updated, False
            except StoreError as exc:
                errors.append(
                    {
                        "status": "error",
                        "category": exc.category,
                        "message": exc.message,
                        "context": {"ids": [value]},
                        "errors": exc.errors,
                        "links": {},
                    }
                )
                continue
            out = serialize(rec, [*props, prop], known) | {"new": new}
            if item.get("objectWriteTraceId") is not None:
                out["objectWriteTraceId"] = str(item["objectWriteTraceId"])
            results.append(out)
    if errors and not results and len({e["message"] for e in errors}) == 1:
        first = errors[0]
        raise StoreError(400, first["category"], first["message"], first["errors"])
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso_now(),
    }
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
        return 207, body
    return 200, body


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {"batch.upsert": batch_upsert}
