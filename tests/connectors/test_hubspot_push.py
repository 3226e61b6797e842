"""aikit.HubSpot.push against the demo CRM: diff, dry run, idempotence, 207 rows, pacing, properties."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pandas as pd
import pytest

import aikit
from aikit.connectors.report import PushReport
from aikit.exceptions import ConfigError, PushError
from aikit.local.crm import DemoCRM


def sentiments(ids: pd.Series, salt: int = 0) -> pd.Series:
    labels = ["negative", "neutral", "positive"]
    values = [labels[(int(i) + salt) % 3] for i in ids]
    return pd.Series(pd.Categorical(values, categories=labels), index=ids.index)


def stored(server: DemoCRM, t: str, prop: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as c:
        after = None
        while True:
            params = {"limit": 100, "properties": prop, **({"after": after} if after else {})}
            body = c.get(f"/crm/v3/objects/{t}", params=params).json()
            out |= {o["id"]: o["properties"].get(prop) for o in body["results"]}
            if "paging" not in body:
                return out
            after = body["paging"]["next"]["after"]


def test_dry_run_then_push_then_idempotent_repush(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    tickets = hs.fetch("tickets", ["subject"])
    out = tickets[["id"]].assign(
        ai_sentiment=sentiments(tickets["id"]), ai_summary="Summary of " + tickets["subject"]
    )

    with pytest.raises(PushError, match="create_properties=True"):
        hs.push("tickets", out)

    dry = hs.push("tickets", out, create_properties=True, dry_run=True)
    assert dry.dry_run and dry.created_properties == ["ai_sentiment", "ai_summary"]
    assert len(dry.diff) == 2 * len(out) and dry.sent == 0 and dry.ok
    assert "ai_sentiment" not in hs.properties("tickets")["name"].tolist()  # nothing was written

    report = hs.push("tickets", out, create_properties=True)
    assert report.ok and report.updated == report.sent == len(out) and report.batches == -(-len(out) // 100)
    props = hs.properties("tickets").set_index("name")
    assert (
        props.loc["ai_sentiment", "type"] == "enumeration"
        and props.loc["ai_sentiment", "groupName"] == "aikit"
    )
    assert [o["value"] for o in props.loc["ai_sentiment", "options"]] == ["negative", "neutral", "positive"]
    assert stored(crm, "tickets", "ai_sentiment") == dict(
        zip(out["id"], out["ai_sentiment"].astype(str), strict=True)
    )

    again = hs.push("tickets", out)
    assert again.unchanged == len(out) and again.sent == 0 and again.batches == 0 and len(again.diff) == 0

    changed = out.copy()
    changed.loc[changed.index[:5], "ai_sentiment"] = "positive"
    changed.loc[changed.index[5], "ai_summary"] = None  # NaN/None cells are skipped, not cleared
    delta = hs.push("tickets", changed)
    expected = int((out["ai_sentiment"].iloc[:5] != "positive").sum())
    assert delta.sent == expected and len(delta.diff) == expected and delta.unchanged == len(out) - expected
    assert set(delta.diff["property"]) <= {"ai_sentiment"}


def test_number_and_date_columns_compare_by_value(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    contacts = hs.fetch("contacts", ["email"], limit=150)
    frame = contacts[["id"]].assign(
        ai_churn_risk_score=[round(i / 150, 3) for i in range(150)],
        ai_last_analyzed_at=pd.Timestamp("2025-11-01T10:00:00", tz="UTC"),
        ai_flag=[i % 2 == 0 for i in range(150)],
    )
    first = hs.push("contacts", frame, create_properties=True)
    assert first.ok and first.updated == 150
    types = hs.properties("contacts").set_index("name")["type"]
    assert (types["ai_churn_risk_score"], types["ai_last_analyzed_at"], types["ai_flag"]) == (
        "number",
        "datetime",
        "bool",
    )
    again = hs.push("contacts", frame)
    assert again.unchanged == 150 and again.sent == 0
    back = hs.fetch("contacts", ["ai_churn_risk_score", "ai_last_analyzed_at", "ai_flag"], limit=150)
    assert back["ai_churn_risk_score"].tolist() == frame["ai_churn_risk_score"].tolist()
    assert (back["ai_last_analyzed_at"] == frame["ai_last_analyzed_at"]).all()
    assert back["ai_flag"].tolist() == frame["ai_flag"].tolist()


class ArchiveBeforeUpdate(httpx.AsyncBaseTransport):
    """A real transport that archives some objects right before the first batch/update reaches the server.

    The server then answers that update with a genuine 207 partial failure.
    """

    def __init__(self, server: DemoCRM, victims: list[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.server, self.victims, self.done = server, victims, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch/update") and not self.done:
            self.done = True
            for v in self.victims:
                self.server.store.archive("tickets", v)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_207_partial_failure_is_reported_row_by_row(crm: DemoCRM, crm_token: str) -> None:
    plain = aikit.HubSpot(token=crm_token, base_url=crm.url)
    tickets = plain.fetch("tickets", ["subject"], limit=250)
    victims = [tickets["id"].iloc[3], tickets["id"].iloc[140]]
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url, transport=ArchiveBeforeUpdate(crm, victims))
    out = tickets[["id"]].assign(ai_category="billing", ai_summary="s")
    bogus = pd.DataFrame({"id": ["98765"], "ai_category": ["billing"], "ai_summary": ["s"]})
    report = hs.push("tickets", pd.concat([out, bogus], ignore_index=True), create_properties=True)
    assert not report.ok
    assert report.rows == 251 and report.sent == 250 and report.updated == 248
    failed = report.failed
    assert set(failed["id"]) == {*victims, "98765"}
    assert len(failed) == 6 and set(failed["property"]) == {"ai_category", "ai_summary"}
    assert set(failed.loc[failed.id.isin(victims), "status"]) == {207}
    assert set(failed["category"]) == {"OBJECT_NOT_FOUND"} and failed["error"].str.len().min() > 0
    assert report.failed_ids[:1] == [victims[0]] or set(report.failed_ids) == {*victims, "98765"}
    html = report._repr_html_()
    assert "Push finished with failures" in html and victims[0] in html
    assert "3 failed" in repr(report)
    # re-running after the failure writes nothing new: the rest is already there, the gone rows still fail
    rerun = plain.push("tickets", out)
    assert rerun.sent == 0 and rerun.unchanged == 248 and set(rerun.failed_ids) == set(victims)


def test_push_600_updates_is_paced_with_zero_429s(crm_token: str) -> None:
    # A 1-second window of 12 requests: the push needs 18 requests (7 reads + 7 writes + 4 for properties).
    with DemoCRM(token=crm_token, rate_limit=12, window_s=1.0) as server:
        hs = aikit.HubSpot(token=crm_token, base_url=server.url)
        ids = hs.fetch("tickets", ["subject"], typed=False)["id"]
        before = server.stats
        t0 = time.perf_counter()
        report = hs.push("tickets", pd.DataFrame({"id": ids, "ai_category": "bug"}), create_properties=True)
        elapsed = time.perf_counter() - t0
        assert report.ok and report.batches == 7 and report.updated == len(ids) >= 600
        assert server.stats["429"] == 0 and hs.stats["429"] == 0
        # properties, group read + create, property create, 7 reads, 7 writes
        assert server.stats["requests"] - before["requests"] == 1 + 2 + 1 + 7 + 7
        assert elapsed >= 0.5  # 16 requests under 12/s had to wait for the window


def test_bad_frames_fail_clearly(crm_ro: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    with pytest.raises(ConfigError, match="no 'id' column"):
        hs.push("tickets", pd.DataFrame({"x": [1]}))
    with pytest.raises(ConfigError, match="duplicate ids"):
        hs.push("tickets", pd.DataFrame({"id": ["1271", "1271"], "subject": ["a", "b"]}), dry_run=True)
    with pytest.raises(PushError, match="read-only"):
        hs.push("tickets", pd.DataFrame({"id": ["1271"], "createdate": ["2020-01-01"]}), dry_run=True)
    with pytest.raises(ConfigError, match="only the id column"):
        hs.push("tickets", pd.DataFrame({"id": ["1271"]}))
    report = hs.push("tickets", pd.DataFrame({"id": ["1271"], "subject": ["Changed?"]}), dry_run=True)
    assert isinstance(report, PushReport) and report.diff.iloc[0].to_dict()["new"] == "Changed?"


def test_invalid_enumeration_values_fail_row_by_row_without_sinking_the_batch(
    crm: DemoCRM, crm_token: str
) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    hs.create_property(
        "tickets", "ai_sentiment", type="enumeration", options=["negative", "neutral", "positive"]
    )
    ids = hs.fetch("tickets", ["subject"], limit=120, typed=False)["id"]
    frame = pd.DataFrame({"id": ids, "ai_sentiment": "neutral"})
    frame.loc[[7, 99], "ai_sentiment"] = "furious"
    report = hs.push("tickets", frame)
    assert report.updated == 118 and report.batches == 2
    assert report.failed["id"].tolist() == [ids[7], ids[99]]
    assert (
        set(report.failed["category"]) == {"INVALID_OPTION"} and "furious" in report.failed["error"].iloc[0]
    )
    # the server enforces the options too (HubSpot answers 400 VALIDATION_ERROR, code INVALID_OPTION)
    with httpx.Client(base_url=crm.url, headers={"Authorization": f"Bearer {crm_token}"}) as c:
        r = c.patch(f"/crm/v3/objects/tickets/{ids[0]}", json={"properties": {"ai_sentiment": "furious"}})
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_OPTION"


class ShrinkOptionsBeforeUpdate(httpx.AsyncBaseTransport):
    """Someone edits the property's options after the client read them: the server now rejects a row."""

    def __init__(self, server: DemoCRM) -> None:
        self.inner, self.server, self.done = httpx.AsyncHTTPTransport(), server, False
        self.updates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch/update"):
            self.updates += 1
            if not self.done:
                self.done = True
                async with httpx.AsyncClient(
                    base_url=self.server.url, headers={"Authorization": f"Bearer {self.server.token}"}
                ) as c:
                    opts = [{"label": v, "value": v} for v in ("negative", "positive")]
                    r = await c.patch("/crm/v3/properties/tickets/ai_sentiment", json={"options": opts})
                    assert r.status_code == 200
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_rejected_batch_is_bisected_to_the_offending_rows(crm: DemoCRM, crm_token: str) -> None:
    transport = ShrinkOptionsBeforeUpdate(crm)
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url, transport=transport)
    hs.create_property(
        "tickets", "ai_sentiment", type="enumeration", options=["negative", "neutral", "positive"]
    )
    ids = hs.fetch("tickets", ["subject"], limit=64, typed=False)["id"]
    frame = pd.DataFrame({"id": ids, "ai_sentiment": "positive"})
    frame.loc[10, "ai_sentiment"] = "neutral"  # valid when read, removed before the write
    report = hs.push("tickets", frame)
    assert report.failed["id"].tolist() == [ids[10]] and report.failed["status"].iloc[0] == 400
    assert "allowed options" in report.failed["error"].iloc[0]
    assert report.updated == 63 and report.sent == 64
    assert transport.updates <= 1 + 2 * 7  # bisection: about 2 log2(64) extra calls, not 64
    assert stored(crm, "tickets", "ai_sentiment")[ids[11]] == "positive"
