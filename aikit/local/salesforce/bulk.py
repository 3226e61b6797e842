"""Bulk API 2.0 query jobs on the demo org: create, poll, read CSV results page by page, abort, delete.

A job runs its query when it is created (the rows are fixed then, as Salesforce's snapshot is) and
reports ``InProgress`` until ``bulk_delay_s`` has passed, then ``JobComplete``. Results are CSV in the
job's delimiter and line ending, columns in the order the SOQL asked for, relationship columns dotted
(``Account.Name``), empty fields for nulls; each page carries ``Sforce-NumberOfRecords`` and
``Sforce-Locator`` (an opaque next-page token, ``null`` on the last page). Queries Bulk API 2.0 does not
run (subqueries, aggregates, ``OFFSET``, ``FIELDS()``) are refused at creation, as Salesforce does.

>>> to_csv_value(True), to_csv_value(None), to_csv_value('x"y'), to_csv_value("2025-01-06T08:00:00.000+0000")
('true', '', '"x""y"', '"2025-01-06T08:00:00.000Z"')
"""

from __future__ import annotations

import base64
import time
from typing import Any

from aikit.local.salesforce.query import compile_query
from aikit.local.salesforce.rest import Call, Reply
from aikit.local.salesforce.soql import Field, parse
from aikit.local.salesforce.wire import ApiError, make_id, now_iso

__all__ = ["handlers", "to_csv_value"]

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "SEMICOLON": ";", "PIPE": "|", "CARET": "^", "BACKQUOTE": "`"}
_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 100_000


