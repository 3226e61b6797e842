"""The demo org's REST resources, each ``Call -> Reply``: query, sObjects, collections, limits.

Bodies and status codes are the ones simple-salesforce and other clients depend on: create answers
201 ``{"id", "success", "errors"}``, update and delete 204 with no body, upsert 201/200 with
``created``, sObject Collections 200 with one result per record in request order (``allOrNone``
honoured), unknown records and resources 404 ``NOT_FOUND``, queries paged with ``nextRecordsUrl``.

>>> from aikit.local.salesforce.oauth import ConnectedApps, Sessions
>>> from aikit.local.salesforce.org import ApiBudget, Org
>>> from aikit.local.salesforce.store import Store
>>> org = Org(Store(":memory:"), ConnectedApps.default(), Sessions(), ApiBudget())
>>> reply = create(Call(org, "60.0", {"type": "Account"}, {}, b'{"Name": "Kestrel Foods"}'))
>>> reply.status, reply.body["success"]
(201, True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aikit.exceptions import AIKitError
from aikit.local.salesforce.describe import describe_global, describe_object, limits, summary
from aikit.local.salesforce.org import API_VERSIONS, Org
from aikit.local.salesforce.query import run
from aikit.local.salesforce.schema import SObject, object_named
from aikit.local.salesforce.store import INTEGRATION_USER
from aikit.local.salesforce.validate import clean, required_missing
from aikit.local.salesforce.wire import ApiError, parse_datetime

__all__ = ["Call", "Reply", "handlers"]

MAX_COLLECTION = 200
MAX_RETRIEVE = 2000


@dataclass
class Call:
    """One request: the org, the API version in the path, path parameters, query string, raw body."""

    org: Org
    version: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    user_id: str = INTEGRATION_USER

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _object(call: Call, name: str | None = None) -> SObject:
    obj = object_named(call.org.store.objects.values(), name or call.params["type"])
    if obj is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return obj


def _record(
    org: Org, obj: SObject, rec: dict[str, Any], version: str, fields: list[str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": obj.name, "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}"}
    }
    names = obj.names if fields is None else fields
    for name in names:
        f = obj.field(name)
        if f is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}")
        out[f["name"]] = rec.get(f["name"])
    return out


def versions(call: Call) -> Reply:
    return Reply(
        200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in API_VERSIONS]
    )


def resources(call: Call) -> Reply:
    base = f"/services/data/v{call.version}"
    names = ["sobjects", "query", "queryAll", "composite", "limits", "jobs"]
    return Reply(200, {n: f"{base}/{n}" for n in names})


def _batch_size(call: Call) -> int:
    size = call.org.page_size
    options = call.headers.get("sforce-query-options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "batchsize" and value.isdigit():
            size = min(call.org.page_size, max(200, min(2000, int(value))))
    return size


def query(call: Call, include_deleted: bool = False) -> Reply:
    soql = call.query.get("q")
    if soql is None:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    total, rows = run(call.org.store, soql, version=call.version, include_deleted=include_deleted)
    call.org.stats["queries"] += 1
    return Reply(200, call.org.cursors.page(rows, total, _batch_size(call), call.version, include_deleted))


def query_all(call: Call) -> Reply:
    return query(call, include_deleted=True)


def query_more(call: Call) -> Reply:
    return Reply(200, call.org.cursors.more(call.params["locator"], _batch_size(call), call.version))


def sobjects(call: Call) -> Reply:
    return Reply(200, describe_global(list(call.org.store.objects.values()), call.version))


def basic_info(call: Call) -> Reply:
    obj = _object(call)
    recent = [
        {"attributes": {"type": obj.name}, "Id": r["Id"], "Name": r.get("Name") or r.get("CaseNumber")}
        for r in call.org.store.scan(obj.name)[-5:]
    ]
    return Reply(200, {"objectDescribe": summary(obj, call.version), "recentItems": recent})


def describe(call: Call) -> Reply:
    return Reply(200, describe_object(_object(call), call.version))


def _insert(org: Org, obj: SObject, values: Any, allow: frozenset[str] = frozenset()) -> str:
    store = org.store
    data = clean(obj, values, creating=True, exists=store.exists, allow=allow)
    missing = required_missing(obj, data)
    if missing is not None:
        raise missing
    _check_unique(org, obj, data, None)
    return store.insert(obj.name, {k: v for k, v in data.items() if k != "Id"})


def _check_unique(org: Org, obj: SObject, data: dict[str, Any], rid: str | None) -> None:
    for name, value in data.items():
        f = obj.field(name)
        if f is not None and f["unique"] and value is not None:
            clash = [r for r in org.store.find_by(obj.name, name, value) if r["Id"] != rid]
            if clash:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {name} duplicates value on record with id: {clash[0]['Id']}",
                    [],
                )


def _update(org: Org, obj: SObject, rid: str, values: Any) -> None:
    store = org.store
    if store.get(obj.name, rid) is None:
        if store.is_deleted(obj.name, rid):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    data = clean(obj, values, creating=False, exists=store.exists)
    found = store.get(obj.name, rid)
    assert found is not None
    _check_unique(org, obj, data, found["Id"])
    store.update(obj.name, rid, data)


def create(call: Call) -> Reply:
    obj = _object(call)
    rid = _insert(call.org, obj, call.json() or {})
    return Reply(201, {"id": rid, "success": True, "errors": []})


def get(call: Call) -> Reply:
    obj = _object(call)
    rec = call.org.store.get(obj.name, call.params["id"])
    if rec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    fields = call.query.get("fields")
    return Reply(200, _record(call.org, obj, rec, call.version, fields.split(",") if fields else None))


def update(call: Call) -> Reply:
    obj = _object(call)
    _update(call.org, obj, call.params["id"], call.json() or {})
    return Reply(204)


def delete(call: Call) -> Reply:
    obj = _object(call)
    if not call.org.store.delete(obj.name, call.params["id"]):
        code = "ENTITY_IS_DELETED" if call.org.store.is_deleted(obj.name, call.params["id"]) else "NOT_FOUND"
        raise ApiError(
            404, code, "entity is deleted" if code != "NOT_FOUND" else "The requested resource does not exist"
        )
    return Reply(204)


def _external_field(obj: SObject, name: str) -> dict[str, Any]:
    f = obj.field(name)
    if f is None or not (f["externalId"] or f["idLookup"]):
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}"
        )
    return f


def by_external_id(call: Call) -> Reply:
    obj = _object(call)
    f = _external_field(obj, call.params["field"])
    matches = call.org.store.find_by(obj.name, f["name"], unquote(call.params["value"]))
    if not matches:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    if len(matches) > 1:
        return Reply(300, [f"/services/data/v{call.version}/sobjects/{obj.name}/{r['Id']}" for r in matches])
    return Reply(200, _record(call.org, obj, matches[0], call.version))


def _upsert_one(org: Org, obj: SObject, f: dict[str, Any], value: str, values: Any) -> tuple[str, bool]:
    if not isinstance(values, Mapping):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object of field values")
    body = dict(values)
    given = {k: v for k, v in body.items() if k.lower() == f["name"].lower()}
    if any(str(v) != value for v in given.values()):
        raise ApiError(400, "INVALID_FIELD", f"{f['name']} specified more than once", [f["name"]])
    for key in given:
        body.pop(key)
    if f["name"] == "Id":
        _update(org, obj, value, body)
        return value, False
    matches = org.store.find_by(obj.name, f["name"], value)
    if len(matches) > 1:
        ids = ", ".join(r["Id"] for r in matches)
        raise ApiError(300, "MULTIPLE_RECORDS", f"Multiple records found for {f['name']}={value}: {ids}")
    if matches:
        _update(org, obj, matches[0]["Id"], body)
        return matches[0]["Id"], False
    return _insert(org, obj, {**body, f["name"]: value}), True


def upsert(call: Call) -> Reply:
    obj = _object(call)
    f = _external_field(obj, call.params["field"])
    rid, created = _upsert_one(call.org, obj, f, unquote(call.params["value"]), call.json() or {})
    body = {"id": rid, "success": True, "errors": [], "created": created}
    if not created and float(call.version) < 46:
        return Reply(204)
    return Reply(201 if created else 200, body)


def _window(call: Call) -> tuple[float, float]:
    start, end = call.query.get("start"), call.query.get("end")
    parsed = [parse_datetime(v) if v else None for v in (start, end)]
    if parsed[0] is None or parsed[1] is None:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 datetimes")
    return parsed[0].timestamp(), parsed[1].timestamp()


def updated(call: Call) -> Reply:
    obj = _object(call)
    lo, hi = _window(call)
    ids = [
        r["Id"]
        for r in call.org.store.scan(obj.name)
        if (t := parse_datetime(r["SystemModstamp"])) is not None and lo <= t.timestamp() <= hi
    ]
    return Reply(200, {"ids": ids, "latestDateCovered": call.query.get("end")})


def deleted(call: Call) -> Reply:
    obj = _object(call)
    lo, hi = _window(call)
    gone = [
        {"id": r["Id"], "deletedDate": r.get("_deleted")}
        for r in call.org.store.bin[obj.name].values()
        if (t := parse_datetime(r.get("_deleted") or "")) is not None and lo <= t.timestamp() <= hi
    ]
    return Reply(
        200,
        {
            "deletedRecords": gone,
            "earliestDateAvailable": call.query.get("start"),
            "latestDateCovered": call.query.get("end"),
        },
    )


def _collection(call: Call) -> tuple[list[Any], bool]:
    body = call.json()
    if not isinstance(body, Mapping) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", 'The body must be {"allOrNone": ..., "records": [...]}')
    records = body["records"]
    if len(records) > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
        )
    return records, bool(body.get("allOrNone", False))


def _apply_all(org: Org, steps: list[Any], all_or_none: bool) -> list[dict[str, Any]]:
    """Run ``steps`` (callables returning a result dict); allOrNone validates every record first."""
    results: list[dict[str, Any]] = []
    with org.store.lock, org.store.transaction():
        snapshot = None
        if all_or_none:
            snapshot = [
                {t: {k: dict(v) for k, v in rows.items()} for t, rows in table.items()}
                for table in (org.store.records, org.store.bin)
            ]
        for step in steps:
            try:
                results.append({**step(), "success": True, "errors": []})
            except ApiError as exc:
                results.append({"success": False, "errors": [exc.entry()]})
        if all_or_none and any(not r["success"] for r in results):
            assert snapshot is not None
            org.store.records.update(snapshot[0])
            org.store.bin.update(snapshot[1])
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
            results = [r if not r["success"] else {"success": False, "errors": [rolled]} for r in results]
            raise _Rollback(results)
    return results


class _Rollback(AIKitError):
    """Internal: unwinds an allOrNone composite request (never reaches a caller)."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        super().__init__("rolled back")
        self.results = results


