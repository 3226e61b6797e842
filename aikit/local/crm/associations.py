"""Association endpoints of the demo CRM (``/crm/v4``): read, create the default link, batch read, labels.

Links are stored both ways by :meth:`Store.associate <aikit.local.crm.store.Store.associate>`; the
type ids are HubSpot's HUBSPOT_DEFINED ones (:mod:`aikit.local.crm.schema`).
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.schema import OBJECT_TYPES, association_type, type_pair_for_id
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["handlers"]


def _v4_links(call: Call, from_type: str, from_id: int, to_type: str) -> list[dict[str, Any]]:
    links = call.store.associations_of(from_type, [from_id], to_type)[from_id]
    grouped: dict[int, list[int]] = {}
    for to_id, type_id in links:
        grouped.setdefault(to_id, []).append(type_id)
    return [
        {
            "toObjectId": to_id,
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": tid, "label": None} for tid in tids
            ],
        }
        for to_id, tids in grouped.items()
    ]


def _object_id(call: Call, key: str, t: str) -> int:
    raw = call.path[key]
    rec = call.store.get(t, raw)
    if rec is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"No {t} object with id {raw}")
    return rec.id


def _pair(call: Call) -> tuple[str, str]:
    from_type, to_type = call.object_type("from"), call.object_type("to")
    try:
        association_type(from_type, to_type)
    except KeyError:
        raise StoreError(
            400, "VALIDATION_ERROR", f"{from_type} cannot be associated with {to_type}"
        ) from None
    return from_type, to_type


def get_associations(call: Call) -> tuple[int, Any]:
    from_type, to_type = _pair(call)
    return 200, {"results": _v4_links(call, from_type, _object_id(call, "id", from_type), to_type)}


def put_default_association(call: Call) -> tuple[int, Any]:
    from_type, to_type = _pair(call)
    from_id, to_id = _object_id(call, "id", from_type), _object_id(call, "toId", to_type)
    call.store.associate(from_type, from_id, to_type, to_id)
    f_tid, t_tid = OBJECT_TYPES[from_type].type_id, OBJECT_TYPES[to_type].type_id
    now = iso_now()
    return 200, {
        "status": "COMPLETE",
        "results": [
            {
                "from": {"id": str(from_id)},
                "to": {"id": str(to_id)},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": association_type(from_type, to_type)[0],
                },
            },
            {
                "from": {"id": str(to_id)},
                "to": {"id": str(from_id)},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": association_type(to_type, from_type)[0],
                },
            },
        ],
        "startedAt": now,
        "completedAt": now,
        "fromObjectTypeId": f_tid,
        "toObjectTypeId": t_tid,
    }


def batch_read_associations(call: Call) -> tuple[int, Any]:
    from_type, to_type = _pair(call)
    inputs = call.json_object().get("inputs")
    if not isinstance(inputs, list) or len(inputs) > 1000:
        raise StoreError(400, "VALIDATION_ERROR", "inputs must be an array of at most 1000 {id} objects")
    ids = [int(i["id"]) for i in inputs if isinstance(i, dict) and str(i.get("id", "")).isdigit()]
    links = call.store.associations_of(from_type, ids, to_type)
    results = []
    for from_id in ids:
        grouped: dict[int, list[int]] = {}
        for to_id, tid in links[from_id]:
            grouped.setdefault(to_id, []).append(tid)
        if grouped:
            results.append(
                {
                    "from": {"id": str(from_id)},
                    "to": [
                        {
                            "toObjectId": k,
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in v
                            ],
                        }
                        for k, v in grouped.items()
                    ],
                }
            )
    now = iso_now()
    return 200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}


def association_labels(call: Call) -> tuple[int, Any]:
    from_type, to_type = _pair(call)
    tid = association_type(from_type, to_type)[0]
    out = [{"category": "HUBSPOT_DEFINED", "typeId": tid, "label": None}]
    out += [
        {"category": "HUBSPOT_DEFINED", "typeId": p, "label": "Primary"}
        for p in (1, 2, 26)
        if type_pair_for_id(p) == (from_type, to_type)
    ]
    return 200, {"results": out}


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "assoc.get": get_associations,
        "assoc.put": put_default_association,
        "assoc.batch_read": batch_read_associations,
        "assoc.labels": association_labels,
    }
