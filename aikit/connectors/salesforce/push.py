"""The push half of :class:`aikit.Salesforce`: check cells against ``describe``, diff, write collections.

Pure helpers decide a cell's JSON value from its field's describe (type, length, picklist values,
nillable) or why it cannot be written, and whether it already matches the stored value. The async
steps read the current values (sObject Collections retrieve, 2,000 ids a call; a SOQL ``IN`` on the
external id for upserts), write only what differs through ``/composite/sobjects`` (200 records a call,
``allOrNone=false``: each record succeeds or fails on its own) and report every failed cell in the
same :class:`~aikit.connectors.report.PushReport` the HubSpot push returns.

>>> wire_cell({"type": "picklist", "name": "AI_Sentiment__c", "label": "AI Sentiment", "nillable": True,
...            "restrictedPicklist": True, "length": 255,
...            "picklistValues": [{"value": "Positive", "active": True}]}, "Furious", False)
(False, None, "'Furious' is not a picklist value of AI_Sentiment__c: ['Positive']")
>>> same({"type": "double"}, 3, 3.0), same({"type": "string"}, "a", "b")
(True, False)
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from aikit.connectors.report import DIFF_COLUMNS, FAILED_COLUMNS, PushReport
from aikit.connectors.salesforce.soql import literal
from aikit.connectors.session import ApiSession
from aikit.exceptions import ConfigError, CRMError, PushError

__all__ = ["COLLECTION_LIMIT", "run_push", "same", "wire_cell"]

COLLECTION_LIMIT = 200
RETRIEVE_LIMIT = 2000
_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBERS = frozenset({"double", "currency", "percent", "int"})
CLEAR = object()


class Salesforce(Protocol):
    """What a push needs from the client (:class:`aikit.Salesforce` is one)."""

    @property
    def session(self) -> ApiSession: ...

    def path(self, resource: str) -> str: ...

    async def adescribe(self, object_name: str, refresh: bool = False) -> dict[str, Any]: ...

    async def aquery(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]: ...


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def wire_cell(f: Mapping[str, Any], value: Any, allow_new_values: bool) -> tuple[bool, Any, str | None]:
    """``(ok, json_value, error)`` for one cell; ``json_value`` None with ok means "skip this cell"."""
    name, ftype = f["name"], f.get("type")
    if _missing(value):
        return True, None, None
    if hasattr(value, "item") and not isinstance(value, str | pd.Timestamp):
        value = value.item()  # numpy scalars
    if isinstance(value, str) and value == "":
        if not f.get("nillable", True):
            return False, None, f"{name} is required: it cannot be cleared"
        return True, CLEAR, None
    if ftype in _NUMBERS:
        number: Any = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                return False, None, f"{value!r} is not a number ({name} is {ftype})"
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            return False, None, f"{value!r} is not a finite number ({name} is {ftype})"
        if ftype == "int":
            if float(number) != int(number):
                return False, None, f"{value!r} is not a whole number ({name} is int)"
            return True, int(number), None
        return True, float(number), None
    if ftype == "boolean":
        if isinstance(value, bool):
            return True, value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return True, value.lower() == "true", None
        return False, None, f"{value!r} is not true or false ({name} is a checkbox)"
    if ftype in ("date", "datetime"):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            return False, None, f"{value!r} is not a {ftype} ({name})"
        if ftype == "date":
            return True, ts.date().isoformat(), None
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return True, ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z", None
    if ftype == "multipicklist" and isinstance(value, list | tuple | set):
        value = ";".join(str(v) for v in value)
    if isinstance(value, list | tuple | set | dict):
        return False, None, f"a {type(value).__name__} is not a value for {name} ({ftype})"
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return (
            False,
            None,
            f"the text for {name} holds characters that are not valid Unicode (a lone surrogate)",
        )
    if ftype in ("picklist", "multipicklist"):
        allowed = [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)]
        chosen = text.split(";") if ftype == "multipicklist" else [text]
        strict = f.get("restrictedPicklist") or not allow_new_values
        if strict and allowed and any(v not in allowed for v in chosen):
            return False, None, f"{text!r} is not a picklist value of {name}: {allowed}"
    if ftype in ("reference", "id") and not _ID.match(text):
        return False, None, f"{text!r} is not a Salesforce id ({name} is a lookup)"
    if ftype == "email" and not _EMAIL.match(text):
        return False, None, f"{text!r} is not an email address ({name})"
    length = int(f.get("length") or 0)
    if length and len(text) > length:
        return False, None, f"{len(text)} characters do not fit {name} (max length={length})"
    return True, text, None


def same(f: Mapping[str, Any], current: Any, new: Any) -> bool:
    """True when writing ``new`` would not change ``current``."""
    if new is CLEAR:
        return current is None or current == ""
    if current is None:
        return False
    ftype = f.get("type")
    if ftype in _NUMBERS:
        try:
            return math.isclose(float(current), float(new), rel_tol=1e-12, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    if ftype == "datetime":
        try:
            return bool(pd.Timestamp(current) == pd.Timestamp(new))
        except (ValueError, TypeError):
            return False
    if ftype == "boolean":
        return str(current).lower() == str(new).lower()
    return str(current) == str(new)


def _fail(oid: str, prop: str, error: str, status: int | None, category: str | None) -> dict[str, Any]:
    return {"id": oid, "property": prop, "error": error, "status": status, "category": category}


def _key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def run_push(
    sf: Salesforce,
    object_name: str,
    frame: pd.DataFrame,
    id_column: str,
    dry_run: bool,
    batch_size: int,
    all_or_none: bool,
    allow_new_values: bool,
) -> PushReport:
    """The body of :meth:`aikit.Salesforce.apush` (documented there)."""
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError("push expects a pandas DataFrame with an id column and field columns")
    if id_column not in frame.columns:
        raise ConfigError(f"the DataFrame has no {id_column!r} column (pass id_column=...)")
    if not 1 <= batch_size <= COLLECTION_LIMIT:
        raise ConfigError(
            f"batch_size must be between 1 and {COLLECTION_LIMIT} (an sObject Collections call)"
        )
    columns = [c for c in frame.columns if c != id_column]
    if not columns:
        raise ConfigError("nothing to push: the DataFrame has only the id column")
    if frame[id_column].isna().any():
        raise ConfigError(f"{int(frame[id_column].isna().sum())} rows have no {id_column}")
    keys = [_key(v) for v in frame[id_column]]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ConfigError(f"duplicate {id_column} values in the DataFrame: {dupes[:10]}; one row per record")

    describe = await sf.adescribe(object_name, refresh=True)
    by_name = {f["name"].lower(): f for f in describe["fields"]}
    key_field = by_name.get(str(id_column).lower())
    upsert = str(id_column).lower() != "id"
    if key_field is None or (upsert and not (key_field.get("externalId") or key_field.get("idLookup"))):
        raise PushError(
            f"{object_name}.{id_column} is not an external id field, so rows cannot be matched by it; use "
            "id_column='Id' or an external id field "
            f"({[f['name'] for f in describe['fields'] if f.get('externalId')]})",
            category="INVALID_FIELD",
        )
    unknown = [c for c in columns if not isinstance(c, str) or c.lower() not in by_name]
    if unknown:
        hints = {
            c: difflib.get_close_matches(str(c), [f["name"] for f in describe["fields"]], 1) for c in unknown
        }
        raise PushError(
            f"{object_name} has no fields {unknown} (closest: {hints}); custom fields end in __c and are "
            "created in Salesforce Setup",
            category="INVALID_FIELD",
        )
    fields = {c: by_name[c.lower()] for c in columns}
    readonly = [
        c for c, f in fields.items() if not f.get("updateable") or (upsert and not f.get("createable"))
    ]
    if readonly:
        raise PushError(f"{object_name} fields {readonly} are read-only; drop them from the DataFrame")

    failed: list[dict[str, Any]] = []
    wanted: dict[str, dict[str, Any]] = {}
    for key, row in zip(keys, frame[columns].to_dict("records"), strict=True):
        cells: dict[str, Any] = {}
        for col in columns:
            ok, value, error = wire_cell(fields[col], row[col], allow_new_values)
            if not ok:
                failed.append(_fail(key, col, str(error), None, "INVALID_VALUE"))
            elif value is not None:
                cells[col] = value
        wanted[key] = cells

    current, missing = await _read_current(sf, object_name, keys, key_field["name"], list(fields), upsert)
    for key in missing:
        failed += [_fail(key, c, f"{object_name} {key} was not found", 404, "NOT_FOUND") for c in columns]
    changes: dict[str, dict[str, Any]] = {}
    diff: list[dict[str, Any]] = []
    unchanged = 0
    bad = {r["id"] for r in failed}
    for key in keys:
        if key in missing:
            continue
        record = current.get(key)
        delta = {}
        for col, value in wanted[key].items():
            old = record.get(fields[col]["name"]) if record else None
            if record is not None and same(fields[col], old, value):
                continue
            delta[col] = value
            diff.append({"id": key, "property": col, "old": old, "new": None if value is CLEAR else value})
        if delta:
            changes[key] = delta
        elif key not in bad:
            unchanged += 1
    report = PushReport(
        object_name,
        dry_run=dry_run,
        rows=len(keys),
        unchanged=unchanged,
        sent=0,
        updated=0,
        diff=pd.DataFrame(diff, columns=DIFF_COLUMNS),
        failed=pd.DataFrame(failed, columns=FAILED_COLUMNS),
    )
    if dry_run or not changes:
        return report
    items = list(changes.items())
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        stop = await _send(
            sf, object_name, key_field["name"], upsert, current, fields, chunk, all_or_none, report, failed
        )
        if stop is not None:
            for key, delta in items[start + batch_size :]:
                note = f"not sent: an earlier call failed ({stop.category or stop.status or 'connection'})"
                failed += [_fail(key, c, note, None, "NOT_SENT") for c in delta]
            break
    report.failed = pd.DataFrame(failed, columns=FAILED_COLUMNS)
    return report


async def _read_current(
    sf: Salesforce, t: str, keys: list[str], key_name: str, names: list[str], upsert: bool
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Current values by key; keys that are not there (update mode only: upserts create them)."""
    wanted = list(dict.fromkeys(["Id", key_name, *names]))
    current: dict[str, dict[str, Any]] = {}
    missing: set[str] = set()
    if not upsert:
        for i in range(0, len(keys), RETRIEVE_LIMIT):
            chunk = keys[i : i + RETRIEVE_LIMIT]
            resp = await sf.session.request(
                "POST",
                sf.path(f"composite/sobjects/{t}"),
                what=f"read current {t} values",
                json_body={"ids": chunk, "fields": wanted},
            )
            for key, record in zip(chunk, resp.json(), strict=False):
                if record is None:
                    missing.add(key)
                else:
                    current[key] = record
        missing |= {k for k in keys if k not in current}
        return current, missing
    for i in range(0, len(keys), COLLECTION_LIMIT):
        chunk = keys[i : i + COLLECTION_LIMIT]
        values = ", ".join(literal(k) for k in chunk)
        soql = f"SELECT {', '.join(wanted)} FROM {t} WHERE {key_name} IN ({values})"
        for record in await sf.aquery(soql):
            current[_key(record.get(key_name))] = record
    return current, missing


