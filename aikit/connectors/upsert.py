"""``push(..., upsert=True, id_property="email")``: write rows that have no CRM id, creating or updating.

Each row is keyed by a property with unique values (``email`` on contacts, or a custom property
created with ``hasUniqueValue``). The current values are read by that key first (``batch/read`` with
``idProperty``): rows whose values already match are not sent, existing records get only the cells
that differ, and the rest are created, all through ``batch/upsert`` (100 per call, paced and retried
like every push). The report counts ``created`` and ``updated`` and gives ``ids``: the key of each row
with the CRM id it now has, to join back onto the frame. A batch the CRM refuses as a whole is split
in halves until only the offending rows fail; a 207 names them one by one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from aikit.connectors.frames import same_value, wire_value
from aikit.connectors.push import BATCH_LIMIT, READ_ONLY, PushTarget, spec_for_column
from aikit.connectors.report import DIFF_COLUMNS, FAILED_COLUMNS, PushReport
from aikit.exceptions import ConfigError, CRMError, PushError

__all__ = ["IDS_COLUMNS", "run_upsert"]

IDS_COLUMNS = ["key", "id", "new"]


def _key(value: Any) -> str:
    text = wire_value(value)
    return "" if text is None else text.strip()


def _fail(key: str, prop: str, error: str, status: int | None, category: str | None) -> dict[str, Any]:
    return {"id": key, "property": prop, "error": error, "status": status, "category": category}


async def _check_id_property(hs: PushTarget, t: str, prop: str, exists: bool) -> None:
    if t == "contacts" and prop == "email":
        return
    if not exists:
        raise PushError(
            f"{t} has no property {prop!r} to upsert by; create it with unique values first "
            f"(crm.create_property({t!r}, {{..., 'hasUniqueValue': True}}))",
            category="PROPERTY_DOESNT_EXIST",
        )
    resp = await hs.session.request("GET", f"/crm/v3/properties/{t}/{prop}", what=f"read property {prop}")
    if not resp.json().get("hasUniqueValue"):
        raise PushError(
            f"{prop!r} does not have unique values on {t}, so it cannot identify records; upsert by a "
            f"property created with hasUniqueValue=True (or by email on contacts)",
            category="VALIDATION_ERROR",
        )


async def run_upsert(
    hs: PushTarget,
    t: str,
    frame: pd.DataFrame,
    id_property: str | None,
    create_properties: bool,
    dry_run: bool,
    batch_size: int,
    group: str,
) -> PushReport:
    """Upsert ``frame`` keyed by ``id_property`` (the body of ``HubSpot.apush(upsert=True)``)."""
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError("push expects a pandas DataFrame")
    if not id_property:
        raise ConfigError("upsert=True needs id_property=...: a property with unique values, e.g. 'email'")
    if id_property not in frame.columns:
        raise ConfigError(f"the DataFrame has no {id_property!r} column to upsert by")
    if not 1 <= batch_size <= BATCH_LIMIT:
        raise ConfigError(f"batch_size must be between 1 and {BATCH_LIMIT}")
    columns = [c for c in frame.columns if c not in (id_property, "id")]
    bad = [c for c in columns if not isinstance(c, str) or c in READ_ONLY]
    if bad:
        raise PushError(f"cannot push read-only or non-string columns {bad}; drop them from the DataFrame")
    keys = [_key(v) for v in frame[id_property]]
    if any(not k for k in keys):
        raise ConfigError(f"{sum(1 for k in keys if not k)} rows have no {id_property}; every row needs one")
    lowered = [k.lower() for k in keys]
    dupes = sorted({k for k in lowered if lowered.count(k) > 1}) if len(set(lowered)) != len(lowered) else []
    if dupes:
        raise ConfigError(
            f"duplicate {id_property} values in the DataFrame: {dupes[:10]}; one row per record"
        )

    types = dict(await hs.aproperty_types(t, refresh=True))
    created_props: list[str] = []
    for name in [c for c in [*columns, id_property] if c not in types]:
        if not create_properties:
            raise PushError(
                f"{t} has no properties [{name!r}]; create them (create_properties=True) before pushing",
                category="PROPERTY_DOESNT_EXIST",
            )
        spec = spec_for_column(name, frame[name], group)
        if name == id_property:
            spec["hasUniqueValue"] = True
        if not dry_run:
            await hs.acreate_property(t, spec)
        types[name] = spec["type"]
        created_props.append(name)
    if id_property not in created_props:
        await _check_id_property(hs, t, id_property, id_property in types)

    current: dict[str, tuple[str, dict[str, Any]]] = {}
    for start in range(0, len(keys), BATCH_LIMIT):
        chunk = keys[start : start + BATCH_LIMIT]
        resp = await hs.session.request(
            "POST",
            f"/crm/v3/objects/{t}/batch/read",
            what=f"read current {t} values by {id_property}",
            json_body={
                "inputs": [{"id": k} for k in chunk],
                "idProperty": id_property,
                "properties": [*columns, id_property],
                "propertiesWithHistory": [],
            },
        )
        for rec in resp.json().get("results", []):
            props = rec.get("properties") or {}
            if props.get(id_property):
                current[str(props[id_property]).lower()] = (str(rec["id"]), props)

    options = hs.enum_options(t)
    failed: list[dict[str, Any]] = []
    diff: list[dict[str, Any]] = []
    items: list[tuple[int, str, dict[str, str]]] = []
    unchanged = 0
    for row_no, (key, row) in enumerate(zip(keys, frame[columns].to_dict("records"), strict=True)):
        known = current.get(key.lower())
        props = {} if known is None else known[1]
        delta: dict[str, str] = {}
        invalid = False
        for col in columns:
            new = wire_value(row[col])
            if new is None or (known is not None and same_value(props.get(col), new, types.get(col))):
                continue
            allowed = options.get(col)
            if new and allowed is not None and not set(new.split(";")) <= allowed:
                message = f"{new!r} is not one of the allowed options of {col}: {sorted(allowed)}"
                failed.append(_fail(key, col, message, None, "INVALID_OPTION"))
                invalid = True
                continue
            delta[col] = new
            diff.append(
                {"id": key if known is None else known[0], "property": col, "old": props.get(col), "new": new}
            )
        if invalid and known is None:
            continue  # never create a record without the values it was meant to have
        if delta or known is None:
            items.append((row_no, key, delta))
        elif not invalid:
            unchanged += 1
    ids: list[dict[str, Any]] = [
        {"key": k, "id": current[k.lower()][0], "new": False} for k in keys if k.lower() in current
    ]
    report = PushReport(
        t,
        dry_run=dry_run,
        rows=len(keys),
        unchanged=unchanged,
        sent=0,
        updated=0,
        diff=pd.DataFrame(diff, columns=DIFF_COLUMNS),
        failed=pd.DataFrame(failed, columns=FAILED_COLUMNS),
        created_properties=created_props,
        ids=pd.DataFrame(ids, columns=IDS_COLUMNS),
    )
    if dry_run or not items:
        report.created = sum(1 for _, k, _ in items if k.lower() not in current) if dry_run else 0
        return report
    landed: dict[str, tuple[str, bool]] = {}
    for start in range(0, len(items), batch_size):
        stop = await _send(hs, t, id_property, items[start : start + batch_size], report, failed, landed)
        if stop is not None:
            for _, key, delta in items[start + batch_size :]:
                note = f"not sent: an earlier batch failed ({stop.category or stop.status or 'connection'})"
                failed += [_fail(key, c, note, None, "NOT_SENT") for c in delta or [id_property]]
            break
    by_key = {k.lower(): (i, n) for k, (i, n) in landed.items()}
    rows: list[dict[str, Any]] = [
        {"key": k, "id": by_key[k.lower()][0], "new": by_key[k.lower()][1]}
        for k in keys
        if k.lower() in by_key
    ]
    rows += [r for r in ids if str(r["key"]).lower() not in by_key]
    order = {k: n for n, k in enumerate(keys)}
    rows.sort(key=lambda r: order[str(r["key"])])
    report.ids = pd.DataFrame(rows, columns=IDS_COLUMNS)
    report.failed = pd.DataFrame(failed, columns=FAILED_COLUMNS)
    return report


async def _send(
    hs: PushTarget,
    t: str,
    id_property: str,
    chunk: list[tuple[int, str, dict[str, str]]],
    report: PushReport,
    failed: list[dict[str, Any]],
    landed: dict[str, tuple[str, bool]],
) -> CRMError | None:
    """One ``batch/upsert``; a 400 on several rows is split in halves.

    Returns the error that should stop the push (server down, retries exhausted), else None.
    """
    report.batches += 1
    report.sent += len(chunk)
    inputs = [{"idProperty": id_property, "id": key, "properties": delta, "objectWriteTraceId": str(row_no)}
              for row_no, key, delta in chunk]  # fmt: skip
    try:
        resp = await hs.session.request(
            "POST", f"/crm/v3/objects/{t}/batch/upsert", what=f"upsert {t}", json_body={"inputs": inputs}
        )
    except CRMError as exc:
        if exc.status in (401, 403):
            raise
        if exc.status is None or exc.status >= 500 or exc.status == 429:
            failed += [
                _fail(k, c, str(exc), exc.status, exc.category)
                for _, k, d in chunk
                for c in d or [id_property]
            ]
            return exc
        if len(chunk) > 1:
            report.sent -= len(chunk)
            half = len(chunk) // 2
            return await _send(hs, t, id_property, chunk[:half], report, failed, landed) or await _send(
                hs, t, id_property, chunk[half:], report, failed, landed
            )
        failed += [
            _fail(k, c, str(exc), exc.status, exc.category) for _, k, d in chunk for c in d or [id_property]
        ]
        return None
    body = resp.json()
    by_trace = {str(row_no): key for row_no, key, _ in chunk}
    by_value = {key.lower(): key for _, key, _ in chunk}
    for rec in body.get("results", []):
        key = by_trace.get(str(rec.get("objectWriteTraceId"))) or by_value.get(
            str((rec.get("properties") or {}).get(id_property, "")).lower()
        )
        if key is None:
            continue
        new = bool(rec.get("new"))
        landed[key] = (str(rec["id"]), new)
        if new:
            report.created += 1
        else:
            report.updated += 1
    wanted = {key: delta for _, key, delta in chunk}
    reported: set[str] = set()
    for err in body.get("errors", []) or []:
        for raw in (err.get("context") or {}).get("ids", []):
            key = by_value.get(str(raw).lower()) or by_trace.get(str(raw))
            if key is None:
                continue
            reported.add(key)
            for col in wanted[key] or [id_property]:
                failed.append(_fail(key, col, str(err.get("message")), 207, err.get("category")))
    for _, key, delta in chunk:
        if key not in landed and key not in reported:
            failed += [
                _fail(key, c, "not confirmed by batch/upsert", resp.status_code, None)
                for c in delta or [id_property]
            ]
    return None
