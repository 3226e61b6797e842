"""Property endpoints of the demo CRM: ``/crm/v3/properties/{type}`` and its groups.

Definitions are created (201; a duplicate name is a 409), read and patched (custom properties only:
HubSpot-defined ones are read-only) as HubSpot does; groups are listed, read and created. The
definitions live in :class:`~aikit.local.crm.property_store.PropertyStore`.
"""

from __future__ import annotations

import re
from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["FIELD_TYPES", "PROPERTY_TYPES", "handlers"]

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


def list_properties(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    return 200, {"results": call.store.properties.definitions(t, archived=call.flag("archived"))}


def archive_property(call: Call) -> tuple[int, Any]:
    """``DELETE /crm/v3/properties/{type}/{name}``: a custom property is archived (204)."""
    call.store.properties.archive(call.object_type(), call.path["name"])
    return 204, None


def _name_inputs(call: Call) -> list[str]:
    inputs = call.json_object().get("inputs")
    if not isinstance(inputs, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in inputs
    ):
        raise StoreError(400, "VALIDATION_ERROR", "inputs must be an array of {name} objects")
    return [i["name"] for i in inputs]


def batch_read_properties(call: Call) -> tuple[int, Any]:
    """``POST .../batch/read {inputs: [{name}], archived}``: 200, or 207 naming the unknown ones."""
    t = call.object_type()
    archived = bool(call.json_object().get("archived", False))
    defs = {p["name"]: p for p in call.store.properties.definitions(t, archived=archived)}
    names = _name_inputs(call)
    started = iso_now()
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": [defs[n] for n in names if n in defs],
        "startedAt": started,
        "completedAt": iso_now(),
    }
    missing = [n for n in names if n not in defs]
    if not missing:
        return 200, body
    body["numErrors"] = len(missing)
    body["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": f"Unable to find property {n} for {t}",
            "context": {"name": [n]},
            "errors": [],
            "links": {},
        }
        for n in missing
    ]
    return 207, body


def batch_archive_properties(call: Call) -> tuple[int, Any]:
    """``POST .../batch/archive {inputs: [{name}]}``: every named custom property archived (204)."""
    t = call.object_type()
    for name in _name_inputs(call):
        call.store.properties.archive(t, name)
    return 204, None


def get_property(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    for prop in call.store.properties.definitions(t):
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
    groups = {g["name"] for g in call.store.properties.groups(t)}
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
    return 201, call.store.properties.create(t, definition)


def list_groups(call: Call) -> tuple[int, Any]:
    return 200, {"results": call.store.properties.groups(call.object_type())}


def get_group(call: Call) -> tuple[int, Any]:
    t, name = call.object_type(), call.path["name"]
    for group in call.store.properties.groups(t):
        if group["name"] == name:
            return 200, group
    raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find property group {name} for {t}")


def create_group(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    name, label = data.get("name"), data.get("label")
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(label, str) or not label:
        raise StoreError(400, "VALIDATION_ERROR", "a property group needs a lowercase name and a label")
    return 201, call.store.properties.create_group(t, name, label, int(data.get("displayOrder", -1)))


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
    updated = call.store.properties.update(t, name, changes)
    if updated is None:
        if name in call.store.properties.names(t):
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


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "properties.list": list_properties,
        "properties.get": get_property,
        "properties.create": create_property,
        "properties.update": update_property,
        "properties.archive": archive_property,
        "properties.batch_read": batch_read_properties,
        "properties.batch_archive": batch_archive_properties,
        "groups.list": list_groups,
        "groups.get": get_group,
        "groups.create": create_group,
    }
