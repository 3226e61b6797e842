"""The push half of :class:`aikit.HubSpot`: check, read current values, diff, write changed cells in batches.

Pure helpers decide the wire value of a cell (:func:`aikit.connectors.values.cell_value` checks it
against the property's type first: a cell HubSpot would refuse fails on its own, with its reason, and
is never sent), whether it already matches, and which property type a new column gets; the async
steps read the current values (``batch/read``), write only what differs (``batch/update``, at most 100
objects per call, paced by the client's window), report a 207 row by row, and split a batch the CRM
rejects as a whole (400) in halves until only the offending rows fail. A batch that was sent but got
no answer (the connection broke, the CRM went away) may or may not have been applied: its rows are
reported as *unknown*, not failed, and pushing the same frame again resolves them (it writes only
what still differs).

>>> spec_for_column("ai_sentiment", pd.Series(pd.Categorical(["negative", "positive"])), "aikit")["type"]
'enumeration'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from aikit.connectors.frames import same_value
from aikit.connectors.report import DIFF_COLUMNS, FAILED_COLUMNS, PushReport
from aikit.connectors.session import ApiSession, path_segment
from aikit.connectors.values import InvalidCell, cell_value
from aikit.exceptions import ConfigError, CRMConnectionError, CRMError, PushError

__all__ = ["BATCH_LIMIT", "PushTarget", "property_spec", "run_push", "spec_for_column"]

BATCH_LIMIT = 100
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"})


class PushTarget(Protocol):
    """What a push needs from a CRM client (:class:`aikit.HubSpot` is one): its session and properties."""

    @property
    def session(self) -> ApiSession: ...

    async def aproperty_types(self, object_type: str, refresh: bool = False) -> dict[str, str]: ...

    def enum_options(self, object_type: str) -> dict[str, set[str]]: ...

    async def acreate_property(self, object_type: str, name: Mapping[str, Any]) -> dict[str, Any]: ...


async def run_push(
    hs: PushTarget,
    t: str,
    frame: pd.DataFrame,
    id_column: str,
    create_properties: bool,
    dry_run: bool,
    batch_size: int,
    group: str,
) -> PushReport:
    """Push ``frame`` to the objects ``t`` through ``hs`` (the body of HubSpot.apush, documented there)."""
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError("push expects a pandas DataFrame with an id column and property columns")
    if id_column not in frame.columns:
        raise ConfigError(f"the DataFrame has no {id_column!r} column (pass id_column=...)")
    if not 1 <= batch_size <= BATCH_LIMIT:
        raise ConfigError(f"batch_size must be between 1 and {BATCH_LIMIT}")
    columns = [c for c in frame.columns if c != id_column]
    if not columns:
        raise ConfigError("nothing to push: the DataFrame has only the id column")
    bad = [c for c in columns if not isinstance(c, str) or c in READ_ONLY]
    if bad:
        raise PushError(f"cannot push read-only or non-string columns {bad}; drop them from the DataFrame")
    if frame[id_column].isna().any():
        raise ConfigError(f"{int(frame[id_column].isna().sum())} rows have no {id_column}")
    ids = [_id_str(v) for v in frame[id_column]]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if dupes:
        raise ConfigError(f"duplicate ids in the DataFrame: {dupes[:10]}; one row per object")

    types = dict(await hs.aproperty_types(t, refresh=True))
    missing = [c for c in columns if c not in types]
    created: list[str] = []
    if missing:
        if not create_properties:
            raise PushError(
                f"{t} has no properties {missing}; create them (create_properties=True, or "
                f"crm.create_property) before pushing",
                category="PROPERTY_DOESNT_EXIST",
            )
        for name in missing:
            spec = spec_for_column(name, frame[name], group)
            if not dry_run:
                await hs.acreate_property(t, spec)
            types[name] = spec["type"]
            created.append(name)

    failed: list[dict[str, Any]] = []
    wanted, invalid = _checked(frame, ids, columns, types, hs.enum_options(t), failed)
    current: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), BATCH_LIMIT):
        chunk = ids[i : i + BATCH_LIMIT]
        found, gone = await _read_current(hs, t, chunk, columns)
        current.update(found)
        for oid, message in gone.items():
            failed += [_fail(oid, c, message, 404, "OBJECT_NOT_FOUND") for c in columns]

    changes: dict[str, dict[str, str]] = {}
    diff: list[dict[str, Any]] = []
    unchanged = 0
    for oid in ids:
        if oid not in current:
            continue
        props = current[oid]
        delta = {}
        for col, new in wanted[oid].items():
            if same_value(props.get(col), new, types.get(col)):
                continue
            delta[col] = new
            diff.append({"id": oid, "property": col, "old": props.get(col), "new": new})
        if delta:
            changes[oid] = delta
        elif oid not in invalid:
            unchanged += 1

    report = PushReport(
        t,
        dry_run=dry_run,
        rows=len(ids),
        unchanged=unchanged,
        sent=0,
        updated=0,
        diff=pd.DataFrame(diff, columns=DIFF_COLUMNS),
        failed=pd.DataFrame(failed, columns=FAILED_COLUMNS),
        created_properties=created,
    )
    if dry_run or not changes:
        return report
    unknown: list[dict[str, Any]] = []
    await _write(hs, t, changes, batch_size, report, failed, unknown)
    report.failed = pd.DataFrame(failed, columns=FAILED_COLUMNS)
    report.unknown = pd.DataFrame(unknown, columns=FAILED_COLUMNS)
    return report


def _checked(
    frame: pd.DataFrame,
    ids: list[str],
    columns: list[str],
    types: Mapping[str, str],
    options: Mapping[str, set[str]],
    failed: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Every cell's wire value by id (empty cells left out), and the ids with a cell that cannot be written.

    Checked before any request, so one bad value neither aborts the push nor gets a batch rejected;
    the bad cells are reported in ``failed`` with HubSpot's error name and the reason.
    """
    wanted: dict[str, dict[str, str]] = {}
    invalid: set[str] = set()
    records = frame[columns].to_dict("records")
    for oid, row in zip(ids, records, strict=True):
        cells: dict[str, str] = {}
        for col in columns:
            try:
                new = cell_value(row[col], types.get(col), options.get(col))
            except InvalidCell as exc:
                failed.append(
                    _fail(oid, col, f"{exc.reason} ({col} is a {types.get(col)} property)", None, exc.code)
                )
                invalid.add(oid)
                continue
            if new is not None:
                cells[col] = new
        wanted[oid] = cells
    return wanted, invalid


