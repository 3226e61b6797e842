"""The decisions of an incremental sync, as pure functions: windows, splits, search bodies, cursors, ties.

A run covers the modified-date range from its lower bound to "open" (no upper bound) as a sequence of
contiguous *windows* in ascending time. A window whose first search reports more matches than the
search API can reach (HubSpot: 10,000) is cut in two, until each window is under the cap or a single
millisecond: where its ``cap``-th oldest record was modified (one search sorted by date with
``after = cap - 1``, :func:`split_at`), so the first half is one full slice and a burst of records in
one millisecond is isolated in one step; or, when that probe gives nothing usable, at the middle of
the range (:func:`split`, plain bisection). Inside a window, pages are read by id keyset
(``hs_object_id > last id``, sorted by id) rather than by offset, so records that change or disappear
while the window is read never shift the pages (an offset page would skip one), and a millisecond
holding more than the cap is still read to the end.

The cursor saved after a window is the next run's inclusive lower bound. It trails the run's start by
``lookback`` (the search index may show a write a few seconds late), and the versions already
delivered at or after it are remembered as *ties* (``{id: modified ms}``), so the overlap is read again
but nothing is delivered twice.

>>> w = Window(lo=0, hi=None)
>>> split(w, now=1000)
(Window(lo=0, hi=500, after=None), Window(lo=501, hi=None, after=None))
>>> search_body("hs_lastmodifieddate", ["subject"], Window(lo=5, hi=9, after=1200), limit=200)["filterGroups"]
[{'filters': [{'propertyName': 'hs_lastmodifieddate', 'operator': 'GTE', 'value': '5'}, \
{'propertyName': 'hs_lastmodifieddate', 'operator': 'LTE', 'value': '9'}, \
{'propertyName': 'hs_object_id', 'operator': 'GT', 'value': '1200'}]}]
>>> next_cursor(Window(lo=0, hi=500), run_at=10_000, lookback_ms=2_000)
501
>>> next_cursor(Window(lo=501, hi=None), run_at=10_000, lookback_ms=2_000)
8000
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import pandas as pd

from aikit.exceptions import ConfigError

__all__ = [
    "Window",
    "modified_ms",
    "modified_property",
    "next_cursor",
    "probe_limit",
    "quantile_body",
    "search_body",
    "split",
    "split_at",
    "to_ms",
]


@dataclass(frozen=True)
class Window:
    """Records modified in ``[lo, hi]`` (epoch ms, inclusive; ``hi=None``: no upper bound), read from
    ids greater than ``after`` (None: from the start). ``expect`` is how many records it probably
    holds (half its parent's), when known."""

    lo: int
    hi: int | None
    after: int | None = None
    expect: int | None = field(default=None, compare=False, repr=False)

    def resume(self, after: int) -> Window:
        return replace(self, after=after)


def modified_property(object_type: str) -> str:
    """HubSpot's last-modified property: ``lastmodifieddate`` on contacts, ``hs_lastmodifieddate`` else."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds of a timestamp given as ISO-8601 text, epoch ms, datetime, date or Timestamp.

    >>> to_ms("2025-01-06T08:00:00.250Z"), to_ms("1736150400250"), to_ms(None)
    (1736150400250, 1736150400250, None)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConfigError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    try:
        ts = pd.Timestamp(value) if isinstance(value, str | datetime | date | pd.Timestamp) else None
    except ValueError:
        ts = None
    if ts is None or pd.isna(ts):
        raise ConfigError(f"not a timestamp: {value!r} (use ISO-8601, epoch milliseconds or a datetime)")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def modified_ms(record: dict[str, Any], prop: str) -> int | None:
    """A search result's last-modified time (the property, else ``updatedAt``)."""
    props = record.get("properties") or {}
    return to_ms(props.get(prop) or record.get("updatedAt"))


def split(window: Window, now: int, total: int | None = None) -> tuple[Window, Window] | None:
    """The two halves of a window's date range (an open window's range ends at ``now``); None when it
    is a single millisecond (or already past ``now``) and cannot be cut. ``total``, the window's
    count, gives each half its ``expect``."""
    end = window.hi if window.hi is not None else max(now, window.lo)
    if end <= window.lo:
        return None
    mid = window.lo + (end - window.lo) // 2
    expect = None if total is None else total // 2
    return Window(window.lo, mid, expect=expect), Window(mid + 1, window.hi, expect=expect)


def split_at(window: Window, at: int | None, total: int, cap: int) -> tuple[Window, Window] | None:
    """Cut a window of ``total > cap`` records at ``at``, the modification time of its ``cap``-th oldest:
    ``[lo, at - 1]`` holds fewer than ``cap``. When ``at`` is the window's first millisecond (that
    millisecond alone holds ``cap`` or more), it becomes a slice of its own. None when ``at`` is
    unusable or the window is a single millisecond.

    >>> split_at(Window(0, None), 700, total=2500, cap=1000)
    (Window(lo=0, hi=699, after=None), Window(lo=700, hi=None, after=None))
    >>> split_at(Window(700, None), 700, total=1500, cap=1000)
    (Window(lo=700, hi=700, after=None), Window(lo=701, hi=None, after=None))
    """
    if at is None or at < window.lo or (window.hi is not None and at > window.hi):
        return None
    if at > window.lo:
        return Window(window.lo, at - 1, expect=cap - 1), Window(at, window.hi, expect=total - cap + 1)
    if window.hi == window.lo:
        return None
    return Window(window.lo, window.lo), Window(window.lo + 1, window.hi)


def quantile_body(prop: str, window: Window, cap: int) -> dict[str, Any]:
    """The search for a window's ``cap``-th oldest record (sorted by ``prop``, offset ``cap - 1``)."""
    body = search_body(prop, [prop], Window(window.lo, window.hi), limit=1)
    return body | {"sorts": [{"propertyName": prop, "direction": "ASCENDING"}], "after": str(cap - 1)}


def probe_limit(window: Window, cap: int, page: int) -> int:
    """Page size of a window's first request: 1 when it very likely holds more than the cap (it will be
    split and the page thrown away), else a full page."""
    return 1 if window.after is None and window.expect is not None and window.expect > cap else page


def search_body(prop: str, properties: list[str] | None, window: Window, limit: int) -> dict[str, Any]:
    """The search request for one page of a window: range on ``prop``, id keyset, sorted by id."""
    filters: list[dict[str, Any]] = [{"propertyName": prop, "operator": "GTE", "value": str(window.lo)}]
    if window.hi is not None:
        filters.append({"propertyName": prop, "operator": "LTE", "value": str(window.hi)})
    if window.after is not None:
        filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(window.after)})
    body: dict[str, Any] = {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": limit,
    }
    if properties is not None:
        body["properties"] = list(dict.fromkeys([*properties, prop]))
    return body


def next_cursor(window: Window, run_at: int, lookback_ms: int) -> int:
    """The next run's inclusive lower bound once ``window`` (and every window before it) is delivered."""
    floor = run_at - lookback_ms
    return floor if window.hi is None else min(window.hi + 1, floor)
