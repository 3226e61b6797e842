"""CRM search semantics, as pure functions: validate a search body, match filters, sort.

HubSpot's ``POST /crm/v3/objects/{type}/search`` ANDs the filters within a group and ORs the groups.
Values are compared as numbers when both sides are numeric, as instants when both are dates (ISO-8601
or epoch milliseconds), else as case-insensitive strings.

>>> props = {"hs_ticket_priority": "HIGH", "subject": "Invoice is wrong"}
>>> matches(props, [{"filters": [{"propertyName": "hs_ticket_priority", "operator": "IN",
...                                "values": ["HIGH", "URGENT"]}]}])
True
>>> matches(props, [{"filters": [{"propertyName": "subject", "operator": "CONTAINS_TOKEN",
...                                "value": "invoice"}]}])
True
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from aikit.exceptions import ConfigError

__all__ = [
    "MAX_FILTERS",
    "MAX_FILTERS_PER_GROUP",
    "MAX_GROUPS",
    "OPERATORS",
    "Bound",
    "SearchError",
    "bounds",
    "filter_names",
    "matches",
    "matches_query",
    "parse_sorts",
    "point",
    "sort_key",
    "validate_filter_groups",
]

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
_TOKEN = re.compile(r"[\w@.\-']+", re.UNICODE)


class SearchError(ConfigError):
    """A search body the API would reject with 400 VALIDATION_ERROR."""


def validate_filter_groups(groups: Any) -> list[dict[str, Any]]:
    """Check shape, operators and HubSpot's limits (5 groups, 10 filters each, 25 in total)."""
    if groups is None:
        return []
    if not isinstance(groups, list):
        raise SearchError("filterGroups must be an array")
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups: {len(groups)} (the maximum is {MAX_GROUPS})")
    total = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError("each filter group needs a 'filters' array")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a group: {len(filters)} (maximum {MAX_FILTERS_PER_GROUP})"
            )
        total += len(filters)
        for f in filters:
            if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
                raise SearchError("each filter needs a 'propertyName'")
            op = f.get("operator", "EQ")
            if op not in OPERATORS:
                raise SearchError(f"Unknown operator {op!r}; expected one of {', '.join(sorted(OPERATORS))}")
            if op in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                raise SearchError(f"operator {op} needs a 'values' array")
            if op == "BETWEEN" and ("value" not in f or "highValue" not in f):
                raise SearchError("operator BETWEEN needs 'value' and 'highValue'")
            if op not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and "value" not in f:
                raise SearchError(f"operator {op} needs a 'value'")
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters: {total} (the maximum is {MAX_FILTERS})")
    return groups


@functools.lru_cache(maxsize=1 << 17)
def _as_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1 << 17)
def _as_instant(value: str) -> float | None:
    if value.isdigit() and len(value) >= 10:
        return float(value)  # epoch milliseconds
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000.0
    except ValueError:
        return None


def _compare(left: str, right: Any) -> int:
    """-1, 0, 1 comparing a stored value with a filter value, typed as described above."""
    r = str(right).lower() if isinstance(right, bool) else str(right)
    ln, rn = _as_number(left), _as_number(r)
    if ln is not None and rn is not None and not (left.isdigit() and len(left) >= 10 and len(r) < 10):
        return (ln > rn) - (ln < rn)
    li, ri = _as_instant(left), _as_instant(r)
    if li is not None and ri is not None:
        return (li > ri) - (li < ri)
    a, b = left.lower(), r.lower()
    return (a > b) - (a < b)


def _contains_token(value: str, token: Any) -> bool:
    needle = str(token).lower().strip()
    hay = value.lower()
    if " " in needle:
        return needle in hay
    tokens = _TOKEN.findall(hay)
    if "*" in needle:
        return any(fnmatch.fnmatchcase(t, needle) for t in tokens)
    return needle in tokens


def _match_many(values: Sequence[str], f: Mapping[str, Any]) -> bool:
    """A filter on a multi-valued pseudo-property (``associations.contact``: the linked ids)."""
    op = f.get("operator", "EQ")
    if op == "HAS_PROPERTY":
        return bool(values)
    if op == "NOT_HAS_PROPERTY":
        return not values
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"):
        positive = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}[op]
        flipped = {**f, "propertyName": "v", "operator": positive}
        return not any(_match_filter({"v": v}, flipped) for v in values)
    return any(_match_filter({"v": v}, {**f, "propertyName": "v"}) for v in values)


