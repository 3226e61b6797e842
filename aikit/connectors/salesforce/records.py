"""Salesforce records <-> DataFrames, as pure functions shared by REST and Bulk API 2.0 fetches.

:func:`flatten` drops ``attributes``, turns a lookup into dotted columns (``Account.Name``; a null
lookup gives nulls) and a subquery into a list of child records per row. :func:`csv_frame` reads Bulk
API 2.0 CSV pages. :func:`coerce` types the columns from ``describe``: dates and datetimes (UTC),
integers, numbers, booleans, picklists as categoricals whose categories are the picklist values.

>>> rows = [{"attributes": {"type": "Case"}, "Id": "500A", "Priority": "High",
...          "Account": {"attributes": {"type": "Account"}, "Name": "Bluefin Labs"}},
...         {"attributes": {"type": "Case"}, "Id": "500B", "Priority": "Low", "Account": None}]
>>> df = flatten(rows, ["Id", "Priority", "Account.Name"])
>>> df["Account.Name"].iloc[0], df["Account.Name"].isna().tolist()
('Bluefin Labs', [False, True])
>>> pick = {"type": "picklist", "picklistValues": [{"value": v, "active": True} for v in ("High", "Low")]}
>>> list(coerce(df, {"Priority": pick})["Priority"].cat.categories)
['High', 'Low']
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from aikit.connectors.frames import to_datetime

__all__ = ["coerce", "csv_frame", "flatten"]

_NUMBERS = frozenset({"double", "currency", "percent"})


def _dig(record: Mapping[str, Any], path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        found = node.get(part)
        if found is None:  # Salesforce spells keys as describe does; a query may not: match case-blind
            found = next((v for k, v in node.items() if k.lower() == part.lower()), None)
        node = found
    if isinstance(node, Mapping) and "records" in node and "done" in node:
        return [_plain(r) for r in node.get("records") or []]
    if isinstance(node, Mapping) and "attributes" in node:
        return _plain(node)
    return node


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping) and "attributes" in value:
            out.update({f"{key}.{k}": v for k, v in _plain(value).items()})
        else:
            out[key] = value
    return out


def flatten(records: Iterable[Mapping[str, Any]], columns: Sequence[str] | None) -> pd.DataFrame:
    """One row per record; ``columns`` (the select list) fixes the order, else what the records hold."""
    rows = list(records)
    if columns is None:
        flat = [_plain(r) for r in rows]
        names = list(dict.fromkeys(k for r in flat for k in r))
        return pd.DataFrame(flat, columns=names)
    data = {c: [_dig(r, c) for r in rows] for c in columns}
    for c in columns:
        if data[c] and all(v is None or isinstance(v, list) for v in data[c]) and any(data[c]):
            data[c] = [v if v is not None else [] for v in data[c]]  # a subquery: a list per row
    return pd.DataFrame(data, columns=list(columns))


def csv_frame(pages: Iterable[str]) -> pd.DataFrame:
    """Bulk API 2.0 CSV result pages as one frame of text (empty cells are nulls)."""
    frames = [
        pd.read_csv(io.StringIO(page), dtype=str, keep_default_na=False, na_values=[""])
        for page in pages
        if page.strip()
    ]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.astype(object).where(frame.notna(), None)


def coerce(frame: pd.DataFrame, fields: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Type each column from its describe entry (``fields[column]``); one that does not parse stays text."""
    for col in frame.columns:
        f = fields.get(col)
        series = frame[col]
        if f is None or series.map(lambda v: isinstance(v, list)).any():
            continue
        ftype = f.get("type")
        try:
            if ftype == "datetime":
                frame[col] = to_datetime(series)
            elif ftype == "date":
                frame[col] = pd.to_datetime(series, errors="raise", format="%Y-%m-%d")
            elif ftype == "int":
                frame[col] = pd.to_numeric(series, errors="raise").astype("Int64")
            elif ftype in _NUMBERS:
                frame[col] = pd.to_numeric(series, errors="raise").astype("float64")
            elif ftype == "boolean":
                mapped = series.map(
                    lambda v: v if isinstance(v, bool) or v is None else str(v).lower() == "true"
                )
                frame[col] = mapped.astype("boolean")
            elif ftype == "picklist":
                allowed = [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)]
                extra = sorted({v for v in series.dropna().astype(str)} - set(allowed))
                frame[col] = pd.Categorical(series, categories=allowed + extra)
            else:
                frame[col] = series.astype("string")
        except (ValueError, TypeError):
            frame[col] = series.astype("string")
    return frame
