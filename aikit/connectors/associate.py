"""``push(..., associate={"contacts": "contact_id"})``: link each row's record to records named in a column.

The column holds the id of the associated record (or a list of ids; empty cells link nothing). The
links the records already have are read first (v4 ``batch/read``) and only missing ones are written:
default associations with ``batch/associate/default``, labelled ones (``{"companies": ("company_id",
"Primary")}``, a label or a type id) with ``batch/create``. Failures are listed in the report's
``failed`` frame under the property ``associations.<type>``, row by row.

>>> targets("12"), targets([3, "4"]), targets(float("nan")), targets(7.0)
(['12'], ['3', '4'], [], ['7'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from aikit.connectors.frames import wire_value
from aikit.connectors.push import PushTarget
from aikit.connectors.report import DIFF_COLUMNS, FAILED_COLUMNS, PushReport
from aikit.exceptions import ConfigError, CRMError

__all__ = ["AssociateSpec", "association_columns", "empty_report", "push_associations", "targets"]

#: ``{to_type: column}`` or ``{to_type: (column, label or type id)}``.
AssociateSpec = Mapping[str, "str | tuple[str, str | int | None]"]
_CHUNK = 100


def targets(cell: Any) -> list[str]:
    """The ids a cell names: one id, a list of ids, or nothing (NaN/None/empty)."""
    if isinstance(cell, list | tuple | set):
        return [t for v in cell for t in targets(v)]
    text = wire_value(cell)
    return [] if text is None or not text.strip() else [text.strip()]


def association_columns(associate: AssociateSpec | None) -> dict[str, tuple[str, str | int | None]]:
    """``{to_type: (column, label or type id or None)}`` from the ``associate=`` shorthand."""
    out: dict[str, tuple[str, str | int | None]] = {}
    for to_type, spec in (associate or {}).items():
        if isinstance(spec, str):
            out[to_type] = (spec, None)
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            out[to_type] = (spec[0], spec[1])
        else:
            raise ConfigError(
                f"associate[{to_type!r}] is a column name or (column, label or type id), got {spec!r}"
            )
    return out


def _fail(key: str, to_type: str, error: str, status: int | None, category: str | None) -> dict[str, Any]:
    return {
        "id": key,
        "property": f"associations.{to_type}",
        "error": error,
        "status": status,
        "category": category,
    }


def empty_report(t: str, frame: pd.DataFrame, id_column: str, dry_run: bool) -> PushReport:
    """The report of a push that writes associations only (no property column)."""
    if frame[id_column].isna().any():
        raise ConfigError(f"{int(frame[id_column].isna().sum())} rows have no {id_column}")
    no_diff, no_failure = pd.DataFrame(columns=DIFF_COLUMNS), pd.DataFrame(columns=FAILED_COLUMNS)
    return PushReport(t, dry_run, len(frame), unchanged=0, sent=0, updated=0, diff=no_diff, failed=no_failure)


async def _type_spec(hs: PushTarget, t: str, to_type: str, label: str | int) -> dict[str, Any]:
    resp = await hs.session.request(
        "GET", f"/crm/v4/associations/{t}/{to_type}/labels", what=f"list {t}->{to_type} association labels"
    )
    specs = resp.json().get("results", [])
    for spec in specs:
        if (isinstance(label, int) and spec.get("typeId") == label) or (
            isinstance(label, str) and str(spec.get("label") or "").lower() == label.lower()
        ):
            return {"associationCategory": spec["category"], "associationTypeId": int(spec["typeId"])}
    names = [s.get("label") or f"(unlabelled {s.get('typeId')})" for s in specs]
    raise ConfigError(f"no {t}->{to_type} association type {label!r}; the portal has {names}")


async def _existing(hs: PushTarget, t: str, to_type: str, ids: list[str]) -> dict[str, set[tuple[str, int]]]:
    out: dict[str, set[tuple[str, int]]] = {i: set() for i in ids}
    for start in range(0, len(ids), _CHUNK):
        resp = await hs.session.request(
            "POST",
            f"/crm/v4/associations/{t}/{to_type}/batch/read",
            what=f"read {t}->{to_type} associations",
            json_body={"inputs": [{"id": i} for i in ids[start : start + _CHUNK]]},
        )
        for item in resp.json().get("results", []):
            links = out.setdefault(str(item["from"]["id"]), set())
            for to in item.get("to", []):
                for kind in to.get("associationTypes", []):
                    links.add((str(to["toObjectId"]), int(kind.get("typeId", 0))))
    return out


async def push_associations(
    hs: PushTarget,
    t: str,
    rows: Sequence[tuple[str, str, pd.Series]],
    associate: AssociateSpec,
    report: PushReport,
) -> None:
    """Create the missing associations of ``rows`` (``(row key, CRM id, row)``) and record the outcome."""
    failed: list[dict[str, Any]] = []
    diff: list[dict[str, Any]] = []
    for to_type, (column, label) in association_columns(associate).items():
        wanted = [(key, oid, to) for key, oid, row in rows for to in targets(row[column])]
        if not wanted:
            continue
        spec = None if label is None else await _type_spec(hs, t, to_type, label)
        have = await _existing(hs, t, to_type, sorted({oid for _, oid, _ in wanted}))
        missing = []
        for key, oid, to in dict.fromkeys(wanted):
            linked = {
                x
                for x, type_id in have.get(oid, set())
                if spec is None or type_id == spec["associationTypeId"]
            }
            if to not in linked:
                missing.append((key, oid, to))
                diff.append({"id": oid, "property": f"associations.{to_type}", "old": None, "new": to})
        if report.dry_run or not missing:
            continue
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            inputs: list[dict[str, Any]] = [{"from": {"id": o}, "to": {"id": to}} for _, o, to in chunk]
            url = "batch/associate/default"
            if spec is not None:
                url = "batch/create"
                inputs = [{**item, "types": [spec]} for item in inputs]
            try:
                resp = await hs.session.request(
                    "POST",
                    f"/crm/v4/associations/{t}/{to_type}/{url}",
                    what=f"associate {t} with {to_type}",
                    json_body={"inputs": inputs},
                )
            except CRMError as exc:
                if exc.status in (401, 403):
                    raise
                failed += [
                    _fail(key, to_type, f"{to}: {exc}", exc.status, exc.category) for key, _, to in chunk
                ]
                continue
            body = resp.json()
            bad: dict[tuple[str, str], str] = {}
            for err in body.get("errors", []) or []:
                ids = [str(i) for i in (err.get("context") or {}).get("ids", [])]
                if len(ids) >= 2:
                    bad[(ids[0], ids[1])] = str(err.get("message"))
                elif ids:
                    bad.update({(o, to): str(err.get("message")) for _, o, to in chunk if ids[0] in (o, to)})
            for key, oid, to in chunk:
                if (oid, to) in bad:
                    failed.append(_fail(key, to_type, f"{to}: {bad[(oid, to)]}", 207, "OBJECT_NOT_FOUND"))
                else:
                    report.associated += 1
    if diff:
        report.diff = pd.concat([report.diff, pd.DataFrame(diff, columns=DIFF_COLUMNS)], ignore_index=True)
    if failed:
        report.failed = pd.concat(
            [report.failed, pd.DataFrame(failed, columns=FAILED_COLUMNS)], ignore_index=True
        )
