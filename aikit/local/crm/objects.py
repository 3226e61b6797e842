"""Object endpoints of the demo CRM: list, get, create, update, archive, batch and search.

Each handler takes a :class:`Call` and returns ``(status, body)``; errors are raised as
:class:`~aikit.local.crm.wire.StoreError` and rendered by the app in HubSpot's error shape. Status
codes are the ones the official SDK keys its deserializer on: create 201, batch create 201, batch
read/update 200, partial failure 207, archive 204.
"""

from __future__ import annotations

import bisect
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from aikit.local.crm.schema import (
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    association_type,
    modified_property,
    resolve_object_type,
    type_pair_for_id,
)
from aikit.local.crm.search import (
    SearchError,
    bounds,
    filter_names,
    matches,
    matches_query,
    parse_sorts,
    sort_key,
    validate_filter_groups,
)
from aikit.local.crm.store import Record, Store
from aikit.local.crm.wire import StoreError, iso_now

__all__ = ["MAX_BATCH", "MAX_SEARCH_RESULTS", "Call", "handlers"]

MAX_LIST_LIMIT, MAX_SEARCH_LIMIT, MAX_BATCH, MAX_SEARCH_RESULTS = 100, 200, 100, 10_000
MAX_HISTORY_LIMIT = 50


@dataclass
class Call:
    """One parsed API request."""

    store: Store
    path: dict[str, str]
    query: QueryParams
    body: bytes
    base_url: str
    #: How many search results are reachable (HubSpot: 10,000; configurable for tests).
    search_cap: int = MAX_SEARCH_RESULTS

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise StoreError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise StoreError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        return data

    def object_type(self, key: str = "type") -> str:
        raw = self.path[key]
        resolved = resolve_object_type(raw)
        if resolved is None:
            raise StoreError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
        return resolved

    def multi(self, name: str) -> list[str]:
        """A query array sent repeated (``a=1&a=2``, the SDK's form) or comma-separated."""
        return [p.strip() for raw in self.query.getlist(name) for p in raw.split(",") if p.strip()]

    def flag(self, name: str) -> bool:
        raw = self.query.get(name, "false").strip().lower()
        if raw not in ("true", "false", "1", "0"):
            raise StoreError(400, "VALIDATION_ERROR", f"{name} must be true or false, got {raw!r}")
        return raw in ("true", "1")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        return _bounded(name, raw, low, high)


