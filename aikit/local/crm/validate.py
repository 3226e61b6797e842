"""Property value checks of the demo CRM, the way HubSpot validates writes (pure).

Every value arrives as a JSON string (or a number or boolean, stringified); a write with any invalid
value is refused as a whole with 400 ``VALIDATION_ERROR``, listing each problem:

===============  ==========================================================  ====================
type             accepted                                                    refused as
===============  ==========================================================  ====================
``number``       digits with at most one leading ``-`` and one ``.``         ``INVALID_DECIMAL``
``bool``         ``true`` / ``false``                                        ``INVALID_BOOL``
``date``         ``YYYY-MM-DD``, or epoch milliseconds at midnight UTC       ``INVALID_DATE``
``datetime``     ISO 8601, or epoch milliseconds                             ``INVALID_DATETIME``
``enumeration``  an option value; ``;``-joined values for multi-select       ``INVALID_OPTION``
every type       at most 65,536 characters                                   ``VALUE_TOO_LONG``
===============  ==========================================================  ====================

``""`` (and ``null``) clears a value of any type. A JSON array or object is not a property value.
Leading or trailing whitespace is not refused (HubSpot cancelled that change).

>>> problem("number", "12,5", "amount")["code"]
'INVALID_DECIMAL'
>>> problem("date", "1735732800000", "closedate")["message"]
'1735732800000 is at 12:00:00.000 UTC, not midnight!'
>>> problem("datetime", "2025-01-06T09:30:00Z", "hs_timestamp") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["MAX_TEXT", "normalized", "problem"]

#: The longest text a property holds.
MAX_TEXT = 65_536
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _error(code: str, message: str, name: str) -> dict[str, Any]:
    return {"message": message, "code": code, "context": {"propertyName": [name]}}


def _epoch(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def problem(
    ptype: str | None, text: str, name: str, options: Collection[str] | None = None
) -> dict[str, Any] | None:
    """The HubSpot-style error for writing ``text`` to property ``name`` of type ``ptype``, or None."""
    if text == "":
        return None
    if len(text) > MAX_TEXT:
        return _error(
            "VALUE_TOO_LONG", f"{name} holds at most {MAX_TEXT:,} characters, got {len(text):,}", name
        )
    value = text.strip()
    if ptype == "number" and not _NUMBER.fullmatch(value):
        return _error("INVALID_DECIMAL", f"{text} is not a valid number for {name}", name)
    if ptype == "bool" and value.lower() not in ("true", "false"):
        return _error("INVALID_BOOL", f"{text} is not a valid boolean (true or false) for {name}", name)
    if ptype == "date":
        return _date_problem(value, name)
    if ptype == "datetime" and _instant(value) is None:
        return _error("INVALID_DATETIME", f"{text} is not a valid ISO 8601 date-time or epoch millis", name)
    if ptype == "enumeration" and options is not None:
        bad = [v for v in value.split(";") if v not in options]
        if bad:
            return _error(
                "INVALID_OPTION", f"{text} was not one of the allowed options: {sorted(options)}", name
            )
    return None


def _date_problem(value: str, name: str) -> dict[str, Any] | None:
    if _DAY.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            return _error("INVALID_DATE", f"{value} is not a valid date", name)
        return None
    when = _epoch(value) if value.isdigit() else None
    if when is None:
        return _error(
            "INVALID_DATE", f"{value} is not a date (YYYY-MM-DD or epoch millis at midnight UTC)", name
        )
    if (when.hour, when.minute, when.second, when.microsecond) != (0, 0, 0, 0):
        return _error(
            "INVALID_DATE",
            f"{value} is at {when:%H:%M:%S}.{when.microsecond // 1000:03d} UTC, not midnight!",
            name,
        )
    return None


def _instant(value: str) -> datetime | None:
    if value.isdigit():
        return _epoch(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def normalized(ptype: str | None, text: str) -> str:
    """The stored form of a valid value (booleans in lower case; everything else as sent)."""
    if ptype == "bool" and text.strip().lower() in ("true", "false"):
        return text.strip().lower()
    return text
