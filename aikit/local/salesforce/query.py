"""Run a parsed SOQL query against the demo org's store: resolve names, filter, sort, shape the records.

Names resolve case-insensitively and come back spelled as the describe spells them; a field that does
not exist is Salesforce's ``INVALID_FIELD`` (with the caret block and the ``__c`` hint), an object that
does not exist ``INVALID_TYPE``. Records come back as the REST API sends them: ``attributes`` first, a
lookup as a nested record (``"Account": {"attributes": ..., "Name": ...}`` or ``null``), a subquery as
``{"totalSize", "done", "records"}`` (or ``null``), aggregates as ``AggregateResult`` rows.

>>> from aikit.local.salesforce.store import Store
>>> store = Store(":memory:")
>>> _ = store.insert("Account", {"Name": "Bluefin Labs"})
>>> total, rows = run(store, "select name from account", version="60.0")
>>> total, rows[0]["Name"], rows[0]["attributes"]["type"]
(1, 'Bluefin Labs', 'Account')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aikit.local.salesforce.schema import SObject, object_named
from aikit.local.salesforce.soql import (
    Aggregate,
    Cmp,
    DateLiteral,
    Field,
    Logic,
    Query,
    Subquery,
    Token,
    caret,
    parse,
)
from aikit.local.salesforce.store import Store
from aikit.local.salesforce.wire import ApiError, parse_datetime

__all__ = ["Resolved", "compile_query", "run"]

_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NUMBERS = frozenset({"double", "currency", "percent", "int"})


class Resolved:
    """A field path resolved through lookups: the objects walked, the relationship names, the field."""

    def __init__(
        self, objects: list[SObject], hops: list[str], fields: list[str], final: dict[str, Any]
    ) -> None:
        self.objects, self.hops, self.fields, self.final = objects, hops, fields, final

    @property
    def names(self) -> list[str]:
        """The canonical path, e.g. ``['Account', 'Name']``."""
        return [*self.hops, self.final["name"]]

    def value(self, store: Store, record: dict[str, Any]) -> Any:
        current: dict[str, Any] | None = record
        for obj, key in zip(self.objects[1:], self.fields, strict=True):
            target = current.get(key) if current else None
            current = store.get(obj.name, target) if target else None
        return current.get(self.final["name"]) if current else None


def _resolve(store: Store, obj: SObject, path: list[str], text: str, pos: int) -> Resolved:
    objects, hops, keys = [obj], [], []
    current = obj
    for part in path[:-1]:
        rel = current.relationship(part)
        if rel is None:
            raise caret(
                text,
                pos,
                f"Didn't understand relationship '{part}' in field path. "
                + _FIELD_HINT.replace("field", "relationship", 1),
                "INVALID_FIELD",
            )
        target = store.objects[rel.target]
        hops.append(rel.name)
        keys.append(rel.field)
        objects.append(target)
        current = target
    final = current.field(path[-1])
    if final is None:
        raise caret(
            text,
            pos,
            f"No such column '{path[-1]}' on entity '{current.name}'. {_FIELD_HINT}",
            "INVALID_FIELD",
        )
    return Resolved(objects, hops, keys, final)


def _date_range(lit: DateLiteral, today: date) -> tuple[date, date]:
    """``[start, end)`` of a date keyword."""
    n = lit.n or 0
    name = lit.name
    if name == "TODAY":
        return today, today + timedelta(days=1)
    if name == "YESTERDAY":
        return today - timedelta(days=1), today
    if name == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if name == "LAST_N_DAYS":
        return today - timedelta(days=n), today + timedelta(days=1)
    if name == "NEXT_N_DAYS":
        return today + timedelta(days=1), today + timedelta(days=n + 1)
    if name == "N_DAYS_AGO":
        return today - timedelta(days=n), today - timedelta(days=n - 1)
    if name in ("LAST_90_DAYS", "NEXT_90_DAYS"):
        return _date_range(DateLiteral(name.replace("90", "N"), 90), today)
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    if name in ("THIS_WEEK", "LAST_WEEK", "NEXT_WEEK"):
        start = week + timedelta(days={"THIS_WEEK": 0, "LAST_WEEK": -7, "NEXT_WEEK": 7}[name])
        return start, start + timedelta(days=7)
    month = today.replace(day=1)

    def add_months(d: date, k: int) -> date:
        y, m = divmod(d.month - 1 + k, 12)
        return date(d.year + y, m + 1, 1)

    if name in ("THIS_MONTH", "LAST_MONTH", "NEXT_MONTH"):
        start = add_months(month, {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}[name])
        return start, add_months(start, 1)
    if name == "LAST_N_MONTHS":
        return add_months(month, -n), month
    if name == "NEXT_N_MONTHS":
        return add_months(month, 1), add_months(month, n + 1)
    year = {"THIS_YEAR": 0, "LAST_YEAR": -1, "NEXT_YEAR": 1}[name]
    return date(today.year + year, 1, 1), date(today.year + year + 1, 1, 1)


def _key(ftype: str, value: Any) -> Any:
    """A comparable form of a stored value (text case-insensitive, datetimes as instants)."""
    if value is None:
        return None
    if ftype == "datetime":
        parsed = parse_datetime(str(value))
        return parsed.timestamp() if parsed else None
    if ftype in _NUMBERS:
        return float(value)
    if isinstance(value, str):
        return value.casefold()
    return value


def _literal(cmp: Cmp, f: dict[str, Any], value: Any, text: str) -> Any:
    ftype = f["type"]
    if value is None or isinstance(value, DateLiteral):
        return value
    if ftype in ("date", "datetime"):
        if cmp.quoted or not isinstance(value, Token):
            kind = "date" if ftype == "date" else "dateTime"
            raise caret(
                text,
                cmp.pos,
                f"value of filter criterion for field '{f['name']}' must be of type {kind} and should not be "
                "enclosed in quotes",
                "INVALID_FIELD",
            )
        if ftype == "date":
            return value.text[:10]
        if value.kind == "date":
            raise caret(
                text, cmp.pos, f"value of filter criterion for field '{f['name']}' must be of type dateTime"
            )
        return _key("datetime", value.text)
    if ftype in _NUMBERS:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise caret(
                text, cmp.pos, f"value of filter criterion for field '{f['name']}' must be of type double"
            )
        return float(value)
    if ftype == "boolean":
        if not isinstance(value, bool):
            raise caret(
                text, cmp.pos, f"value of filter criterion for field '{f['name']}' must be of type boolean"
            )
        return value
    if isinstance(value, Token):
        return value.text.casefold()
    return str(value).casefold() if not isinstance(value, bool) else str(value).lower()


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


Predicate = Callable[[dict[str, Any]], bool]


def _predicate(store: Store, obj: SObject, cond: Cmp | Logic, text: str, today: date) -> Predicate:
    if isinstance(cond, Logic):
        parts = [_predicate(store, obj, p, text, today) for p in cond.parts]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in parts)
        if cond.op == "OR":
            return lambda r: any(p(r) for p in parts)
        return lambda r: not parts[0](r)
    res = _resolve(store, obj, cond.path, text, cond.pos)
    f = res.final
    ftype = f["type"]
    if not f.get("filterable", True):
        raise caret(
            text, cond.pos, f"field '{f['name']}' can not be filtered in a query call", "INVALID_FIELD"
        )

    def get(r: dict[str, Any]) -> Any:
        return _key(ftype, res.value(store, r))

    op = cond.op
    if op in ("IN", "NOT IN"):
        wanted = {_literal(cond, f, v, text) for v in cond.value}
        if op == "IN":
            return lambda r: get(r) in wanted
        return lambda r: get(r) not in wanted
    if op == "LIKE":
        rx = _like(str(cond.value))
        return lambda r: (
            isinstance(res.value(store, r), str) and rx.fullmatch(res.value(store, r)) is not None
        )
    lit = _literal(cond, f, cond.value, text)
    if isinstance(lit, DateLiteral):
        start, end = _date_range(lit, today)
        if ftype == "datetime":
            lo = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
            hi = datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()
        else:
            lo, hi = start.isoformat(), end.isoformat()  # type: ignore[assignment]
        tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: lo <= v < hi,
            "!=": lambda v: not lo <= v < hi,
            "<": lambda v: v < lo,
            "<=": lambda v: v < hi,
            ">": lambda v: v >= hi,
            ">=": lambda v: v >= lo,
        }
        test = tests[op]
        return lambda r: (v := get(r)) is not None and test(v)
    if lit is None:
        if op not in ("=", "!="):
            raise caret(text, cond.pos, "invalid operator for a null value")
        return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)
    compare: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == lit,
        "!=": lambda v: v != lit,
        "<": lambda v: v < lit,
        "<=": lambda v: v <= lit,
        ">": lambda v: v > lit,
        ">=": lambda v: v >= lit,
    }
    check = compare[op]
    if op == "!=":
        return lambda r: check(get(r))
    return lambda r: (v := get(r)) is not None and check(v)


def _url(version: str, object_name: str, rid: str) -> str:
    return f"/services/data/v{version}/sobjects/{object_name}/{rid}"


class _Shaper:
    """Turns stored records into REST-shaped ones for the selected fields (lookups nested)."""

    def __init__(self, store: Store, obj: SObject, q: Query, version: str, include_deleted: bool) -> None:
        self.store, self.obj, self.version = store, obj, version
        self.items: list[tuple[str, Any]] = []
        for item in q.select:
            if isinstance(item, Subquery):
                self.items.append(("sub", self._subquery(item, q.text, include_deleted)))
            elif isinstance(item, Field):
                self.items.append(("field", _resolve(store, obj, item.path, q.text, item.pos)))
        if q.fields_function:
            custom = {"ALL": None, "CUSTOM": True, "STANDARD": False}[q.fields_function]
            chosen = [f for f in obj.fields if custom is None or f["custom"] == custom]
            self.items += [("field", _resolve(store, obj, [f["name"]], q.text, q.object_pos)) for f in chosen]

    def _subquery(self, item: Subquery, text: str, include_deleted: bool) -> Any:
        rel = self.obj.child(item.query.object)
        if rel is None:
            raise caret(
                text,
                item.query.object_pos,
                f"Didn't understand relationship '{item.query.object}' in FROM part of query call. "
                + _TYPE_HINT,
                "INVALID_TYPE",
            )
        child = self.store.objects[rel.child]
        plan = compile_query(self.store, item.query, child, self.version, include_deleted)
        return rel, plan

    def shape(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": self.obj.name, "url": _url(self.version, self.obj.name, record["Id"])}
        }
        for kind, spec in self.items:
            if kind == "sub":
                rel, plan = spec
                children = plan.rows(lambda r, rel=rel: r.get(rel.field) == record["Id"])
                out[rel.name] = (
                    {"totalSize": len(children), "done": True, "records": children} if children else None
                )
                continue
            res: Resolved = spec
            if not res.hops:
                out[res.final["name"]] = record.get(res.final["name"])
                continue
            node: dict[str, Any] = out
            current: dict[str, Any] | None = record
            for obj, hop, key in zip(res.objects[1:], res.hops, res.fields, strict=True):
                target = current.get(key) if current is not None else None
                current = self.store.get(obj.name, target) if target else None
                if hop in node and node[hop] is None:
                    break
                if current is None:
                    node[hop] = None
                    break
                node = node.setdefault(
                    hop,
                    {"attributes": {"type": obj.name, "url": _url(self.version, obj.name, current["Id"])}},
                )
            else:
                node[res.final["name"]] = current.get(res.final["name"]) if current is not None else None
        return out


class _Plan:
    """A compiled query: filter, order, limit and shape, ready to run (also per parent, for subqueries)."""

    def __init__(self, store: Store, q: Query, obj: SObject, version: str, include_deleted: bool) -> None:
        self.store, self.q, self.obj, self.include_deleted = store, q, obj, include_deleted
        today = datetime.now(UTC).date()
        self.where = _predicate(store, obj, q.where, q.text, today) if q.where is not None else None
        self.order = [(_resolve(store, obj, o.path, q.text, o.pos), o) for o in q.order_by]
        self.shaper = _Shaper(store, obj, q, version, include_deleted) if not q.is_aggregate else None
        self.group = [_resolve(store, obj, g.path, q.text, g.pos) for g in q.group_by]
        self.aggs = [
            (a, _resolve(store, obj, a.path, q.text, a.pos) if a.path else None)
            for a in q.select
            if isinstance(a, Aggregate)
        ]
        plain = [_resolve(store, obj, f.path, q.text, f.pos) for f in q.select if isinstance(f, Field)]
        if q.is_aggregate:
            grouped = {tuple(g.names) for g in self.group}
            for res, item in zip(plain, [f for f in q.select if isinstance(f, Field)], strict=True):
                if tuple(res.names) not in grouped:
                    raise caret(
                        q.text,
                        item.pos,
                        f"Field must be grouped or aggregated: {res.final['name']}",
                        "MALFORMED_QUERY",
                    )
        self.plain = plain
        if q.fields_function == "ALL" and (q.limit is None or q.limit > 200):
            raise caret(
                q.text, 7, "The SOQL FIELDS function must have a LIMIT of at most 200", "MALFORMED_QUERY"
            )
        if q.offset is not None and q.offset > 2000:
            raise ApiError(
                400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is 2000 ({q.offset})"
            )

    def matching(self, extra: Predicate | None = None) -> list[dict[str, Any]]:
        rows = self.store.scan(self.obj.name, include_deleted=self.include_deleted)
        if extra is not None:
            rows = [r for r in rows if extra(r)]
        if self.where is not None:
            rows = [r for r in rows if self.where(r)]
        for res, o in reversed(self.order):
            ftype = res.final["type"]
            keyed = [(_key(ftype, res.value(self.store, r)), r) for r in rows]
            present = sorted(
                (kr for kr in keyed if kr[0] is not None), key=lambda kr: kr[0], reverse=o.descending
            )
            missing = [kr for kr in keyed if kr[0] is None]
            rows = [r for _, r in (present + missing if o.nulls_last else missing + present)]
        start = self.q.offset or 0
        stop = None if self.q.limit is None else start + self.q.limit
        return rows[start:stop]

    def rows(self, extra: Predicate | None = None) -> list[dict[str, Any]]:
        assert self.shaper is not None
        return [self.shaper.shape(r) for r in self.matching(extra)]

    def aggregate(self) -> tuple[int, list[dict[str, Any]]]:
        rows = self.store.scan(self.obj.name, include_deleted=self.include_deleted)
        if self.where is not None:
            rows = [r for r in rows if self.where(r)]
        if not self.group and len(self.aggs) == 1 and self.aggs[0][0].path is None:
            return len(rows), []  # SELECT COUNT() FROM ...: the count is totalSize
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(tuple(g.value(self.store, r) for g in self.group), []).append(r)
        if not self.group:
            groups = {(): rows}
        out = []
        for key, members in groups.items():
            rec: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for g, value in zip(self.group, key, strict=True):
                rec[g.final["name"]] = value
            n = 0
            for agg, res in self.aggs:
                name = agg.alias or f"expr{n}"
                n += 0 if agg.alias else 1
                values = [res.value(self.store, m) for m in members] if res else [1] * len(members)
                present = [v for v in values if v is not None]
                if agg.func == "COUNT":
                    rec[name] = len(present)
                elif agg.func == "COUNT_DISTINCT":
                    rec[name] = len({str(v).lower() for v in present})
                elif not present:
                    rec[name] = None
                elif agg.func == "SUM":
                    rec[name] = sum(present)
                elif agg.func == "AVG":
                    rec[name] = sum(present) / len(present)
                else:
                    rec[name] = (min if agg.func == "MIN" else max)(present)
            out.append(rec)
        start = self.q.offset or 0
        stop = None if self.q.limit is None else start + self.q.limit
        return len(out[start:stop]), out[start:stop]


def compile_query(
    store: Store, q: Query, obj: SObject | None = None, version: str = "60.0", include_deleted: bool = False
) -> _Plan:
    """Resolve ``q`` against the store's objects (raising Salesforce's errors) into a runnable plan."""
    if obj is None:
        obj = object_named(store.objects.values(), q.object)
        if obj is None:
            raise caret(
                q.text,
                q.object_pos,
                f"sObject type '{q.object}' is not supported. {_TYPE_HINT}",
                "INVALID_TYPE",
            )
    return _Plan(store, q, obj, version, include_deleted)


def run(
    store: Store, soql: str, *, version: str = "60.0", include_deleted: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """``(totalSize, records)`` of ``soql`` (records shaped as the REST API returns them)."""
    plan = compile_query(store, parse(soql), None, version, include_deleted)
    with store.lock:
        if plan.q.is_aggregate:
            return plan.aggregate()
        rows = plan.rows()
    return len(rows), rows