def _bounded(name: str, raw: Any, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise StoreError(400, "VALIDATION_ERROR", f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise StoreError(400, "VALIDATION_ERROR", f"{name} must be between {low} and {high}, got {value}")
    return value


def serialize(
    rec: Record,
    wanted: list[str] | None,
    known: set[str],
    associations: dict[str, list[tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """The SimplePublicObject shape: every property value a string (or null), ISO dates."""
    names = wanted if wanted else list(OBJECT_TYPES[rec.type].defaults)
    props: dict[str, str | None] = {n: rec.props.get(n) for n in names if n in known or n in rec.props}
    for sys_name in ("hs_object_id", "createdate", modified_property(rec.type)):
        props[sys_name] = rec.props.get(sys_name)
    out: dict[str, Any] = {
        "id": str(rec.id),
        "properties": props,
        "createdAt": rec.created_at,
        "updatedAt": rec.updated_at,
        "archived": rec.archived,
    }
    if rec.archived and rec.archived_at:
        out["archivedAt"] = rec.archived_at
    if associations:
        out["associations"] = {
            to_type: {"results": [{"id": str(i), "type": _type_name(t)} for i, t in links]}
            for to_type, links in associations.items()
            if links
        }
    return out


def _type_name(type_id: int) -> str:
    pair = type_pair_for_id(type_id)
    return association_type(*pair)[1] if pair else str(type_id)


def _assoc_types(call: Call) -> list[str]:
    out = []
    for raw in call.multi("associations"):
        t = resolve_object_type(raw)
        if t is None:
            raise StoreError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
        out.append(t)
    return out


def with_history(store: Store, results: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Add ``propertiesWithHistory`` (newest first) for ``names`` to serialized objects."""
    if names:
        history = store.history.of([int(r["id"]) for r in results], names)
        for r in results:
            r["propertiesWithHistory"] = history[int(r["id"])]
    return results


def list_objects(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    limit = call.integer("limit", 10, 1, MAX_LIST_LIMIT)
    history = call.multi("propertiesWithHistory")
    if history:
        limit = min(limit, MAX_HISTORY_LIMIT)  # property history lowers the page size, as HubSpot does
    after_raw = call.query.get("after")
    after = _bounded("after", after_raw, 0, 2**62) if after_raw else 0
    wanted, to_types = call.multi("properties"), _assoc_types(call)
    recs, more = call.store.page(t, limit=limit, after=after - 1, archived=call.flag("archived"))
    known = call.store.properties.names(t)
    links = {to: call.store.associations_of(t, [r.id for r in recs], to) for to in to_types}
    results = [serialize(r, wanted, known, {to: links[to][r.id] for to in to_types}) for r in recs]
    body: dict[str, Any] = {"results": with_history(call.store, results, history)}
    if more and recs:
        nxt = str(recs[-1].id + 1)
        query = [(k, v) for k, v in call.query.multi_items() if k != "after"] + [("after", nxt)]
        link = f"{call.base_url}/crm/v3/objects/{t}?{urlencode(query)}"
        body["paging"] = {"next": {"after": nxt, "link": link}}
    return 200, body


def _find(call: Call, t: str) -> Record:
    archived, id_property = call.flag("archived"), call.query.get("idProperty")
    rec = call.store.get(t, call.path["id"], id_property=id_property, archived=archived)
    if rec is None and not archived and not id_property:
        rec = call.store.merged_into(t, call.path["id"])  # a merged-away id reads as the record it joined
    if rec is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"resource not found: {t} {call.path['id']}")
    return rec


def get_object(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    rec = _find(call, t)
    to_types = _assoc_types(call)
    links = {to: call.store.associations_of(t, [rec.id], to)[rec.id] for to in to_types}
    out = serialize(rec, call.multi("properties"), call.store.properties.names(t), links)
    return 200, with_history(call.store, [out], call.multi("propertiesWithHistory"))[0]


def merge_objects(call: Call) -> tuple[int, Any]:
    """``POST {t}/merge {primaryObjectId, objectIdToMerge}``: 200 with the surviving object."""
    t = call.object_type()
    data = call.json_object()
    primary, other = data.get("primaryObjectId"), data.get("objectIdToMerge")
    if not isinstance(primary, str | int) or not isinstance(other, str | int):
        raise StoreError(400, "VALIDATION_ERROR", "merge needs primaryObjectId and objectIdToMerge")
    rec = call.store.merge(t, str(primary), str(other))
    return 200, serialize(rec, [], call.store.properties.names(t))


def _parse_associations(t: str, raw: Any) -> list[tuple[str, int, int]]:
    out = []
    for item in raw or []:
        try:
            to_id = int(item["to"]["id"])
            types = item["types"]
        except (KeyError, TypeError, ValueError):
            raise StoreError(400, "VALIDATION_ERROR", "each association needs to.id and types") from None
        for spec in types:
            type_id = int(spec.get("associationTypeId", 0))
            pair = type_pair_for_id(type_id)
            if pair is None or pair[0] != t:
                raise StoreError(
                    400, "VALIDATION_ERROR", f"associationTypeId {type_id} is not valid from {t}"
                )
            out.append((pair[1], to_id, type_id))
    return out


def _props(data: dict[str, Any]) -> dict[str, Any]:
    props = data.get("properties", {})
    if not isinstance(props, dict):
        raise StoreError(400, "VALIDATION_ERROR", "properties must be an object of name -> value")
    return props


def create_object(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    rec = call.store.create(t, _props(data), associations=_parse_associations(t, data.get("associations")))
    return 201, serialize(rec, list(_props(data)), call.store.properties.names(t))


def update_object(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    rec = call.store.update(t, call.path["id"], _props(data), id_property=call.query.get("idProperty"))
    if rec is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"resource not found: {t} {call.path['id']}")
    return 200, serialize(rec, list(_props(data)), call.store.properties.names(t))


def archive_object(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    call.store.archive(t, call.path["id"])  # HubSpot answers 204 for unknown ids too
    return 204, None


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


def _batch_body(results: list[dict[str, Any]], missing: list[str], t: str, started: str) -> tuple[int, Any]:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso_now(),
    }
    if not missing:
        return 200, body
    body["numErrors"] = 1
    body["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": f"Could not get some {t} objects, they may be deleted or not exist. "
            "Check that ids are valid.",
            "context": {"ids": missing},
            "errors": [],
            "links": {},
        }
    ]
    return 207, body


def _ids(inputs: Iterable[dict[str, Any]]) -> list[str]:
    ids = []
    for item in inputs:
        if "id" not in item:
            raise StoreError(400, "VALIDATION_ERROR", "each input needs an id")
        ids.append(str(item["id"]))
    if len(set(ids)) != len(ids):
        raise StoreError(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
    return ids


def batch(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    op = call.path["op"]
    data = call.json_object()
    inputs = _inputs(data)
    started = iso_now()
    store, known = call.store, call.store.properties.names(t)
    id_prop = data.get("idProperty")
    if op == "read":
        wanted = data.get("properties") or []
        found, missing = [], []
        for i in _ids(inputs):
            rec = store.get(t, i, id_property=id_prop, archived=bool(data.get("archived", False)))
            (found.append(serialize(rec, wanted, known)) if rec else missing.append(i))
        with_history(store, found, [str(n) for n in data.get("propertiesWithHistory") or []])
        return _batch_body(found, missing, t, started)
    if op == "update":
        ids = _ids(inputs)
        for item in inputs:  # validate the whole batch before writing any of it
            store.properties.check(t, _props(item))
        results, missing = [], []
        with store.transaction():  # all-or-nothing: a failure half-way leaves nothing written
            for i, item in zip(ids, inputs, strict=True):
                rec = store.update(t, i, _props(item), id_property=id_prop)
                (results.append(serialize(rec, list(_props(item)), known)) if rec else missing.append(i))
        return _batch_body(results, missing, t, started)
    if op == "create":
        parsed = [(_props(item), _parse_associations(t, item.get("associations"))) for item in inputs]
        for props, _ in parsed:
            store.properties.check(t, props)
        with store.transaction():
            created = [serialize(store.create(t, p, associations=a), list(p), known) for p, a in parsed]
        _status, body = _batch_body(created, [], t, started)
        return 201, body
    if op == "archive":
        with store.transaction():
            for i in _ids(inputs):
                store.archive(t, i)
        return 204, None
    raise StoreError(404, "OBJECT_NOT_FOUND", f"Unknown batch operation: {op}")


def _prop_key(name: str, rec: Record) -> tuple[int, float, str]:
    return sort_key(rec.props.get(name))


def _unknown_property(name: str) -> StoreError:
    return StoreError(
        400,
        "VALIDATION_ERROR",
        f"Invalid property name: {name}",
        [
            {
                "message": f"Invalid property name: {name}",
                "code": "INVALID_PROPERTY",
                "context": {"propertyName": [name]},
            }
        ],
    )


def _pseudo_properties(t: str, names: Iterable[str], known: set[str]) -> dict[str, str]:
    """``{"associations.contact": "contacts"}`` for association filters; 400 for unknown names."""
    out = {}
    for name in names:
        if name.startswith("associations."):
            to_type = resolve_object_type(name.split(".", 1)[1])
            if to_type is None or (t, to_type) not in ASSOCIATION_TYPES:
                raise _unknown_property(name)
            out[name] = to_type
        elif name not in known:
            raise _unknown_property(name)
    return out


def _candidates(store: Store, t: str, groups: list[dict[str, Any]], known: set[str]) -> list[Record]:
    """The records inside the narrowest range filter of the search (all of them when there is none)."""
    records = store.scan(t)
    best: set[int] | None = None
    for bound in bounds(groups):
        if bound.name not in known:
            continue
        keys, positions, loose = store.index(t, bound.name)
        lo = 0 if bound.low is None else bisect.bisect_left(keys, bound.low)
        hi = len(keys) if bound.high is None else bisect.bisect_right(keys, bound.high)
        if best is None or hi - lo + len(loose) < len(best):
            best = set(positions[lo:hi]) | set(loose)
    return records if best is None else [records[i] for i in sorted(best)]


def search(call: Call) -> tuple[int, Any]:
    t = call.object_type()
    data = call.json_object()
    try:
        groups = validate_filter_groups(data.get("filterGroups"))
        sorts = parse_sorts(data.get("sorts"))
    except SearchError as exc:
        raise StoreError(400, "VALIDATION_ERROR", str(exc)) from None
    limit = (
        _bounded("limit", data.get("limit", 10), 1, MAX_SEARCH_LIMIT) if data.get("limit") is not None else 10
    )
    offset = _bounded("after", data.get("after") or 0, 0, 2**62)
    cap = call.search_cap
    if offset >= cap:
        raise StoreError(
            400,
            "VALIDATION_ERROR",
            f"Search results are capped at {cap:,}; narrow the filters instead of paging past it",
        )
    store = call.store
    known = store.properties.names(t)
    pseudo = _pseudo_properties(t, filter_names(groups), known)
    sort_pseudo = [n for n, _ in sorts if n.startswith("associations.")]
    if sort_pseudo:
        raise _unknown_property(sort_pseudo[0])
    _pseudo_properties(t, [n for n, _ in sorts], known)
    query = data.get("query")
    candidates = _candidates(store, t, groups, known)
    links = {name: store.associations_of(t, [r.id for r in candidates], to) for name, to in pseudo.items()}
    hits = []
    for rec in candidates:
        multi = {name: [str(i) for i, _ in links[name][rec.id]] for name in links} if links else None
        if matches(rec.props, groups, multi) and matches_query(rec.props, query):
            hits.append(rec)
    for name, desc in reversed(sorts):
        present = [r for r in hits if r.props.get(name) not in (None, "")]
        empty = [r for r in hits if r.props.get(name) in (None, "")]
        present.sort(key=functools.partial(_prop_key, name), reverse=desc)
        hits = present + empty
    end = min(offset + limit, cap)
    wanted = data.get("properties") or []
    body: dict[str, Any] = {
        "total": len(hits),
        "results": [serialize(r, wanted, known) for r in hits[offset:end]],
    }
    if end < min(len(hits), cap):
        body["paging"] = {"next": {"after": str(end)}}
    return 200, body


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {
        "list": list_objects,
        "get": get_object,
        "create": create_object,
        "update": update_object,
        "archive": archive_object,
        "batch": batch,
        "search": search,
        "merge": merge_objects,
    }