def to_csv_value(value: Any) -> str:
    """One CSV cell as Bulk API 2.0 writes it: quoted text, bare numbers and booleans, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
    text = str(value)
    if len(text) >= 28 and text[10:11] == "T" and text.endswith("+0000"):
        text = text[:-5] + "Z"
    return '"' + text.replace('"', '""') + '"'


def _flat(record: dict[str, Any], path: list[str]) -> Any:
    node: Any = record
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _job_info(job: dict[str, Any], now: float) -> dict[str, Any]:
    info = {k: v for k, v in job.items() if not k.startswith("_")}
    if info["state"] in ("UploadComplete", "InProgress"):
        done = now - job["_created"] >= job["_delay"]
        info["state"] = job["state"] = "JobComplete" if done else "InProgress"
    if info["state"] == "JobComplete":
        info["numberRecordsProcessed"] = len(job["_rows"])
        info["totalProcessingTime"] = int(job["_delay"] * 1000)
    return info


def create_job(call: Call) -> Reply:
    body = call.json()
    if not isinstance(body, dict) or not body.get("query"):
        raise ApiError(400, "INVALIDJOB", "InvalidJob : A query is required to create a query job")
    operation = body.get("operation", "query")
    if operation not in ("query", "queryAll"):
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    delimiter = body.get("columnDelimiter", "COMMA")
    ending = body.get("lineEnding", "LF")
    if delimiter not in _DELIMITERS or ending not in _ENDINGS:
        raise ApiError(400, "INVALIDJOB", "InvalidJob : unsupported columnDelimiter or lineEnding")
    soql = str(body["query"])
    q = parse(soql)
    if q.is_aggregate:
        raise ApiError(
            400, "API_ERROR", "FeatureNotEnabled : Aggregate queries are not supported by Bulk API 2.0"
        )
    if q.fields_function:
        raise ApiError(
            400, "API_ERROR", "FeatureNotEnabled : The FIELDS function is not supported by Bulk API 2.0"
        )
    if q.offset is not None or any(not isinstance(i, Field) for i in q.select):
        raise ApiError(
            400, "API_ERROR", "FeatureNotEnabled : Aggregate Relationships not supported in Bulk Query"
        )
    plan = compile_query(call.org.store, q, None, call.version, include_deleted=operation == "queryAll")
    with call.org.store.lock:
        rows = plan.rows()
    columns = (
        [".".join(res.names) for kind, res in plan.shaper.items if kind == "field"] if plan.shaper else []
    )
    paths = [res.names for kind, res in plan.shaper.items if kind == "field"] if plan.shaper else []
    org = call.org
    with org.lock:
        job_id = make_id("750", len(org.jobs) + 1)
        stamp = now_iso()
        job = {
            "id": job_id,
            "operation": operation,
            "object": plan.obj.name,
            "createdById": call.user_id,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": "UploadComplete",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(call.version),
            "lineEnding": ending,
            "columnDelimiter": delimiter,
            "jobType": "V2Query",
            "retries": 0,
            "_created": time.monotonic(),
            "_delay": org.bulk_delay_s,
            "_rows": [[_flat(r, p) for p in paths] for r in rows],
            "_columns": columns,
            "_version": call.version,
        }
        org.jobs[job_id] = job
    org.stats["bulk_jobs"] += 1
    info = _job_info(job, job["_created"])
    info["state"] = "UploadComplete"
    return Reply(200, info)


def _job(call: Call) -> dict[str, Any]:
    job = call.org.jobs.get(call.params["job"])
    if job is None or job.get("_deleted"):
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def get_job(call: Call) -> Reply:
    return Reply(200, _job_info(_job(call), time.monotonic()))


def list_jobs(call: Call) -> Reply:
    now = time.monotonic()
    jobs = [_job_info(j, now) for j in call.org.jobs.values() if not j.get("_deleted")]
    return Reply(200, {"done": True, "records": jobs, "nextRecordsUrl": None})


def abort_job(call: Call) -> Reply:
    job = _job(call)
    body = call.json()
    if not isinstance(body, dict) or body.get("state") != "Aborted":
        raise ApiError(400, "INVALIDJOB", "InvalidJob : a query job can only be set to Aborted")
    if _job_info(job, time.monotonic())["state"] == "JobComplete":
        raise ApiError(400, "INVALIDJOB", "InvalidJob : the job is already complete and cannot be aborted")
    job["state"] = "Aborted"
    return Reply(200, _job_info(job, time.monotonic()))


def delete_job(call: Call) -> Reply:
    job = _job(call)
    job["_deleted"] = True
    job["_rows"] = []
    return Reply(204)


def results(call: Call) -> Reply:
    job = _job(call)
    if job["_version"] != call.version:
        raise ApiError(
            409, "INVALIDJOB", "InvalidJob : results must be read with the API version that created the job"
        )
    state = _job_info(job, time.monotonic())["state"]
    if state != "JobComplete":
        raise ApiError(
            400, "INVALIDJOB", f"InvalidJob : the job is {state}; read results once it is JobComplete"
        )
    raw_max = call.query.get("maxRecords")
    if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
        raise ApiError(400, "INVALIDJOB", "InvalidJob : maxRecords must be a positive integer")
    page = int(raw_max) if raw_max else DEFAULT_MAX_RECORDS
    locator = call.query.get("locator")
    start = 0
    if locator and locator != "null":
        try:
            start = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "INVALIDJOB", "InvalidJob : invalid locator") from None
    rows = job["_rows"][start : start + page]
    sep, eol = _DELIMITERS[job["columnDelimiter"]], _ENDINGS[job["lineEnding"]]
    lines = [sep.join('"' + c.replace('"', '""') + '"' for c in job["_columns"])]
    lines += [sep.join(to_csv_value(v) for v in row) for row in rows]
    text = eol.join(lines) + eol
    following = start + page
    next_locator = (
        base64.b64encode(str(following).encode()).decode().rstrip("=")
        if following < len(job["_rows"])
        else "null"
    )
    headers = {
        "Sforce-NumberOfRecords": str(len(rows)),
        "Sforce-Locator": next_locator,
        "Content-Type": "text/csv; charset=UTF-8",
    }
    return Reply(200, text.encode(), headers)


def handlers() -> dict[str, Any]:
    return {
        "jobs.create": create_job,
        "jobs.list": list_jobs,
        "jobs.get": get_job,
        "jobs.abort": abort_job,
        "jobs.delete": delete_job,
        "jobs.results": results,
    }
