"""aikit.Salesforce.push: describe checks before sending, changed cells only, collections, upsert."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from aikit.exceptions import PushError
from aikit.local.salesforce import DemoSalesforce

LABELS = ["Negative", "Neutral", "Positive"]


def test_push_writes_changed_cells_in_collections(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    cases = sf.fetch("SELECT Id, Subject FROM Case")
    frame = cases[["Id"]].assign(
        AI_Sentiment__c=[LABELS[i % 3] for i in range(len(cases))],
        AI_Summary__c=cases["Subject"].str.slice(0, 40),
        AI_Confidence__c=[round(50 + i % 50, 1) for i in range(len(cases))],
        AI_Needs_Callback__c=[i % 7 == 0 for i in range(len(cases))],
    )
    report = sf.push("Case", frame)
    assert report.ok and report.updated == 640 and report.batches == math.ceil(640 / 200)
    assert len(report.diff) == 640 * 3 + int(frame["AI_Needs_Callback__c"].sum())  # False is the default
    back = sf.fetch(
        "SELECT Id, AI_Sentiment__c, AI_Summary__c, AI_Confidence__c, AI_Needs_Callback__c FROM Case"
    )
    merged = frame.merge(back, on="Id", suffixes=("", "_back"))
    assert (merged["AI_Sentiment__c"] == merged["AI_Sentiment__c_back"].astype(str)).all()
    assert (merged["AI_Confidence__c"] == merged["AI_Confidence__c_back"]).all()
    assert (merged["AI_Needs_Callback__c"] == merged["AI_Needs_Callback__c_back"]).all()
    again = sf.push("Case", frame)
    assert again.sent == 0 and again.batches == 0 and again.unchanged == 640
    frame.loc[[0, 5], "AI_Sentiment__c"] = (
        "Positive" if frame.loc[0, "AI_Sentiment__c"] != "Positive" else "Neutral"
    )
    third = sf.push("Case", frame, dry_run=True)
    assert third.dry_run and third.sent == 0 and 1 <= len(third.diff) <= 2


def test_bad_cells_fail_before_any_request(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    ids = sf.fetch("SELECT Id FROM Case LIMIT 4")["Id"].tolist()
    frame = pd.DataFrame(
        {
            "Id": ids,
            "AI_Sentiment__c": ["Furious", "Negative", "Neutral", "Positive"],
            "AI_Summary__c": ["ok", "x" * 300, "fine", "fine"],
            "AI_Confidence__c": [10.0, 20.0, float("inf"), "abc"],
        }
    )
    report = sf.push("Case", frame)
    failed = report.failed.set_index(["id", "property"])
    assert "not a picklist value of AI_Sentiment__c" in failed.loc[(ids[0], "AI_Sentiment__c"), "error"]
    assert "max length=255" in failed.loc[(ids[1], "AI_Summary__c"), "error"]
    assert "finite number" in failed.loc[(ids[2], "AI_Confidence__c"), "error"]
    assert "not a number" in failed.loc[(ids[3], "AI_Confidence__c"), "error"]
    assert set(report.failed["category"]) == {"INVALID_VALUE"}
    back = sf.fetch(f"SELECT Id, AI_Sentiment__c FROM Case WHERE Id = '{ids[0]}'")
    assert pd.isna(back["AI_Sentiment__c"].iloc[0])  # the bad cell was never sent
    assert report.updated == 4  # the good cells of every row were written
    with pytest.raises(PushError, match="AI_Sentimnt__c"):
        sf.push("Case", pd.DataFrame({"Id": ids[:1], "AI_Sentimnt__c": ["Neutral"]}))
    with pytest.raises(PushError, match="read-only"):
        sf.push("Case", pd.DataFrame({"Id": ids[:1], "CaseNumber": ["1"]}))


def test_unknown_ids_and_server_rejections_are_reported(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    real = sf.fetch("SELECT Id FROM Case LIMIT 1")["Id"].iloc[0]
    ghost = "500Dm0000000zzzIAA"
    report = sf.push("Case", pd.DataFrame({"Id": [real, ghost], "AI_Sentiment__c": ["Neutral", "Neutral"]}))
    assert report.updated == 1 and report.failed_ids == [ghost]
    assert report.failed["category"].tolist() == ["NOT_FOUND"]
    contact = sf.fetch("SELECT Id FROM Contact LIMIT 1")["Id"].iloc[0]
    wrong = sf.push("Case", pd.DataFrame({"Id": [real], "ContactId": ["003Dm0000000zzzIAA"]}))
    assert wrong.failed["category"].tolist() == ["INVALID_CROSS_REFERENCE_KEY"]
    assert sf.push("Case", pd.DataFrame({"Id": [real], "ContactId": [contact]})).ok


def test_upsert_by_external_id_creates_and_updates(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    before = len(sf.fetch("SELECT Id FROM Case"))
    known = sf.fetch("SELECT Ticket_Id__c FROM Case ORDER BY Ticket_Id__c LIMIT 2")["Ticket_Id__c"].tolist()
    frame = pd.DataFrame(
        {
            "Ticket_Id__c": [*known, "NEW-1", "NEW-2"],
            "AI_Sentiment__c": ["Positive", "Negative", "Neutral", "Negative"],
            "Subject": [None, None, "New from the notebook", "Another one"],
        }
    )
    report = sf.push("Case", frame, id_column="Ticket_Id__c")
    assert report.ok and report.updated == 4 and report.batches == 1
    after = sf.fetch("Case", ["Ticket_Id__c", "AI_Sentiment__c"], {"Ticket_Id__c": [known[0], "NEW-1"]})
    assert len(sf.fetch("SELECT Id FROM Case")) == before + 2
    assert set(after["AI_Sentiment__c"].astype(str)) == {"Positive", "Neutral"}
    again = sf.push("Case", frame, id_column="Ticket_Id__c")
    assert again.sent == 0 and again.unchanged == 4
    with pytest.raises(PushError, match="not an external id"):
        sf.push("Case", pd.DataFrame({"Subject": ["x"], "AI_Sentiment__c": ["Neutral"]}), id_column="Subject")