async def _read_current(
    hs: PushTarget, t: str, ids: list[str], columns: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    resp = await hs.session.request(
        "POST",
        f"/crm/v3/objects/{path_segment(t)}/batch/read",
        what=f"read current {t} values",
        json_body={
            "inputs": [{"id": i} for i in ids],
            "properties": columns,
            "propertiesWithHistory": [],
        },
    )
    body = resp.json()
    found = {str(r["id"]): r.get("properties") or {} for r in body.get("results", [])}
    gone: dict[str, str] = {}
    for err in body.get("errors", []) or []:
        for oid in (err.get("context") or {}).get("ids", []):
            gone[str(oid)] = str(err.get("message") or "not found")
    for oid in ids:  # anything neither returned nor reported is still a failure, never dropped
        if oid not in found and oid not in gone:
            gone[oid] = f"{t} {oid} was not returned by batch/read"
    return found, gone


async def _write(
    hs: PushTarget,
    t: str,
    changes: dict[str, dict[str, str]],
    batch_size: int,
    report: PushReport,
    failed: list[dict[str, Any]],
    unknown: list[dict[str, Any]],
) -> None:
    items = list(changes.items())
    for start in range(0, len(items), batch_size):
        stop = await _send(hs, t, items[start : start + batch_size], report, failed, unknown)
        if stop is not None:
            if isinstance(stop, CRMConnectionError):
                why = "got no answer" if stop.maybe_applied else "could not reach the CRM"
            else:
                why = f"failed ({stop.category or stop.status})"
            note = f"not sent: an earlier batch {why}"
            for oid, props in items[start + batch_size :]:
                failed += [_fail(oid, c, note, None, "NOT_SENT") for c in props]
            return


async def _send(
    hs: PushTarget,
    t: str,
    chunk: list[tuple[str, dict[str, str]]],
    report: PushReport,
    failed: list[dict[str, Any]],
    unknown: list[dict[str, Any]],
) -> CRMError | None:
    """One batch/update; a 400 on several objects is split in halves to find the rejected rows.

    Returns the error that should stop the push (server down, retries exhausted), else None. A batch
    sent without an answer goes to ``unknown``: the CRM may have applied it (all of it: HubSpot's batch
    writes are all-or-nothing per request), so it is neither updated nor failed until a re-push tells.
    """
    report.batches += 1
    report.sent += len(chunk)
    try:
        resp = await hs.session.request(
            "POST",
            f"/crm/v3/objects/{path_segment(t)}/batch/update",
            what=f"update {t}",
            json_body={"inputs": [{"id": oid, "properties": props} for oid, props in chunk]},
        )
    except CRMError as exc:
        if exc.status in (401, 403):
            raise
        if isinstance(exc, CRMConnectionError) and exc.maybe_applied:
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "no answer"
            note = f"sent, no answer ({cause}): it may have been applied; push again to resolve"
            for oid, props in chunk:
                unknown += [_fail(oid, c, note, None, "NO_ANSWER") for c in props]
            return exc
        if exc.status is None or exc.status >= 500 or exc.status == 429:
            for oid, props in chunk:
                failed += [_fail(oid, c, str(exc), exc.status, exc.category) for c in props]
            return exc
        if len(chunk) > 1:  # a rejected batch: bisect so only the offending rows fail
            report.sent -= len(chunk)
            half = len(chunk) // 2
            return await _send(hs, t, chunk[:half], report, failed, unknown) or await _send(
                hs, t, chunk[half:], report, failed, unknown
            )
        for oid, props in chunk:
            failed += [_fail(oid, c, str(exc), exc.status, exc.category) for c in props]
        return None
    body = resp.json()
    done = {str(r["id"]) for r in body.get("results", [])}
    report.updated += len(done)
    reported: set[str] = set()
    wanted = dict(chunk)
    for err in body.get("errors", []) or []:
        for oid in (err.get("context") or {}).get("ids", []):
            reported.add(str(oid))
            for c in wanted.get(str(oid), {}):
                failed.append(_fail(str(oid), c, str(err.get("message")), 207, err.get("category")))
    for oid, props in chunk:
        if oid not in done and oid not in reported:
            failed += [_fail(oid, c, "not confirmed by batch/update", resp.status_code, None) for c in props]
    return None


def _id_str(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fail(oid: str, prop: str, error: str, status: int | None, category: str | None) -> dict[str, Any]:
    return {"id": oid, "property": prop, "error": error, "status": status, "category": category}


def property_spec(
    name: str,
    label: str | None,
    ptype: str,
    field_type: str | None,
    options: Sequence[str] | None,
    group: str,
    description: str = "",
) -> dict[str, Any]:
    default_field = {
        "string": "text",
        "number": "number",
        "enumeration": "select",
        "datetime": "date",
        "date": "date",
        "bool": "booleancheckbox",
    }
    spec: dict[str, Any] = {
        "name": name,
        "label": label or name.replace("_", " ").strip().title().replace("Ai ", "AI "),
        "type": ptype,
        "fieldType": field_type or default_field.get(ptype, "text"),
        "groupName": group,
        "description": description or "Written by aikit",
    }
    if ptype == "bool":
        options = options or ["true", "false"]
    if options:
        spec["options"] = [
            {
                "label": str(o).replace("_", " ").capitalize(),
                "value": str(o),
                "displayOrder": i,
                "hidden": False,
            }
            for i, o in enumerate(options)
        ]
    return spec


def spec_for_column(name: str, series: pd.Series, group: str) -> dict[str, Any]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return property_spec(
            name, None, "enumeration", "select", [str(c) for c in series.cat.categories], group
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        return property_spec(name, None, "bool", None, None, group)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return property_spec(name, None, "number", None, None, group)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return property_spec(name, None, "datetime", None, None, group)
    longest = series.dropna().astype(str).str.len().max() if series.notna().any() else 0
    return property_spec(
        name, None, "string", "textarea" if longest and longest > 100 else "text", None, group
    )
