"""Describe and limits bodies: what ``/sobjects``, ``/sobjects/{Type}[/describe]`` and ``/limits`` return.

>>> from aikit.local.salesforce.schema import fresh_objects
>>> body = describe_object(fresh_objects()["Case"], "60.0")
>>> body["name"], body["keyPrefix"], any(f["name"] == "AI_Sentiment__c" for f in body["fields"])
('Case', '500', True)
"""

from __future__ import annotations

from typing import Any

from aikit.local.salesforce.schema import SObject

__all__ = ["describe_global", "describe_object", "limits", "summary"]


def summary(obj: SObject, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    writable = obj.name != "User"
    return {
        "activateable": False,
        "createable": writable,
        "custom": obj.name.endswith("__c"),
        "customSetting": False,
        "deletable": writable,
        "deprecatedAndHidden": False,
        "feedEnabled": True,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": writable,
        "updateable": writable,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe_global(objects: list[SObject], version: str) -> dict[str, Any]:
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [summary(o, version) for o in objects]}


def describe_object(obj: SObject, version: str) -> dict[str, Any]:
    body = summary(obj, version)
    body.update(
        {
            "fields": [dict(f) for f in obj.fields],
            "childRelationships": [
                {
                    "cascadeDelete": False,
                    "childSObject": c.child,
                    "deprecatedAndHidden": False,
                    "field": c.field,
                    "relationshipName": c.name,
                    "restrictedDelete": False,
                }
                for c in obj.children
            ],
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}],
        }
    )
    return body


def limits(api_max: int, api_remaining: int, bulk_jobs: int) -> dict[str, Any]:
    """The ``/limits`` body; the API request figures are live, the storage ones a Developer Edition's."""
    return {
        "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
        "DailyApiRequests": {"Max": api_max, "Remaining": api_remaining},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": max(0, 10000 - bulk_jobs)},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
        "FileStorageMB": {"Max": 20, "Remaining": 20},
        "HourlyTimeBasedWorkflow": {"Max": 50, "Remaining": 50},
        "SingleEmail": {"Max": 15, "Remaining": 15},
    }
