"""The demo CRM's non-object endpoints: properties, associations v4 and webhook subscriptions.

Properties follow ``/crm/v3/properties/{type}`` (create 201, duplicate 409); associations follow
``/crm/v4``; webhook subscriptions follow HubSpot's app-level webhooks API
(``/webhooks/v3/{appId}/settings`` and ``/subscriptions``), with two demo extensions on the
settings body: ``clientSecret`` (the app secret that signs deliveries) and ``signatureVersion``
(``"v3"``, or ``"v1"``/``"v2"`` to add the legacy ``X-HubSpot-Signature`` header as well).
"""

from __future__ import annotations

import re
from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.schema import OBJECT_TYPES, association_type, type_pair_for_id
from aikit.local.crm.store import StoreError, iso_now

__all__ = ["EVENT_TYPES", "handlers"]

PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool", "phone_number")
FIELD_TYPES = (
    "text",
    "textarea",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "date",
    "file",
    "html",
    "phonenumber",
    "calculation_equation",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
EVENT_TYPES = frozenset(
    f"{obj}.{ev}"
    for obj in ("contact", "company", "ticket", "deal")
    for ev in ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
)


def list_properties(call: Call) -> tuple[int, Any]:
    return 200, {"results": call.store.list_properties(call.object_type())}


def get_property(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    for prop in call.store.list_properties(t):
        if prop["name"] == call.path["name"]:
            return 200, prop
    raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {call.path['name']} for {t}")


def create_property(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not data.get(k)]
    errors = [{"message": f"{k} is required", "code": "REQUIRED", "in": k} for k in missing]
    if data.get("type") and data["type"] not in PROPERTY_TYPES:
        errors.append(
            {"message": f"type must be one of {', '.join(PROPERTY_TYPES)}", "code": "INVALID", "in": "type"}
        )
    if data.get("fieldType") and data["fieldType"] not in FIELD_TYPES:
        errors.append(
            {
                "message": f"fieldType must be one of {', '.join(FIELD_TYPES)}",
                "code": "INVALID",
                "in": "fieldType",
            }
        )
    if data.get("name") and not _NAME.match(str(data["name"])):
        errors.append(
            {
                "message": "name must be lowercase letters, digits and underscores",
                "code": "INVALID",
                "in": "name",
            }
        )
    groups = {g["name"] for g in call.store.property_groups(t)}
    if data.get("groupName") and data["groupName"] not in groups:
        errors.append(
            {
                "message": f"property group {data['groupName']} does not exist",
                "code": "INVALID",
                "in": "groupName",
            }
        )
    if errors:
        raise StoreError(
            400,
            "VALIDATION_ERROR",
            "Invalid input JSON on line 1: " + "; ".join(e["message"] for e in errors),
            errors,
        )
    now = iso_now()
    definition = {
        "name": data["name"],
        "label": data["label"],
        "type": data["type"],
        "fieldType": data["fieldType"],
        "description": data.get("description", ""),
        "groupName": data["groupName"],
        "options": _options(data.get("options") or []),
        "displayOrder": data.get("displayOrder", -1),
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": bool(data.get("hasUniqueValue", False)),
        "hidden": bool(data.get("hidden", False)),
        "hubspotDefined": False,
        "formField": bool(data.get("formField", True)),
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }
    return 201, call.store.create_property(t, definition)


def list_groups(call: Call) -> tuple[int, Any]:
    return 200, {"results": call.store.property_groups(call.object_type())}


def get_group(call: Call) -> tuple[int, Any]:
    t, name = call.object_type(), call.path["name"]
    for group in call.store.property_groups(t):
        if group["name"] == name:
            return 200, group
    raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name} for {t}")


def create_group(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    name, label = data.get("name"), data.get("label")
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(label, str) or not label:
        raise StoreError(400, "VALIDATION_ERROR", "a property group needs a lowercase name and a label")
    return 201, call.store.create_property_group(t, name, label, int(data.get("displayOrder", -1)))


def update_property(call: Call) -> tuple[int, Any]:
    t, name = call.object_type(), call.path["name"]
    data = call.json_object()
    allowed = {
        "label",
        "description",
        "groupName",
        "fieldType",
        "options",
        "displayOrder",
        "hidden",
        "formField",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise StoreError(400, "VALIDATION_ERROR", f"These fields cannot be changed: {', '.join(unknown)}")
    changes = dict(data)
    if "options" in changes:
        changes["options"] = _options(changes["options"])
    changes["updatedAt"] = iso_now()
    updated = call.store.update_property(t, name, changes)
    if updated is None:
        if name in call.store.property_names(t):
            raise StoreError(
                400, "VALIDATION_ERROR", f"{name} is a HubSpot-defined property and is read-only"
            )
        raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for {t}")
    return 200, updated


def _options(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise StoreError(400, "VALIDATION_ERROR", "options must be an array")
    return [
        {
            "label": o.get("label", o.get("value")),
            "value": o.get("value"),
            "hidden": bool(o.get("hidden", False)),
            "displayOrder": o.get("displayOrder", i),
            "description": o.get("description", ""),
        }
        for i, o in enumerate(raw)
        if isinstance(o, dict)
    ]


# -- associations v4 ------------------------------------------------------------------------------
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


# -- webhooks (app settings and subscriptions) ------------------------------------------------------
def _app_id(call: Call) -> int:
    raw = call.path["app"]
    if not raw.isdigit():
        raise StoreError(400, "VALIDATION_ERROR", f"appId must be numeric, got {raw!r}")
    return int(raw)


def get_settings(call: Call) -> tuple[int, Any]:
    app = call.store.webhook_app(_app_id(call))
    if app is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", "No webhook settings for this app; PUT them first")
    return 200, {"targetUrl": app[0], "throttling": {"maxConcurrentRequests": 10, "period": "SECONDLY"}}


def put_settings(call: Call) -> tuple[int, Any]:
    data = call.json_object()
    target = data.get("targetUrl")
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise StoreError(400, "VALIDATION_ERROR", "targetUrl must be an http(s) URL")
    version = str(data.get("signatureVersion", "v3"))
    if version not in ("v1", "v2", "v3"):
        raise StoreError(400, "VALIDATION_ERROR", "signatureVersion must be v1, v2 or v3")
    app_id = _app_id(call)
    current = call.store.webhook_app(app_id)
    secret = data.get("clientSecret") or (current[1] if current else None)
    if not secret:
        raise StoreError(400, "VALIDATION_ERROR", "clientSecret is required the first time (demo extension)")
    call.store.set_webhook_app(app_id, target, str(secret), version)
    return 200, {
        "targetUrl": target,
        "throttling": data.get("throttling") or {"maxConcurrentRequests": 10, "period": "SECONDLY"},
    }


def list_subscriptions(call: Call) -> tuple[int, Any]:
    subs = call.store.subscriptions(_app_id(call))
    return 200, {"results": [{k: v for k, v in s.items() if k != "appId"} for s in subs]}


def create_subscription(call: Call) -> tuple[int, Any]:
    data = call.json_object()
    event = data.get("eventType")
    if event not in EVENT_TYPES:
        raise StoreError(
            400, "VALIDATION_ERROR", f"eventType must be one of {', '.join(sorted(EVENT_TYPES))}"
        )
    prop = data.get("propertyName")
    return 201, call.store.add_subscription(_app_id(call), event, prop, bool(data.get("active", True)))


def delete_subscription(call: Call) -> tuple[int, Any]:
    sub = call.path["sub"]
    if not sub.isdigit() or not call.store.delete_subscription(_app_id(call), int(sub)):
        raise StoreError(404, "OBJECT_NOT_FOUND", f"No subscription {sub}")
    return 204, None


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "properties.list": list_properties,
        "properties.get": get_property,
        "properties.create": create_property,
        "properties.update": update_property,
        "groups.list": list_groups,
        "groups.get": get_group,
        "groups.create": create_group,
        "assoc.get": get_associations,
        "assoc.put": put_default_association,
        "assoc.batch_read": batch_read_associations,
        "assoc.labels": association_labels,
        "webhooks.settings.get": get_settings,
        "webhooks.settings.put": put_settings,
        "webhooks.subs.list": list_subscriptions,
        "webhooks.subs.create": create_subscription,
        "webhooks.subs.delete": delete_subscription,
    }