async def _send(
    sf: Salesforce,
    t: str,
    key_name: str,
    upsert: bool,
    current: dict[str, dict[str, Any]],
    fields: dict[str, Mapping[str, Any]],
    chunk: list[tuple[str, dict[str, Any]]],
    all_or_none: bool,
    report: PushReport,
    failed: list[dict[str, Any]],
) -> CRMError | None:
    records = []
    for key, delta in chunk:
        body = {fields[c]["name"]: (None if v is CLEAR else v) for c, v in delta.items()}
        if upsert:
            body[key_name] = key
        else:
            body["id"] = current[key]["Id"] if key in current else key
        records.append({"attributes": {"type": t}, **body})
    path = f"composite/sobjects/{t}/{key_name}" if upsert else "composite/sobjects"
    report.batches += 1
    report.sent += len(chunk)
    try:
        resp = await sf.session.request(
            "PATCH",
            sf.path(path),
            what=f"{'upsert' if upsert else 'update'} {t}",
            json_body={"allOrNone": all_or_none, "records": records},
        )
    except CRMError as exc:
        if exc.status in (401, 403) and exc.category != "REQUEST_LIMIT_EXCEEDED":
            raise
        for key, delta in chunk:
            failed += [_fail(key, c, str(exc), exc.status, exc.category) for c in delta]
        return exc
    results = resp.json()
    for (key, delta), result in zip(chunk, results, strict=False):
        if result.get("success"):
            report.updated += 1
            continue
        for err in result.get("errors") or [{}]:
            cells = [c for c in delta if fields[c]["name"] in (err.get("fields") or [])] or list(delta)
            message = str(err.get("message") or "not saved")
            failed += [_fail(key, c, message, 200, err.get("statusCode")) for c in cells]
    for key, delta in chunk[len(results) :]:
        failed += [
            _fail(key, c, "not confirmed by the collection call", resp.status_code, None) for c in delta
        ]
    return None
