"""The CRM's write rules beyond single values: required properties, pipeline stages, owners, unique values.

:func:`apply_rules` runs on every create and update after the values themselves were checked
(:meth:`PropertyStore.check <aikit.local.crm.property_store.PropertyStore.check>`) and before anything
is written:

* a ticket needs ``hs_pipeline_stage`` and a deal ``dealname`` and ``dealstage`` (HubSpot answers 400
  without them); the pipeline defaults to the built-in one (``0`` for tickets, ``default`` for deals);
* the stage must belong to the record's pipeline;
* ``hubspot_owner_id`` must name an active owner;
* a property with unique values (``hasUniqueValue``, or a contact's ``email``) may not repeat another
  record's value (409 CONFLICT);
* deals get their calculated fields from the stage: ``hs_deal_stage_probability``, ``hs_is_closed``,
  ``hs_is_closed_won``.

Errors carry HubSpot's validation shape: the details JSON-encoded inside ``message`` plus ``errors``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aikit.local.crm.owner_store import OwnerStore
from aikit.local.crm.pipeline_store import PipelineStore
from aikit.local.crm.property_store import PropertyStore
from aikit.local.crm.schema import PIPELINED, REQUIRED
from aikit.local.crm.wire import StoreError

__all__ = ["RuleStore", "apply_rules", "invalid"]


class RuleStore(Protocol):
    """What the rules read: pipelines, owners and property definitions (the Store has them)."""

    pipelines: PipelineStore
    owners: OwnerStore
    properties: PropertyStore


#: ``(object type, property, value) -> id of the record holding it, or None``.
Finder = Callable[[str, str, str], int | None]


def invalid(errors: list[dict[str, Any]]) -> StoreError:
    """A 400 VALIDATION_ERROR in HubSpot's "Property values were not valid" form."""
    return StoreError(
        400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(errors)}", errors
    )


def _error(name: str, code: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": code, "name": name, "code": code,
            "context": {"propertyName": [name]}}  # fmt: skip


def apply_rules(
    store: RuleStore,
    object_type: str,
    clean: dict[str, str | None],
    current: Mapping[str, str | None] | None = None,
    *,
    record_id: int | None = None,
    find: Finder | None = None,
) -> dict[str, str | None]:
    """``clean`` completed (defaults, calculated fields) or a StoreError; ``current`` is None on create."""
    errors: list[dict[str, Any]] = []
    merged = {**(current or {}), **clean}
    if current is None:
        for name in REQUIRED.get(object_type, ()):
            if not merged.get(name):
                errors.append(_error(name, "REQUIRED_FIELD", f"Property {name} is required"))
    if object_type in PIPELINED:
        pipe_prop, stage_prop, default = PIPELINED[object_type]
        if current is None and not merged.get(pipe_prop):
            clean[pipe_prop] = merged[pipe_prop] = default
        touched = pipe_prop in clean or stage_prop in clean
        pipeline_id, stage_id = merged.get(pipe_prop), merged.get(stage_prop)
        if touched and pipeline_id and not store.pipelines.exists(object_type, pipeline_id):
            errors.append(_error(pipe_prop, "INVALID_OPTION", f"{pipeline_id} is not a valid pipeline"))
        elif (
            touched
            and pipeline_id
            and stage_id
            and store.pipelines.stage(object_type, pipeline_id, stage_id) is None
        ):
            errors.append(
                _error(
                    stage_prop, "INVALID_OPTION", f"{stage_id} is not a valid stage of pipeline {pipeline_id}"
                )
            )
        elif touched and object_type == "deals" and pipeline_id and stage_id:
            stage = store.pipelines.stage(object_type, pipeline_id, stage_id) or {}
            meta = stage.get("metadata", {})
            probability = float(meta.get("probability", "0"))
            closed = meta.get("isClosed") == "true"
            clean["hs_deal_stage_probability"] = str(probability)
            clean["hs_is_closed"] = str(closed).lower()
            clean["hs_is_closed_won"] = str(closed and probability >= 1.0).lower()
    owner = clean.get("hubspot_owner_id")
    if owner and owner not in store.owners.ids():
        errors.append(_error("hubspot_owner_id", "INVALID_OPTION", f"{owner} is not a valid owner id"))
    if find is not None:
        for name in store.properties.unique(object_type) & set(clean):
            value = clean[name]
            holder = find(object_type, name, value) if value else None
            if holder is not None and holder != record_id:
                what = (
                    "Contact"
                    if object_type == "contacts"
                    else f"A {object_type} object with {name}={value!r}"
                )
                raise StoreError(409, "CONFLICT", f"{what} already exists. Existing ID: {holder}")
    if errors:
        raise invalid(errors)
    return clean
