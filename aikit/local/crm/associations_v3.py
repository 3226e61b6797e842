"""The legacy v3 association batch endpoints (``/crm/v3/associations/{from}/{to}/batch/...``), still served.

v3 names association types in the singular, ``{from}_to_{to}`` (``contact_to_company``); HubSpot's
unlabelled default types may carry an ``_unlabeled`` suffix, and a user-defined label goes by its
name. ``batch/read`` answers 200, or 207 listing the ids that have no association of that kind;
``batch/create`` 201 (207); ``batch/archive`` 204.
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.associations import association_error, pair_of, resolve_id
from aikit.local.crm.objects import MAX_BATCH, Call
from aikit.local.crm.schema import OBJECT_TYPES, PRIMARY, association_type
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["handlers", "type_name"]


def type_name(call: Call, type_id: int) -> str:
    """The v3 name of an association type id."""
    pair = call.store.labels.pair(type_id)
    if pair is None:
        return str(type_id)
    base = f"{OBJECT_TYPES[pair[0]].singular}_to_{OBJECT_TYPES[pair[1]].singular}"
    if type_id in PRIMARY:
        return base
    default_id, default_name = association_type(*pair)
    if type_id == default_id:
        return default_name
    return (call.store.labels.label(type_id) or base).lower().replace(" ", "_")


def _type_id(call: Call, from_type: str, to_type: str, name: Any) -> int:
    for spec in call.store.labels.labels(from_type, to_type):
        if type_name(call, int(spec["typeId"])) == name:
            return int(spec["typeId"])
    raise StoreError(
        400, "VALIDATION_ERROR", f"Unknown association type {name!r} from {from_type} to {to_type}"
    )


def _inputs(call: Call) -> list[dict[str, Any]]:
    inputs = call.json_object().get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise StoreError(400, "VALIDATION_ERROR", "inputs must be an array of objects")
    if len(inputs) > MAX_BATCH * 10:
        raise StoreError(400, "VALIDATION_ERROR", f"Batch input limit exceeded: {len(inputs)} inputs")
    return inputs


def _ref(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, dict) or "id" not in value:
        raise StoreError(400, "VALIDATION_ERROR", f"each input needs {key}.id")
    return str(value["id"])


def _body(status: int, results: list[Any], errors: list[dict[str, Any]]) -> tuple[int, Any]:
    now = iso_now()
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
        return 207, body
    return status, body


def batch_read(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    results, errors = [], []
    for item in _inputs(call):
        raw = str(item.get("id", ""))
        rec = call.store.get(from_type, raw)
        links = call.store.associations_of(from_type, [rec.id], to_type)[rec.id] if rec else []
        if not links:
            singular_from, singular_to = OBJECT_TYPES[from_type].singular, OBJECT_TYPES[to_type].singular
            message = f"No {singular_to} is associated with {singular_from} {raw}."
            errors.append(association_error(StoreError(404, "OBJECT_NOT_FOUND", message), raw))
            continue
        results.append(
            {
                "from": {"id": raw},
                "to": [{"id": str(to_id), "type": type_name(call, tid)} for to_id, tid in links],
            }
        )
    return _body(200, results, errors)


def batch_create(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    results, errors = [], []
    for item in _inputs(call):
        from_raw, to_raw = _ref(item, "from"), _ref(item, "to")
        try:
            type_id = _type_id(call, from_type, to_type, item.get("type"))
            from_id, to_id = resolve_id(call, from_type, from_raw), resolve_id(call, to_type, to_raw)
            call.store.associate(from_type, from_id, to_type, to_id, type_id)
        except StoreError as exc:
            errors.append(association_error(exc, from_raw, to_raw))
            continue
        results.append({"from": {"id": from_raw}, "to": {"id": to_raw}, "type": type_name(call, type_id)})
    return _body(201, results, errors)


def batch_archive(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    for item in _inputs(call):
        from_id = resolve_id(call, from_type, _ref(item, "from"))
        to_id = resolve_id(call, to_type, _ref(item, "to"))
        call.store.dissociate(
            from_type, from_id, to_type, to_id, [_type_id(call, from_type, to_type, item.get("type"))]
        )
    return 204, None


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "assoc3.batch_read": batch_read,
        "assoc3.batch_create": batch_create,
        "assoc3.batch_archive": batch_archive,
    }