def _run(org: Org, steps: list[Any], all_or_none: bool) -> Reply:
    try:
        return Reply(200, _apply_all(org, steps, all_or_none))
    except _Rollback as done:
        return Reply(200, done.results)


def _typed(call: Call, record: Any) -> tuple[SObject, dict[str, Any]]:
    if not isinstance(record, Mapping):
        raise ApiError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
    kind = (record.get("attributes") or {}).get("type")
    if not kind:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    obj = object_named(call.org.store.objects.values(), str(kind))
    if obj is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
    return obj, {k: v for k, v in record.items() if k != "attributes"}


def collection_create(call: Call) -> Reply:
    records, all_or_none = _collection(call)

    def step(record: Any) -> Any:
        def go() -> dict[str, Any]:
            obj, values = _typed(call, record)
            return {"id": _insert(call.org, obj, values)}

        return go

    return _run(call.org, [step(r) for r in records], all_or_none)


def collection_update(call: Call) -> Reply:
    records, all_or_none = _collection(call)

    def step(record: Any) -> Any:
        def go() -> dict[str, Any]:
            obj, values = _typed(call, record)
            rid = values.pop("id", None) or values.pop("Id", None)
            if not rid:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
            _update(call.org, obj, str(rid), values)
            found = call.org.store.get(obj.name, str(rid))
            return {"id": found["Id"] if found else rid}

        return go

    return _run(call.org, [step(r) for r in records], all_or_none)


