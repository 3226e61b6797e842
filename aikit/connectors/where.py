"""``where=`` and ``sort=`` shorthands turned into HubSpot search ``filterGroups`` and ``sorts``.

>>> filter_groups({"hs_ticket_priority": ["HIGH", "URGENT"], "hs_pipeline_stage": ("!=", "4")})
[{'filters': [{'propertyName': 'hs_ticket_priority', 'operator': 'IN', 'values': ['HIGH', 'URGENT']}, \
{'propertyName': 'hs_pipeline_stage', 'operator': 'NEQ', 'value': '4'}]}]
>>> sorts("-createdate")
[{'propertyName': 'createdate', 'direction': 'DESCENDING'}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from aikit.exceptions import ConfigError

__all__ = ["OPERATORS", "filter_groups", "sorts"]

OPERATORS: dict[str, str] = {
    "==": "EQ",
    "=": "EQ",
    "!=": "NEQ",
    "<": "LT",
    "<=": "LTE",
    ">": "GT",
    ">=": "GTE",
    "in": "IN",
    "not in": "NOT_IN",
    "between": "BETWEEN",
    "has": "HAS_PROPERTY",
    "not has": "NOT_HAS_PROPERTY",
    "contains": "CONTAINS_TOKEN",
    "not contains": "NOT_CONTAINS_TOKEN",
}
_NAMES = frozenset(OPERATORS.values())


def _value(v: Any) -> str:
    """Filter values: dates as epoch milliseconds (HubSpot's form), booleans lower-case, else str."""
    if isinstance(v, pd.Timestamp | datetime):
        ts = pd.Timestamp(v)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        return str(int(ts.timestamp() * 1000))
    if isinstance(v, date):
        return str(int(pd.Timestamp(v, tz="UTC").timestamp() * 1000))
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _filter(name: str, cond: Any) -> dict[str, Any]:
    if cond is None:
        return {"propertyName": name, "operator": "NOT_HAS_PROPERTY"}
    if isinstance(cond, tuple):
        if not cond or not isinstance(cond[0], str):
            raise ConfigError(f"where[{name!r}]: a tuple is (operator, value), got {cond!r}")
        raw = cond[0].strip()
        op = OPERATORS.get(raw.lower()) or (raw.upper() if raw.upper() in _NAMES else None)
        if op is None:
            raise ConfigError(f"where[{name!r}]: unknown operator {raw!r}; use one of {sorted(OPERATORS)}")
        args = cond[1:]
        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            return {"propertyName": name, "operator": op}
        if op == "BETWEEN":
            if len(args) != 2:
                raise ConfigError(f"where[{name!r}]: ('between', low, high)")
            return {
                "propertyName": name,
                "operator": op,
                "value": _value(args[0]),
                "highValue": _value(args[1]),
            }
        if op in ("IN", "NOT_IN"):
            values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple | set) else args
            return {"propertyName": name, "operator": op, "values": [_value(v) for v in values]}
        if len(args) != 1:
            raise ConfigError(f"where[{name!r}]: ({raw!r}, value)")
        return {"propertyName": name, "operator": op, "value": _value(args[0])}
    if isinstance(cond, list | set | frozenset):
        return {"propertyName": name, "operator": "IN", "values": [_value(v) for v in cond]}
    return {"propertyName": name, "operator": "EQ", "value": _value(cond)}


def filter_groups(where: Mapping[str, Any] | Sequence[Any] | None) -> list[dict[str, Any]]:
    """HubSpot ``filterGroups`` from a dict (AND), a list of dicts (OR of ANDs) or raw groups."""
    if not where:
        return []
    if isinstance(where, Mapping):
        return [{"filters": [_filter(k, v) for k, v in where.items()]}]
    groups = []
    for item in where:
        if isinstance(item, Mapping) and "filters" in item:
            groups.append(dict(item))
        elif isinstance(item, Mapping):
            groups.append({"filters": [_filter(k, v) for k, v in item.items()]})
        else:
            raise ConfigError("where= is a dict, a list of dicts (OR), or HubSpot filterGroups")
    return groups


def sorts(sort: str | Sequence[str]) -> list[dict[str, str]]:
    """``"name"`` / ``"-name"`` (descending), or a list of them, as HubSpot sort objects."""
    names = [sort] if isinstance(sort, str) else list(sort)
    return [
        {"propertyName": s.lstrip("-+"), "direction": "DESCENDING" if s.startswith("-") else "ASCENDING"}
        for s in names
    ]