def _match_filter(
    props: Mapping[str, str | None], f: Mapping[str, Any], multi: Mapping[str, Sequence[str]] | None = None
) -> bool:
    if multi is not None and f["propertyName"] in multi:
        return _match_many(multi[f["propertyName"]], f)
    op = f.get("operator", "EQ")
    value = props.get(f["propertyName"])
    present = value is not None and value != ""
    if op == "HAS_PROPERTY":
        return present
    if op == "NOT_HAS_PROPERTY":
        return not present
    if op in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN") and not present:
        return True
    if not present or value is None:
        return False
    if op == "EQ":
        return _compare(value, f["value"]) == 0
    if op == "NEQ":
        return _compare(value, f["value"]) != 0
    if op == "LT":
        return _compare(value, f["value"]) < 0
    if op == "LTE":
        return _compare(value, f["value"]) <= 0
    if op == "GT":
        return _compare(value, f["value"]) > 0
    if op == "GTE":
        return _compare(value, f["value"]) >= 0
    if op == "BETWEEN":
        return _compare(value, f["value"]) >= 0 and _compare(value, f["highValue"]) <= 0
    if op == "IN":
        return any(_compare(value, v) == 0 for v in f["values"])
    if op == "NOT_IN":
        return all(_compare(value, v) != 0 for v in f["values"])
    if op == "CONTAINS_TOKEN":
        return _contains_token(value, f["value"])
    if op == "NOT_CONTAINS_TOKEN":
        return not _contains_token(value, f["value"])
    raise SearchError(f"Unknown operator {op!r}")


def matches(
    props: Mapping[str, str | None],
    groups: Sequence[Mapping[str, Any]],
    multi: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """True when ``props`` satisfies any group (all filters of that group). No groups: True.

    ``multi`` holds multi-valued pseudo-properties such as ``associations.contact`` (the ids of the
    associated contacts): EQ/IN match when any value does, NEQ/NOT_IN when none does, HAS_PROPERTY
    when there is at least one.
    """
    if not groups:
        return True
    return any(all(_match_filter(props, f, multi) for f in g.get("filters", [])) for g in groups)


def filter_names(groups: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every property name the filter groups refer to."""
    return {str(f["propertyName"]) for g in groups for f in g.get("filters", [])}


class Bound(NamedTuple):
    """A numeric or date range one filter puts on a property (None: unbounded on that side)."""

    name: str
    low: float | None
    high: float | None


def point(value: Any) -> float | None:
    """A value as a number (numbers, epoch milliseconds, ISO dates as milliseconds), or None."""
    text = str(value)
    instant = _as_instant(text)
    return _as_number(text) if instant is None else instant


def bounds(groups: Sequence[Mapping[str, Any]]) -> list[Bound]:
    """Ranges that every match must satisfy (a single AND group's range filters on numbers or dates).

    A search can look only at the records inside the narrowest range before testing the filters
    (:func:`matches` still decides). Several groups (OR) give no bounds.
    """
    if len(groups) != 1:
        return []
    out = []
    for f in groups[0].get("filters", []):
        op, name = f.get("operator", "EQ"), str(f["propertyName"])
        low, high = point(f.get("value")), point(f.get("highValue"))
        if low is None:
            continue
        if op in ("GT", "GTE", "EQ"):
            out.append(Bound(name, low, low if op == "EQ" else None))
        elif op in ("LT", "LTE"):
            out.append(Bound(name, None, low))
        elif op == "BETWEEN" and high is not None:
            out.append(Bound(name, low, high))
    return out


def matches_query(props: Mapping[str, str | None], query: str | None) -> bool:
    """The ``query`` full-text option: every word appears in some property value (case-insensitive)."""
    if not query:
        return True
    hay = " ".join(v for v in props.values() if v).lower()
    return all(word in hay for word in query.lower().split())


def parse_sorts(sorts: Any) -> list[tuple[str, bool]]:
    """``[(propertyName, descending)]`` from objects ``{propertyName, direction}`` or strings (``-name``)."""
    out: list[tuple[str, bool]] = []
    for s in sorts or []:
        if isinstance(s, str):
            desc = s.startswith("-")
            out.append((s.lstrip("-+"), desc))
        elif isinstance(s, dict) and isinstance(s.get("propertyName"), str):
            direction = str(s.get("direction", "ASCENDING")).upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise SearchError(f"Unknown sort direction {direction!r}; use ASCENDING or DESCENDING")
            out.append((s["propertyName"], direction == "DESCENDING"))
        else:
            raise SearchError("sorts must be property names or {propertyName, direction} objects")
    return out


def sort_key(value: str | None) -> tuple[int, float, str]:
    """A key ordering numbers and dates by value and strings case-insensitively; empty values last."""
    if value is None or value == "":
        return (2, 0.0, "")
    num = _as_number(value)
    if num is not None:
        return (0, num, "")
    inst = _as_instant(value)
    if inst is not None:
        return (0, inst, "")
    return (1, 0.0, value.lower())
