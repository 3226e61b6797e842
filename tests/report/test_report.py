"""aikit.report.Report: what a page says, in which order, how values read, and that saving is atomic."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from aikit.exceptions import AIKitError, ConfigError
from aikit.report import Report, proportion, read_summary
from aikit.report.values import clean_text, format_value, humanize


def _visible_text(page: str) -> str:
    """The page's text as a reader sees it: no tags, style or script content."""
    body = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _full_report() -> Report:
    rep = Report("CRM ticket insights", source="Demo CRM at http://127.0.0.1:8765", date="2026-05-12")
    rep.note("How this was made", {"model": "local", "rows": 60, "cost_usd": 0.01234, "cache_hits": 12,
                                   "elapsed_s": 252.4})  # fmt: skip
    rep.table(
        pd.DataFrame(
            {
                "id": [101, 117],
                "ai_summary": ["Refund please.\\n\\nThanks", "Line one\nline two"],
                "old": [None, None],
                "createdate": pd.to_datetime(["2026-05-01 00:00", "2026-05-02 10:30"]),
                "meta": [{"a": 1}, {"b": 2}],
            }
        ),
        "Tickets to review",
    )
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["Billing", "Bug"], [3, 2])
    rep.figure(fig, "Tickets by category")
    plt.close(fig)
    rep.unreliable("Churn risk", "agreement 0.41 is not above the majority baseline 0.45")
    rep.metric("Agreement with the agents' categories", 0.78, display="78% (95% CI 66-88%), n=60",
               note="majority-class baseline 35%")  # fmt: skip
    rep.finding("Billing is the top category: 23 of 60 tickets (#101, #117 ...).", ids=[101, 117, 130])
    return rep


def test_sections_come_in_the_reader_order_whatever_the_call_order() -> None:
    page = _full_report().to_html()
    text = _visible_text(page)
    order = ["CRM ticket insights", "12 May 2026", "Source: Demo CRM", "Key findings", "Measures",
             "Not reliable enough to act on", "Charts", "Details", "How this was made"]  # fmt: skip
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions), positions
    assert "<title>CRM ticket insights · 12 May 2026</title>" in page


def test_values_read_as_a_document_not_as_python() -> None:
    text = _visible_text(_full_report().to_html())
    assert "\\n" not in text and "{" not in text and "None" not in text and "nan" not in text.lower()
    assert "Refund please. Thanks" in text and "Line one line two" in text
    assert "2026-05-01" in text and "2026-05-02 10:30" in text and "00:00:00" not in text
    assert "A: 1" in text  # a mapping reads as labelled pairs
    assert "Old" not in text  # an all-empty column is left out
    assert "ai_summary" not in text and "Summary" in text and "Created" in text
    assert "$0.0123" in text and "4 min 12 s" in text and "Cache hits" in text
    assert "Tickets #130" in text  # an id the sentence does not name is listed under it
    assert "#101, #117 ..." in text and "Tickets #101" not in text


def test_table_columns_mapping_selects_orders_and_renames() -> None:
    rep = Report("T", date="2026-01-01")
    df = pd.DataFrame({"id": [1, 2, 3], "ai_category": ["billing", None, "bug"], "x": [1.5, 2, 1234567.891]})
    rep.table(df, "Selected", columns={"x": "Amount", "id": "Ticket"}, max_rows=2)
    page = rep.to_html()
    assert re.search(r"<th class='num'>Amount</th><th class='num'>Ticket</th></tr>", page)
    assert "billing" not in page and "… and 1 more rows not shown." in page
    with pytest.raises(ConfigError, match="no column"):
        rep.table(df, "Missing", columns={"nope": "Nope"})


def test_bad_input_gets_a_clear_error() -> None:
    rep = Report("T")
    assert rep.date == dt.date.today()
    with pytest.raises(ConfigError, match="must be text"):
        rep.finding({"rows": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="matplotlib Figure"):
        rep.figure("not a figure", "caption")
    with pytest.raises(ConfigError, match="a number"):
        rep.metric("m", "high")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pandas DataFrame"):
        rep.table([1, 2], "caption")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        Report("T", date="12/05/2026")
    with pytest.raises(AIKitError):
        rep.note("n", 3)  # type: ignore[arg-type]


def test_html_is_escaped_and_self_contained() -> None:
    rep = Report("<script>alert(1)</script>", date="2026-01-01")
    rep.finding("Tickets mention </script><img src=x onerror=alert(1)>.")
    fig, ax = plt.subplots()
    rep.figure(ax, "An axes works too")
    plt.close(fig)
    page = rep.to_html()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert re.search(r"src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'", page)
    assert not re.search(r"(?:src|href)=['\"]https?://", page), "the page loads something from the network"
    assert read_summary_text(page)["findings"][0]["text"].startswith("Tickets mention </script>")


def read_summary_text(page: str) -> dict[str, object]:
    import json

    match = re.search(r"<script type='application/json' id='aikit-report-data'>(.*?)</script>", page, re.S)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def test_save_is_atomic_and_readable_back(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    rep = _full_report()
    assert rep.save(target) == target
    summary = read_summary(target)
    assert summary["values"] == {"model": "local", "rows": 60, "cost_usd": 0.01234, "cache_hits": 12,
                                 "elapsed_s": 252.4}  # fmt: skip
    assert summary["metrics"][0]["value"] == pytest.approx(0.78)
    assert stat.S_IMODE(target.stat().st_mode) & 0o044, "a report is readable by others (it is shared)"
    before = target.read_bytes()

    class Broken(Report):
        def to_html(self) -> str:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        Broken("x").save(target)
    assert target.read_bytes() == before  # the previous report is untouched
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left behind
    (tmp_path / "plain.html").write_text("<html></html>")
    with pytest.raises(ConfigError, match="not a report"):
        read_summary(tmp_path / "plain.html")


def test_repr_html_shows_the_report_inline() -> None:
    rep = _full_report()
    html = rep._repr_html_()
    assert html.startswith("<div class='aikit-report'><style>") and "Key findings" in html
    assert repr(rep) == "Report('CRM ticket insights', 2026-05-12: 1 finding, 1 metric, 1 figure, 1 table)"


def test_value_helpers() -> None:
    assert clean_text("a\\r\\nb\tc") == "a b c"
    assert humanize("hs_lastmodifieddate") == "Last modified" and humanize("price_usd") == "Price (USD)"
    assert format_value(float("nan")) == "—" and format_value(pd.NaT) == "—" and format_value(pd.NA) == "—"
    assert format_value(0.000123) == "0.000123" and format_value(3.0) == "3"
    import numpy as np

    assert format_value(np.int64(1200)) == "1,200" and format_value(np.array([1, 2])) == "1, 2"
    assert proportion(1, 3) == "33% (95% CI 6-79%), 1 of 3"


def test_umask_is_respected(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        path = Report("T", date="2026-01-01").save(tmp_path / "private.html")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