def collection_upsert(call: Call) -> Reply:
    obj = _object(call)
    f = _external_field(obj, call.params["field"])
    records, all_or_none = _collection(call)

    def step(record: Any) -> Any:
        def go() -> dict[str, Any]:
            kind, values = _typed(call, record)
            if kind.name != obj.name:
                raise ApiError(400, "INVALID_TYPE", f"records must all be of type {obj.name}")
            key = next((k for k in values if k.lower() == f["name"].lower()), None)
            if key is None or values[key] in (None, ""):
                raise ApiError(400, "MISSING_ARGUMENT", f"{f['name']} not specified", [f["name"]])
            rid, created = _upsert_one(call.org, obj, f, str(values[key]), values)
            return {"id": rid, "created": created}

        return go

    return _run(call.org, [step(r) for r in records], all_or_none)


def collection_delete(call: Call) -> Reply:
    ids = [i for i in (call.query.get("ids") or "").split(",") if i]
    if len(ids) > MAX_COLLECTION:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"cannot delete more than {MAX_COLLECTION} records in one call"
        )
    all_or_none = (call.query.get("allOrNone") or "false").lower() == "true"
    store = call.org.store

    def step(rid: str) -> Any:
        def go() -> dict[str, Any]:
            for obj in store.objects.values():
                if rid.startswith(obj.key_prefix) and store.delete(obj.name, rid):
                    return {"id": rid}
            raise ApiError(
                404,
                "ENTITY_IS_DELETED"
                if any(store.is_deleted(o, rid) for o in store.objects)
                else "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
            )

        return go

    reply = _run(call.org, [step(i) for i in ids], all_or_none)
    for rid, result in zip(ids, reply.body, strict=True):
        result.setdefault("id", rid)
    return reply


