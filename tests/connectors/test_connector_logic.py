"""Pure logic of the connectors: where= shorthands, cell values, diffs, pacing arithmetic, report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from aikit.connectors.frames import coerce, records_frame, same_value, to_datetime, wire_value
from aikit.connectors.pacing import WindowPacer
from aikit.connectors.report import DIFF_COLUMNS, FAILED_COLUMNS, PushReport
from aikit.connectors.where import filter_groups, sorts
from aikit.exceptions import ConfigError


def test_where_shorthands() -> None:
    groups = filter_groups(
        {
            "a": "x",
            "b": ["1", "2"],
            "c": (">=", 5),
            "d": ("between", 1, 9),
            "e": None,
            "f": ("has",),
            "g": ("contains", "refund"),
            "h": ("NOT_IN", ["z"]),
        }
    )
    ops = [(f["propertyName"], f["operator"]) for f in groups[0]["filters"]]
    assert ops == [
        ("a", "EQ"),
        ("b", "IN"),
        ("c", "GTE"),
        ("d", "BETWEEN"),
        ("e", "NOT_HAS_PROPERTY"),
        ("f", "HAS_PROPERTY"),
        ("g", "CONTAINS_TOKEN"),
        ("h", "NOT_IN"),
    ]
    assert groups[0]["filters"][3] == {
        "propertyName": "d",
        "operator": "BETWEEN",
        "value": "1",
        "highValue": "9",
    }
    ts = filter_groups({"createdate": ("<", pd.Timestamp("2025-01-01", tz="UTC"))})[0]["filters"][0]["value"]
    assert ts == "1735689600000"
    assert len(filter_groups([{"a": 1}, {"b": 2}])) == 2
    raw = [{"filters": [{"propertyName": "x", "operator": "EQ", "value": "1"}]}]
    assert filter_groups(raw) == raw
    with pytest.raises(ConfigError):
        filter_groups({"a": ("~", 1)})
    assert sorts(["-a", "b"]) == [
        {"propertyName": "a", "direction": "DESCENDING"},
        {"propertyName": "b", "direction": "ASCENDING"},
    ]


def test_wire_values_and_same_value() -> None:
    assert wire_value(None) is None and wire_value(math.nan) is None and wire_value(pd.NA) is None
    assert wire_value(True) == "true" and wire_value(2.0) == "2" and wire_value(0.25) == "0.25"
    assert wire_value(pd.Timestamp("2025-01-02T03:04:05.678Z")) == "2025-01-02T03:04:05.678Z"
    assert wire_value(pd.Series([7]).iloc[0]) == "7"
    assert same_value("2", "2.0", "number") and not same_value("2", "3", "number")
    assert same_value("1735689600000", "2025-01-01T00:00:00.000Z", "datetime")
    assert not same_value(None, "x") and same_value(None, "") and same_value("True", "true", "bool")
    assert not same_value("abc", "ABC", "string")


def test_records_frame_and_coerce() -> None:
    rows = [
        {
            "id": "1",
            "properties": {"n": "3", "d": "1735689600000", "b": "true", "s": "x"},
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
            "associations": {"contacts": {"results": [{"id": "9", "type": "t"}]}},
        },
        {
            "id": "2",
            "properties": {"n": "", "d": "2025-01-02T00:00:00Z", "b": "false", "s": None},
            "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z",
        },
    ]
    frame = coerce(
        records_frame(rows, ["n", "d", "b", "s"], ["contacts"]), {"n": "number", "d": "datetime", "b": "bool"}
    )
    assert frame["contacts"].tolist() == [["9"], []]
    assert frame["n"].iloc[0] == 3 and pd.isna(frame["n"].iloc[1])
    assert frame["d"].dt.day.tolist() == [1, 2] and frame["b"].tolist() == [True, False]
    odd = coerce(records_frame([{**rows[0], "properties": {"n": "many"}}], ["n"], []), {"n": "number"})
    assert odd["n"].iloc[0] == "many"  # a column that does not parse stays text, nothing is lost
    assert to_datetime(pd.Series(["", None])).isna().all()


def test_pacer_learns_from_headers_and_waits_for_the_window() -> None:
    p = WindowPacer()
    p.observe({"x-hubspot-ratelimit-max": "3", "x-hubspot-ratelimit-interval-milliseconds": "1000"})
    assert (p.max_requests, p.interval_s) == (3, 1.0)
    for t in (0.0, 0.1, 0.2):
        assert p.delay(now=t) == 0.0
        p.record(now=t)
    assert p.delay(now=0.3) == pytest.approx(0.7)
    assert p.delay(now=1.05) == 0.0
    q = WindowPacer(100, 10.0)
    q.record(now=0.0)
    q.observe({"x-hubspot-ratelimit-remaining": "0"}, now=0.0)  # another client used the window up
    assert q.delay(now=1.0) == pytest.approx(9.0)


def test_report_counts_and_html() -> None:
    failed = pd.DataFrame(
        [{"id": "1", "property": "p", "error": "<b>bad</b>", "status": 207, "category": "X"}],
        columns=FAILED_COLUMNS,
    )
    r = PushReport(
        "tickets",
        dry_run=True,
        rows=2,
        unchanged=1,
        sent=0,
        updated=0,
        diff=pd.DataFrame(columns=DIFF_COLUMNS),
        failed=failed,
        created_properties=["p"],
    )
    assert r.counts["failed"] == 1 and r.failed_ids == ["1"] and not r.ok
    html = r._repr_html_()
    assert "would create" in html and "&lt;b&gt;bad&lt;/b&gt;" in html
