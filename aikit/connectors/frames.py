"""CRM records <-> DataFrames, as pure functions shared by fetch and push.

CRM APIs send every property value as a string. :func:`records_frame` builds one row per object
(``id`` first, then the properties, ``created_at``/``updated_at``, and one id-list column per
association) and :func:`coerce` types the columns from the property definitions: numbers, dates
(ISO-8601 or epoch milliseconds, UTC), booleans. :func:`wire_value` and :func:`same_value` are the
push side: how a DataFrame cell is written, and whether it already equals the stored value.

>>> df = records_frame([{"id": "7", "properties": {"amount": "12.5"}, "createdAt": "2025-01-06T08:00:00Z",
...                      "updatedAt": "2025-01-06T08:00:00Z"}], ["amount"], [])
>>> coerce(df, {"amount": "number"})["amount"].iloc[0]
np.float64(12.5)
>>> wire_value(3.0), wire_value(float("nan")), same_value("3", "3.0", "number")
('3', None, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from aikit.exceptions import CRMError

__all__ = ["coerce", "records_frame", "same_value", "to_datetime", "wire_value"]

_DATE_TYPES = frozenset({"date", "datetime"})
# Types the API reports for its own date properties even when definitions are unavailable.
_KNOWN_DATES = frozenset(
    {"createdate", "lastmodifieddate", "hs_lastmodifieddate", "closedate", "hs_timestamp"}
)


def records_frame(
    results: Iterable[Mapping[str, Any]],
    properties: Sequence[str] | None,
    associations: Sequence[str],
    links: Mapping[str, Mapping[str, list[str]]] | None = None,
) -> pd.DataFrame:
    """One row per object: ``id``, the properties, ``created_at``, ``updated_at``, association id lists.

    ``properties=None`` keeps every property the API returned. Association ids come from the object's
    ``associations`` block, or from ``links`` (``{type: {object_id: [ids]}}``) when given.
    """
    rows: list[dict[str, Any]] = []
    seen: dict[str, None] = {}
    for obj in results:
        if not isinstance(obj, Mapping) or "id" not in obj:
            raise CRMError(
                f"the CRM answered with something that is not an object record ({_shape(obj)}); "
                "check the object type and the base URL"
            )
        props = obj.get("properties") or {}
        row: dict[str, Any] = {"id": str(obj["id"])}
        names = list(properties) if properties is not None else list(props)
        for name in names:
            row[name] = props.get(name)
            seen.setdefault(name)
        row["created_at"] = obj.get("createdAt")
        row["updated_at"] = obj.get("updatedAt")
        for assoc in associations:
            if links is not None and assoc in links:
                row[assoc] = list(links[assoc].get(row["id"], []))
            else:
                block = (obj.get("associations") or {}).get(assoc) or {}
                # one entry per association type (HubSpot lists a primary link twice): each id once
                row[assoc] = list(dict.fromkeys(str(r["id"]) for r in block.get("results", [])))
        rows.append(row)
    columns = [
        "id",
        *(properties if properties is not None else seen),
        "created_at",
        "updated_at",
        *associations,
    ]
    columns = list(dict.fromkeys(columns))
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("created_at", "updated_at"):
        frame[col] = to_datetime(frame[col])
    return frame


def _shape(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return "keys " + ", ".join(sorted(map(str, obj))[:6])
    return type(obj).__name__


def to_datetime(values: pd.Series) -> pd.Series:
    """UTC datetimes from ISO-8601 strings or epoch-millisecond strings (blank -> NaT)."""
    text = values.astype("string").str.strip()
    text = text.where(text != "", None)
    epoch = text.str.fullmatch(r"\d{10,}").fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if epoch.any():
        out[epoch] = pd.to_datetime(text[epoch].astype("int64"), unit="ms", utc=True)
    rest = ~epoch & text.notna()
    if rest.any():
        out[rest] = pd.to_datetime(text[rest], utc=True, format="ISO8601")
    return out


def coerce(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Type property columns from ``{name: HubSpot type}``; a column that does not parse stays text."""
    for col in frame.columns:
        if col in ("id", "created_at", "updated_at"):
            continue
        ptype = types.get(col) or ("datetime" if col in _KNOWN_DATES else None)
        series = frame[col]
        if series.map(lambda v: isinstance(v, list)).any():
            continue
        try:
            if ptype == "number":
                frame[col] = pd.to_numeric(series.replace("", None), errors="raise")
            elif ptype in _DATE_TYPES:
                frame[col] = to_datetime(series)
            elif ptype == "bool":
                mapped = series.map({"true": True, "false": False, None: None, "": None})
                frame[col] = mapped.astype("boolean")
            else:
                frame[col] = series.astype("string")
        except (ValueError, TypeError):
            frame[col] = series.astype("string")
    return frame


def wire_value(value: Any) -> str | None:
    """How a cell is written: a string, or None for "no value here" (NaN/None/NA: skipped)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return wire_value(value.item())
    return str(value)


def _instant_ms(text: str) -> float | None:
    """Epoch milliseconds of an ISO-8601 or epoch-ms string (scalar and fast: used per cell)."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000.0, 3)


def same_value(current: str | None, new: str, ptype: str | None = None) -> bool:
    """True when writing ``new`` would not change ``current`` (numbers and dates compared by value)."""
    cur = current or ""
    if cur == new:
        return True
    if ptype == "number":
        try:
            return math.isclose(float(cur), float(new), rel_tol=1e-12, abs_tol=0.0)
        except ValueError:
            return False
    if ptype in _DATE_TYPES:
        a, b = _instant_ms(cur), _instant_ms(new)
        return a is not None and a == b
    if ptype == "bool":
        return cur.lower() == new.lower()
    return False
