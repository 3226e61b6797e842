"""Association endpoints of the demo CRM (``/crm/v4``): read, link (default or labelled), unlink, labels.

Links are stored both ways by :class:`~aikit.local.crm.store.Store`; type ids are HubSpot's
HUBSPOT_DEFINED ones (:mod:`aikit.local.crm.schema`) or USER_DEFINED labels created through the labels
endpoint (:mod:`aikit.local.crm.label_store`). Status codes follow the spec the SDK keys on: a
labelled ``PUT`` answers 201 (``LabelsBetweenObjectPair``), the default one 200, deletes 204, batch
create 201 (207 with per-input errors), batch read 200 (207).
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import MAX_BATCH, Call
from aikit.local.crm.schema import ASSOCIATION_TYPES, OBJECT_TYPES, association_type
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["association_error", "handlers", "pair_of", "resolve_id"]


def _grouped(call: Call, links: list[tuple[int, int]]) -> list[dict[str, Any]]:
    grouped: dict[int, list[int]] = {}
    for to_id, type_id in links:
        grouped.setdefault(to_id, []).append(type_id)
    return [
        {"toObjectId": to_id, "associationTypes": [call.store.labels.spec(t) for t in tids]}
        for to_id, tids in grouped.items()
    ]


def resolve_id(call: Call, t: str, raw: Any) -> int:
    """The id of a live ``t`` object, or a 404 StoreError."""
    rec = call.store.get(t, str(raw))
    if rec is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"No {t} object with id {raw}")
    return rec.id


def pair_of(call: Call, from_key: str = "from", to_key: str = "to") -> tuple[str, str]:
    """The two object types of the path, when they can be associated."""
    from_type, to_type = call.object_type(from_key), call.object_type(to_key)
    if (from_type, to_type) not in ASSOCIATION_TYPES:
        raise StoreError(400, "VALIDATION_ERROR", f"{from_type} cannot be associated with {to_type}")
    return from_type, to_type


def association_error(exc: StoreError, from_id: Any, to_id: Any = None) -> dict[str, Any]:
    """A per-input error of a 207 batch response."""
    ids = [str(from_id)] + ([str(to_id)] if to_id is not None else [])
    return {"status": "error", "category": exc.category, "message": exc.message, "context": {"ids": ids},
            "errors": [], "links": {}}  # fmt: skip


def _type_ids(call: Call, from_type: str, to_type: str, specs: Any) -> list[int]:
    """AssociationSpec list (``[{associationCategory, associationTypeId}]``) -> validated type ids."""
    if not isinstance(specs, list) or not specs:
        raise StoreError(
            400, "VALIDATION_ERROR", "the body is an array of {associationCategory, associationTypeId}"
        )
    out = []
    for spec in specs:
        try:
            type_id = int(spec["associationTypeId"])
        except (KeyError, TypeError, ValueError):
            raise StoreError(
                400, "VALIDATION_ERROR", "each association spec needs associationTypeId"
            ) from None
        if call.store.labels.pair(type_id) != (from_type, to_type):
            raise StoreError(
                400, "VALIDATION_ERROR", f"associationTypeId {type_id} does not link {from_type} to {to_type}"
            )
        category = spec.get("associationCategory", call.store.labels.category(type_id))
        if category != call.store.labels.category(type_id):
            raise StoreError(
                400,
                "VALIDATION_ERROR",
                f"associationTypeId {type_id} is {call.store.labels.category(type_id)}",
            )
        out.append(type_id)
    return out


def _labels_between(call: Call, f: str, fid: int, t: str, tid: int, type_ids: list[int]) -> dict[str, Any]:
    labels = [label for label in (call.store.labels.label(x) for x in type_ids) if label]
    return {
        "fromObjectTypeId": OBJECT_TYPES[f].type_id,
        "fromObjectId": str(fid),
        "toObjectTypeId": OBJECT_TYPES[t].type_id,
        "toObjectId": str(tid),
        "labels": labels,
    }


def get_associations(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    from_id = resolve_id(call, from_type, call.path["id"])
    links = call.store.associations_of(from_type, [from_id], to_type)[from_id]
    return 200, {"results": _grouped(call, links)}


def _default_pair_result(from_type: str, from_id: int, to_type: str, to_id: int) -> list[dict[str, Any]]:
    return [
        {
            "from": {"id": str(a_id)},
            "to": {"id": str(b_id)},
            "associationSpec": {
                "associationCategory": "HUBSPOT_DEFINED",
                "associationTypeId": association_type(a, b)[0],
            },
        }
        for a, a_id, b, b_id in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id))
    ]


def put_default_association(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    from_id, to_id = (
        resolve_id(call, from_type, call.path["id"]),
        resolve_id(call, to_type, call.path["toId"]),
    )
    call.store.associate(from_type, from_id, to_type, to_id)
    now = iso_now()
    return 200, {
        "status": "COMPLETE",
        "results": _default_pair_result(from_type, from_id, to_type, to_id),
        "startedAt": now,
        "completedAt": now,
    }


def put_labelled_association(call: Call) -> tuple[int, Any]:
    """``PUT .../associations/{to}/{toId}`` with an array of AssociationSpec: 201 LabelsBetweenObjectPair."""
    from_type, to_type = pair_of(call)
    from_id, to_id = (
        resolve_id(call, from_type, call.path["id"]),
        resolve_id(call, to_type, call.path["toId"]),
    )
    type_ids = _type_ids(call, from_type, to_type, call.json())
    for type_id in type_ids:
        call.store.associate(from_type, from_id, to_type, to_id, type_id)
    return 201, _labels_between(call, from_type, from_id, to_type, to_id, type_ids)


def delete_association(call: Call) -> tuple[int, Any]:
    """``DELETE .../associations/{to}/{toId}``: removes every association type between the two (204)."""
    from_type, to_type = pair_of(call)
    from_id, to_id = (
        resolve_id(call, from_type, call.path["id"]),
        resolve_id(call, to_type, call.path["toId"]),
    )
    call.store.dissociate(from_type, from_id, to_type, to_id)
    return 204, None


def _batch_inputs(call: Call) -> list[dict[str, Any]]:
    inputs = call.json_object().get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise StoreError(400, "VALIDATION_ERROR", "inputs must be an array of objects")
    if len(inputs) > MAX_BATCH * 10:
        raise StoreError(400, "VALIDATION_ERROR", f"Batch input limit exceeded: {len(inputs)} inputs")
    return inputs


def _endpoint_id(item: dict[str, Any], key: str) -> Any:
    value = item.get(key)
    if not isinstance(value, dict) or "id" not in value:
        raise StoreError(400, "VALIDATION_ERROR", f"each input needs {key}.id")
    return value["id"]


def batch_read_associations(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    inputs = _batch_inputs(call)
    ids = [int(i["id"]) for i in inputs if str(i.get("id", "")).isdigit()]
    links = call.store.associations_of(from_type, ids, to_type)
    results = [
        {"from": {"id": str(from_id)}, "to": _grouped(call, links[from_id])}
        for from_id in ids
        if links[from_id]
    ]
    now = iso_now()
    return 200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}


def _batch_body(status: int, results: list[Any], errors: list[dict[str, Any]]) -> tuple[int, Any]:
    now = iso_now()
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
        return 207, body
    return status, body


def batch_create_associations(call: Call) -> tuple[int, Any]:
    """``batch/create`` ``{inputs: [{from, to, types}]}``: 201 LabelsBetweenObjectPair list (207)."""
    from_type, to_type = pair_of(call)
    results, errors = [], []
    for item in _batch_inputs(call):
        from_raw, to_raw = _endpoint_id(item, "from"), _endpoint_id(item, "to")
        try:
            from_id, to_id = resolve_id(call, from_type, from_raw), resolve_id(call, to_type, to_raw)
            type_ids = _type_ids(call, from_type, to_type, item.get("types"))
            for type_id in type_ids:
                call.store.associate(from_type, from_id, to_type, to_id, type_id)
        except StoreError as exc:
            errors.append(association_error(exc, from_raw, to_raw))
            continue
        results.append(_labels_between(call, from_type, from_id, to_type, to_id, type_ids))
    return _batch_body(201, results, errors)


def batch_default_associations(call: Call) -> tuple[int, Any]:
    """``batch/associate/default`` ``{inputs: [{from, to}]}``: 200 with both directions per pair."""
    from_type, to_type = pair_of(call)
    results, errors = [], []
    for item in _batch_inputs(call):
        from_raw, to_raw = _endpoint_id(item, "from"), _endpoint_id(item, "to")
        try:
            from_id, to_id = resolve_id(call, from_type, from_raw), resolve_id(call, to_type, to_raw)
            call.store.associate(from_type, from_id, to_type, to_id)
        except StoreError as exc:
            errors.append(association_error(exc, from_raw, to_raw))
            continue
        results += _default_pair_result(from_type, from_id, to_type, to_id)
    return _batch_body(200, results, errors)


def batch_archive_associations(call: Call) -> tuple[int, Any]:
    """``batch/archive`` ``{inputs: [{from, to: [{id}, ...]}]}``: every type between each pair (204)."""
    from_type, to_type = pair_of(call)
    for item in _batch_inputs(call):
        from_id = resolve_id(call, from_type, _endpoint_id(item, "from"))
        targets = item.get("to")
        if not isinstance(targets, list):
            raise StoreError(400, "VALIDATION_ERROR", "each archive input needs to: [{id}, ...]")
        for target in targets:
            if isinstance(target, dict) and str(target.get("id", "")).isdigit():
                call.store.dissociate(from_type, from_id, to_type, int(target["id"]))
    return 204, None


def batch_archive_labels(call: Call) -> tuple[int, Any]:
    """``batch/labels/archive`` ``{inputs: [{from, to, types}]}``: removes only those types (204)."""
    from_type, to_type = pair_of(call)
    for item in _batch_inputs(call):
        from_id = resolve_id(call, from_type, _endpoint_id(item, "from"))
        to_id = resolve_id(call, to_type, _endpoint_id(item, "to"))
        call.store.dissociate(
            from_type, from_id, to_type, to_id, _type_ids(call, from_type, to_type, item.get("types"))
        )
    return 204, None


def association_labels(call: Call) -> tuple[int, Any]:
    from_type, to_type = pair_of(call)
    return 200, {"results": call.store.labels.labels(from_type, to_type)}


def create_label(call: Call) -> tuple[int, Any]:
    """``POST .../labels {name, label, inverseLabel?}``: 200 with the new type(s)."""
    from_type, to_type = pair_of(call)
    data = call.json_object()
    name, label, inverse = data.get("name"), data.get("label"), data.get("inverseLabel")
    if (
        not isinstance(name, str)
        or not isinstance(label, str)
        or (inverse is not None and not isinstance(inverse, str))
    ):
        raise StoreError(
            400, "VALIDATION_ERROR", "a label needs a name and a label (and an optional inverseLabel)"
        )
    spec = call.store.labels.create(from_type, to_type, name, label, inverse)
    results = [spec]
    if inverse:
        results.append(call.store.labels.spec(call.store.labels.inverse(spec["typeId"])))
    return 200, {"results": results}


def update_label(call: Call) -> tuple[int, Any]:
    """``PUT .../labels {associationTypeId, label, inverseLabel?}``: 204."""
    from_type, to_type = pair_of(call)
    data = call.json_object()
    try:
        type_id = int(data["associationTypeId"])
        label = str(data["label"])
    except (KeyError, TypeError, ValueError):
        raise StoreError(
            400, "VALIDATION_ERROR", "a label update needs associationTypeId and label"
        ) from None
    call.store.labels.rename(from_type, to_type, type_id, label, data.get("inverseLabel"))
    return 204, None


def delete_label(call: Call) -> tuple[int, Any]:
    """``DELETE .../labels/{associationTypeId}``: the label and its associations (204)."""
    from_type, to_type = pair_of(call)
    raw = call.path["typeId"]
    if not raw.isdigit():
        raise StoreError(400, "VALIDATION_ERROR", f"associationTypeId must be a number, got {raw!r}")
    call.store.labels.delete(from_type, to_type, int(raw))
    return 204, None


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "assoc.get": get_associations,
        "assoc.put": put_default_association,
        "assoc.put_labelled": put_labelled_association,
        "assoc.delete": delete_association,
        "assoc.batch_read": batch_read_associations,
        "assoc.batch_create": batch_create_associations,
        "assoc.batch_default": batch_default_associations,
        "assoc.batch_archive": batch_archive_associations,
        "assoc.batch_archive_labels": batch_archive_labels,
        "assoc.labels": association_labels,
        "assoc.labels.create": create_label,
        "assoc.labels.update": update_label,
        "assoc.labels.delete": delete_label,
    }