def collection_retrieve(call: Call) -> Reply:
    obj = _object(call)
    body = call.json() if call.body.strip() else None
    if isinstance(body, Mapping):
        ids, fields = list(body.get("ids") or []), list(body.get("fields") or [])
    else:
        ids = [i for i in (call.query.get("ids") or "").split(",") if i]
        fields = [f for f in (call.query.get("fields") or "").split(",") if f]
    if not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "fields not specified")
    if len(ids) > MAX_RETRIEVE:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"cannot retrieve more than {MAX_RETRIEVE} records in one call"
        )
    out = []
    for rid in ids:
        rec = call.org.store.get(obj.name, str(rid))
        out.append(None if rec is None else _record(call.org, obj, rec, call.version, fields))
    return Reply(200, out)


def org_limits(call: Call) -> Reply:
    budget = call.org.budget
    return Reply(200, limits(budget.limit, budget.limit - budget.used(), len(call.org.jobs)))


def handlers() -> dict[str, Any]:
    """Endpoint name -> handler."""
    return {
        "versions": versions,
        "resources": resources,
        "query": query,
        "queryAll": query_all,
        "query.more": query_more,
        "sobjects": sobjects,
        "sobject.info": basic_info,
        "sobject.describe": describe,
        "sobject.create": create,
        "sobject.get": get,
        "sobject.update": update,
        "sobject.delete": delete,
        "sobject.by_external_id": by_external_id,
        "sobject.upsert": upsert,
        "sobject.updated": updated,
        "sobject.deleted": deleted,
        "collection.create": collection_create,
        "collection.update": collection_update,
        "collection.upsert": collection_upsert,
        "collection.delete": collection_delete,
        "collection.retrieve": collection_retrieve,
        "limits": org_limits,
    }
