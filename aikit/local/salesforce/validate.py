"""What the demo org checks before it writes a record: the field-level errors Salesforce answers with.

:func:`clean` turns a JSON body into stored values (numbers as numbers, dates as ``YYYY-MM-DD``,
datetimes in Salesforce's form) or raises :class:`~aikit.local.salesforce.wire.ApiError` with the same
``errorCode`` and message shape a real org uses: ``INVALID_FIELD`` (no such column),
``INVALID_FIELD_FOR_INSERT_UPDATE`` (read-only), ``REQUIRED_FIELD_MISSING``,
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``, ``STRING_TOO_LONG``, ``INVALID_TYPE_ON_FIELD_IN_RECORD``,
``MALFORMED_ID``, ``INVALID_EMAIL_ADDRESS``.

>>> from aikit.local.salesforce.schema import fresh_objects
>>> case = fresh_objects()["Case"]
>>> clean(case, {"Priority": "High", "AI_Confidence__c": "87.5"}, creating=False, exists=lambda t, i: True)
{'Priority': 'High', 'AI_Confidence__c': 87.5}
>>> clean(case, {"AI_Sentiment__c": "Furious"}, creating=False, exists=lambda t, i: True)
Traceback (most recent call last):
...
aikit.local.salesforce.wire.ApiError: AI Sentiment: bad value for restricted picklist field: Furious
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from aikit.local.salesforce.schema import SObject
from aikit.local.salesforce.wire import ApiError, format_datetime, is_id, parse_date, parse_datetime

__all__ = ["clean", "required_missing"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBERS = frozenset({"double", "currency", "percent", "int"})
#: ``exists(object_type, id) -> bool``: is there a (non-deleted) record with that id?
Exists = Callable[[str, str], bool]


def _bad_type(f: dict[str, Any], value: Any) -> ApiError:
    return ApiError(
        400,
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f['label']}: value not of required type: {value}",
        [f["name"]],
    )


def _value(f: dict[str, Any], value: Any, exists: Exists) -> Any:
    ftype = f["type"]
    if ftype in _NUMBERS:
        if isinstance(value, bool):
            raise _bad_type(f, value)
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise _bad_type(f, value) from None
        if not isinstance(number, int | float) or not math.isfinite(number):
            raise _bad_type(f, value)
        if ftype == "int":
            if float(number) != int(number):
                raise _bad_type(f, value)
            return int(number)
        return float(number)
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _bad_type(f, value)
    if isinstance(value, dict | list):
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {ftype} from a JSON object")
    text = (
        value if isinstance(value, str) else (str(value).lower() if isinstance(value, bool) else str(value))
    )
    if ftype == "date":
        parsed = parse_date(text[:10]) if len(text) >= 10 else None
        if parsed is None:
            raise _bad_type(f, value)
        return parsed.isoformat()
    if ftype == "datetime":
        moment = parse_datetime(text)
        if moment is None:
            raise _bad_type(f, value)
        return format_datetime(moment)
    if ftype == "reference":
        if not is_id(text):
            raise ApiError(
                400, "MALFORMED_ID", f"{f['label']}: id value of incorrect type: {text}", [f["name"]]
            )
        if not any(exists(target, text) for target in f["referenceTo"]):
            raise ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {f['label']}: {text}",
                [f["name"]],
            )
        return text  # 15-character ids are accepted as they are
    if ftype == "email" and text and not _EMAIL.match(text):
        raise ApiError(
            400, "INVALID_EMAIL_ADDRESS", f"{f['label']}: invalid email address: {text}", [f["name"]]
        )
    if ftype in ("picklist", "multipicklist") and f.get("restrictedPicklist"):
        allowed = {p["value"] for p in f["picklistValues"] if p["active"]}
        chosen = text.split(";") if ftype == "multipicklist" else [text]
        if any(v not in allowed for v in chosen):
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f['label']}: bad value for restricted picklist field: {text}",
                [f["name"]],
            )
    if f["length"] and len(text) > f["length"]:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ApiError(
            400,
            "STRING_TOO_LONG",
            f"{f['label']}: data value too large: {shown} (max length={f['length']})",
            [f["name"]],
        )
    return text


def clean(
    obj: SObject,
    values: Mapping[str, Any],
    *,
    creating: bool,
    exists: Exists,
    allow: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validated, canonically named values of ``values`` for ``obj`` (``allow``: fields set by the path)."""
    if not isinstance(values, Mapping):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object of field values")
    out: dict[str, Any] = {}
    readonly: list[str] = []
    for key, value in values.items():
        if key == "attributes":
            continue
        f = obj.field(key)
        if f is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
        name = f["name"]
        if name == "Id" and name not in allow:
            raise ApiError(400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.")
        if not (f["createable"] if creating else f["updateable"]) and name not in allow:
            readonly.append(name)
            continue
        if value is None or value == "":
            if not f["nillable"]:
                raise ApiError(
                    400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
            out[name] = None
            continue
        out[name] = _value(f, value, exists)
    if readonly:
        verb = "create" if creating else "update"
        raise ApiError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to {verb} fields: {readonly}. Please check the security settings of this field and "
            "verify that it is read/write for your profile or permission set.",
            readonly,
        )
    return out


def required_missing(obj: SObject, values: Mapping[str, Any]) -> ApiError | None:
    """``REQUIRED_FIELD_MISSING`` for a create that leaves a required field out, else None."""
    missing = [
        f["name"]
        for f in obj.fields
        if f["createable"]
        and not f["nillable"]
        and not f["defaultedOnCreate"]
        and values.get(f["name"]) is None
    ]
    if not missing:
        return None
    return ApiError(
        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
    )
