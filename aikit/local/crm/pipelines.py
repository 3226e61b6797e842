"""Pipeline endpoints of the demo CRM: ``/crm/v3/pipelines/{objectType}`` and their stages.

Reads answer ``{"results": [...]}`` without paging (HubSpot's ``CollectionResponsePipelineNoPaging``);
creates answer 201, archives 204. The records live in
:class:`~aikit.local.crm.pipeline_store.PipelineStore`.
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.pipeline_store import PIPELINE_TYPES
from aikit.local.crm.wire import StoreError

__all__ = ["handlers"]


def _type(call: Call) -> str:
    t = call.object_type()
    if t not in PIPELINE_TYPES:
        raise StoreError(400, "VALIDATION_ERROR", f"Object type {t} does not support pipelines")
    return t


def list_pipelines(call: Call) -> tuple[int, Any]:
    return 200, {"results": call.store.pipelines.pipelines(_type(call), archived=call.flag("archived"))}


def get_pipeline(call: Call) -> tuple[int, Any]:
    return 200, call.store.pipelines.require(_type(call), call.path["pipeline"])


def create_pipeline(call: Call) -> tuple[int, Any]:
    return 201, call.store.pipelines.create(_type(call), call.json_object())


def update_pipeline(call: Call) -> tuple[int, Any]:
    return 200, call.store.pipelines.update(_type(call), call.path["pipeline"], call.json_object())


def replace_pipeline(call: Call) -> tuple[int, Any]:
    return 200, call.store.pipelines.replace(_type(call), call.path["pipeline"], call.json_object())


def archive_pipeline(call: Call) -> tuple[int, Any]:
    call.store.pipelines.archive(_type(call), call.path["pipeline"])
    return 204, None


def list_stages(call: Call) -> tuple[int, Any]:
    return 200, {"results": call.store.pipelines.require(_type(call), call.path["pipeline"])["stages"]}


def get_stage(call: Call) -> tuple[int, Any]:
    t = _type(call)
    stage = call.store.pipelines.stage(t, call.path["pipeline"], call.path["stage"])
    if stage is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {call.path['stage']}")
    return 200, stage


def create_stage(call: Call) -> tuple[int, Any]:
    return 201, call.store.pipelines.create_stage(_type(call), call.path["pipeline"], call.json_object())


def update_stage(call: Call) -> tuple[int, Any]:
    t = _type(call)
    return 200, call.store.pipelines.update_stage(
        t, call.path["pipeline"], call.path["stage"], call.json_object()
    )


def archive_stage(call: Call) -> tuple[int, Any]:
    t = _type(call)
    call.store.pipelines.update_stage(t, call.path["pipeline"], call.path["stage"], {"archived": True})
    return 204, None


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "pipelines.list": list_pipelines,
        "pipelines.get": get_pipeline,
        "pipelines.create": create_pipeline,
        "pipelines.update": update_pipeline,
        "pipelines.replace": replace_pipeline,
        "pipelines.archive": archive_pipeline,
        "stages.list": list_stages,
        "stages.get": get_stage,
        "stages.create": create_stage,
        "stages.update": update_stage,
        "stages.archive": archive_stage,
    }
