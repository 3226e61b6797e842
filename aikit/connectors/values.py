"""Whether a DataFrame cell can be written to a CRM property, checked before any write (pure).

HubSpot validates every value against the property's type and answers 400 for the whole batch when one
value is wrong; :func:`cell_value` applies the same rules on the client first, so a push fails only the
offending cells, each with its reason, and writes the rest:

===============  ===========================================================  ====================
type             accepted                                                     refused as
===============  ===========================================================  ====================
``number``       finite numbers; text of digits with one leading ``-``, ``.``  ``INVALID_DECIMAL``
``bool``         booleans; ``true`` / ``false`` (any case)                    ``INVALID_BOOL``
``date``         dates, datetimes at midnight UTC, ``YYYY-MM-DD``, epoch ms   ``INVALID_DATE``
``datetime``     datetimes (UTC), ISO 8601 text, epoch milliseconds           ``INVALID_DATETIME``
``enumeration``  option values; a list of them for multi-select (``a;b``)     ``INVALID_OPTION``
every type       at most 65,536 characters of valid Unicode                   ``VALUE_TOO_LONG``,
                                                                              ``INVALID_TEXT``
===============  ===========================================================  ====================

A list, dict or set anywhere but an enumeration is refused (``INVALID_TYPE``) instead of being written
as its Python repr; ``""`` clears a value of any type.

>>> try:
...     cell_value(float("inf"), "number")
... except InvalidCell as exc:
...     print(exc.code, "-", exc.reason)
INVALID_DECIMAL - inf is not a finite number
>>> cell_value(1e-7, "number"), cell_value(["a", "b"], "enumeration", {"a", "b"})
('0.0000001', 'a;b')
>>> cell_value(pd.Timestamp("2025-03-01"), "date")
'2025-03-01'
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from aikit.connectors.frames import wire_value
from aikit.exceptions import ConfigError

__all__ = ["MAX_TEXT", "InvalidCell", "cell_value"]

#: The longest text HubSpot stores in a property.
MAX_TEXT = 65_536
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_COLLECTIONS = (list, tuple, set, frozenset, Mapping)


class InvalidCell(ConfigError):
    """Why a cell cannot be written: ``code`` (HubSpot's error name) and the reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _instant(value: Any) -> pd.Timestamp | None:
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if isinstance(value, date):
        return pd.Timestamp(value).tz_localize("UTC")
    return None


def _parsed_instant(text: str) -> pd.Timestamp | None:
    """Epoch milliseconds or ISO 8601 text as a UTC instant; None when it is neither."""
    if text.isdigit():
        return pd.Timestamp(int(text), unit="ms", tz="UTC")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _instant(parsed)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise InvalidCell("INVALID_DECIMAL", f"{value!r} is a boolean, not a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidCell("INVALID_DECIMAL", f"{value} is not a finite number")
        return format(value, "f")
    if isinstance(value, int | float) or (hasattr(value, "dtype") and hasattr(value, "item")):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float):
            if not math.isfinite(number):
                raise InvalidCell("INVALID_DECIMAL", f"{number!r} is not a finite number")
            if number.is_integer() and abs(number) < 2**53:
                return str(int(number))
            return format(Decimal(repr(number)), "f")
        if isinstance(number, int) and not isinstance(number, bool):
            return str(number)
    text = str(value).strip() if isinstance(value, str) else None
    if text is None or not _NUMBER.fullmatch(text):
        hint = " (write 12.5, not 12,5)" if isinstance(value, str) and "," in value else ""
        raise InvalidCell("INVALID_DECIMAL", f"{_short(value)} is not a number{hint}")
    return text


def _day(value: Any) -> str:
    ts = _instant(value)
    if ts is None and isinstance(value, str):
        text = value.strip()
        if _DAY.fullmatch(text):
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise InvalidCell("INVALID_DATE", f"{_short(value)} is not a calendar date") from None
        ts = _parsed_instant(text)
    if ts is None:
        raise InvalidCell("INVALID_DATE", f"{_short(value)} is not a date (write YYYY-MM-DD)")
    if (ts.hour, ts.minute, ts.second, ts.microsecond, ts.nanosecond) != (0, 0, 0, 0, 0):
        raise InvalidCell("INVALID_DATE", f"{ts.isoformat()} is at {ts:%H:%M:%S} UTC, not midnight")
    return ts.strftime("%Y-%m-%d")


def _instant_text(value: Any) -> str:
    ts = _instant(value)
    if ts is None:
        text = str(value).strip() if isinstance(value, str) else ""
        ts = _parsed_instant(text) if text else None
        if ts is None:
            raise InvalidCell("INVALID_DATETIME", f"{_short(value)} is not a date and time (ISO 8601)")
        return text
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _bool(value: Any) -> str:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if bool(value) else "false"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower()
    raise InvalidCell("INVALID_BOOL", f"{_short(value)} is not true or false")


def _options(value: Any, allowed: Collection[str] | None) -> str:
    if isinstance(value, Mapping):
        raise InvalidCell("INVALID_TYPE", "a dict is not an option value")
    if isinstance(value, _COLLECTIONS):
        parts = [str(v) for v in value]
        if any(";" in p for p in parts):
            raise InvalidCell("INVALID_OPTION", f"option values cannot contain ';': {_short(value)}")
        text = ";".join(parts)
    else:
        text = wire_value(value) or ""
    if text and allowed is not None:
        bad = [v for v in text.split(";") if v not in allowed]
        if bad:
            raise InvalidCell(
                "INVALID_OPTION",
                f"{', '.join(map(repr, bad))} is not one of the allowed options {sorted(allowed)}",
            )
    return text


def cell_value(value: Any, ptype: str | None, options: Collection[str] | None = None) -> str | None:
    """The wire text of ``value`` for a property of type ``ptype``; None when the cell is empty (skip).

    ``options`` are the allowed values of an enumeration (None: not known, not checked).

    Raises
    ------
    InvalidCell
        The value cannot be written to that property; ``code`` and ``reason`` say why.
    """
    if hasattr(value, "tolist") and int(getattr(value, "ndim", 0)) > 0:  # a numpy array: as a list
        value = value.tolist()
    if not isinstance(value, _COLLECTIONS) and wire_value(value) is None:
        return None
    if isinstance(value, str) and value == "":
        return ""  # clears the value, whatever the type
    if ptype == "enumeration":
        text = _options(value, options)
    elif isinstance(value, _COLLECTIONS):
        kind = "dict" if isinstance(value, Mapping) else type(value).__name__
        raise InvalidCell(
            "INVALID_TYPE",
            f"a {kind} is not a {ptype or 'property'} value; turn it into text first "
            "(', '.join(...) or json.dumps)",
        )
    elif ptype == "number":
        text = _number(value)
    elif ptype == "bool":
        text = _bool(value)
    elif ptype == "date":
        text = _day(value)
    elif ptype == "datetime":
        text = _instant_text(value)
    else:
        text = wire_value(value) or ""
        if ptype is None and isinstance(value, float) and not math.isfinite(value):
            raise InvalidCell("INVALID_DECIMAL", f"{value!r} is not a finite number")
    if len(text) > MAX_TEXT:
        raise InvalidCell(
            "VALUE_TOO_LONG", f"{len(text):,} characters; a property holds at most {MAX_TEXT:,}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = f"U+{ord(text[exc.start]):04X}"
        raise InvalidCell(
            "INVALID_TEXT", f"not valid Unicode text: a lone surrogate ({bad}) at character {exc.start}"
        ) from None
    return text
