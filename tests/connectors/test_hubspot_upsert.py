"""push(upsert=True, id_property=...) and push(associate=...) against the demo CRM, and crm.pipelines()."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

import aikit
from aikit.exceptions import ConfigError, PushError
from aikit.local.crm import DemoCRM


def _links(server: DemoCRM, token: str, t: str, oid: str, to: str) -> dict[str, set[int]]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        body = c.get(f"/crm/v4/objects/{t}/{oid}/associations/{to}").json()
    return {str(r["toObjectId"]): {a["typeId"] for a in r["associationTypes"]} for r in body["results"]}


def test_upsert_creates_and_updates_in_one_push(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    known = hs.fetch("contacts", ["email", "jobtitle"], limit=2)
    frame = pd.DataFrame(
        {
            "email": [known["email"][0].upper(), known["email"][1], "ada@new.example", "bo@new.example"],
            "jobtitle": ["Chief Upserter", known["jobtitle"][1], "Engineer", None],
            "firstname": [None, None, "Ada", "Bo"],
        }
    )
    dry = hs.push("contacts", frame, upsert=True, id_property="email", dry_run=True)
    assert dry.created == 2 and dry.sent == 0 and dry.unchanged == 1
    report = hs.push("contacts", frame, upsert=True, id_property="email")
    assert report.ok, report.failed
    assert (report.created, report.updated, report.unchanged, report.batches) == (2, 1, 1, 1)
    ids = report.ids.set_index("key")
    assert ids.loc[frame["email"][0], "id"] == known["id"][0] and not ids.loc[frame["email"][0], "new"]
    assert ids.loc["ada@new.example", "new"] and len(ids) == 4
    after = hs.fetch("contacts", ["email", "jobtitle", "firstname"]).set_index("id")
    assert after.loc[known["id"][0], "jobtitle"] == "Chief Upserter"
    new_id = ids.loc["ada@new.example", "id"]
    assert after.loc[new_id, "email"] == "ada@new.example" and after.loc[new_id, "firstname"] == "Ada"
    again = hs.push("contacts", frame, upsert=True, id_property="email")
    assert again.sent == 0 and again.unchanged == 4 and again.created == 0  # idempotent
    with pytest.raises(ConfigError, match="id_property"):
        hs.push("contacts", frame, upsert=True)
    by_title = pd.DataFrame({"jobtitle": ["Engineer"], "firstname": ["X"]})
    with pytest.raises(PushError, match="unique"):
        hs.push("contacts", by_title, upsert=True, id_property="jobtitle")
    with pytest.raises(ConfigError, match="duplicate"):
        hs.push("contacts", pd.concat([frame, frame.head(1)]), upsert=True, id_property="email")


def test_upsert_by_a_custom_unique_property_reports_rows_the_crm_refuses(
    crm: DemoCRM, crm_token: str
) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    frame = pd.DataFrame(
        {
            "external_ref": ["ERP-1", "ERP-2", "ERP-3"],
            "subject": ["Imported one", "Imported two", "No stage"],
            "hs_pipeline_stage": ["1", "2", None],
        }
    )
    report = hs.push("tickets", frame, upsert=True, id_property="external_ref", create_properties=True)
    assert "external_ref" in report.created_properties and report.created == 2
    assert report.failed_ids == ["ERP-3"] and "hs_pipeline_stage" in report.failed["error"].iloc[0]
    unique = hs.properties("tickets").set_index("name").loc["external_ref", "hasUniqueValue"]
    assert bool(unique)
    fixed = frame.assign(hs_pipeline_stage=["1", "2", "3"], subject=["Imported one", "Renamed", "No stage"])
    second = hs.push("tickets", fixed, upsert=True, id_property="external_ref")
    assert second.ok and second.created == 1 and second.updated == 1 and second.unchanged == 1


def test_associations_in_push_are_created_once(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    deals = hs.fetch("deals", ["dealname"], associations=["companies"], limit=3)
    assert all(len(ids) == len(set(ids)) == 1 for ids in deals["companies"])  # primary + unlabelled: one id
    tickets = hs.fetch("tickets", ["subject"], limit=3)
    frame = pd.DataFrame(
        {
            "id": tickets["id"],
            "deal": [deals["id"][0], [deals["id"][1], deals["id"][2]], None],
            "ai_note": "x",
        }
    )
    report = hs.push("tickets", frame, associate={"deals": "deal"}, create_properties=True)
    assert report.ok and report.associated == 3 and report.updated == 3
    assert set(_links(crm, crm_token, "tickets", tickets["id"][1], "deals")) == {
        deals["id"][1],
        deals["id"][2],
    }
    again = hs.push("tickets", frame, associate={"deals": "deal"})
    assert again.associated == 0 and again.sent == 0
    # a labelled type by name, with only the association column; a missing target is reported
    other = hs.fetch("companies", ["name"], limit=5)["id"].iloc[4]
    labelled = pd.DataFrame({"id": [deals["id"][0], deals["id"][1]], "company": [other, "999999"]})
    result = hs.push("deals", labelled, associate={"companies": ("company", "Primary")})
    assert result.associated == 1 and result.failed["property"].tolist() == ["associations.companies"]
    assert 5 in _links(crm, crm_token, "deals", deals["id"][0], "companies")[other]
    with pytest.raises(ConfigError, match="no deals->companies association type"):
        hs.push("deals", labelled, associate={"companies": ("company", "Best friend")})


def test_upsert_with_associations_links_the_new_records(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    company = hs.fetch("companies", ["name"], limit=1)["id"].iloc[0]
    leads = pd.DataFrame({"email": ["lead1@new.example", "lead2@new.example"], "company_id": company})
    report = hs.push(
        "contacts", leads, upsert=True, id_property="email", associate={"companies": "company_id"}
    )
    assert report.created == 2 and report.associated == 2 and report.ok
    for oid in report.ids["id"]:
        assert company in _links(crm, crm_token, "contacts", oid, "companies")


def test_pipelines_and_owners_as_frames(crm_ro: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    stages = hs.pipelines("tickets")
    assert stages["label"].tolist() == ["New", "Waiting on contact", "Waiting on us", "Closed"]
    assert stages["is_closed"].tolist() == [False, False, False, True]
    deal_stages = hs.pipelines("deals").set_index("stage")
    assert deal_stages.loc["closedwon", "probability"] == 1.0 and deal_stages.loc["closedwon", "is_closed"]
    owners = hs.owners()
    deals = hs.fetch("deals", ["amount", "dealstage", "hubspot_owner_id"])
    joined = deals.merge(owners, left_on="hubspot_owner_id", right_on="id", suffixes=("", "_owner"))
    assert len(joined) == len(deals) and joined["name"].notna().all()
    assert len(hs.owners(archived=True)) == 1
