"""The demo CRM over HTTP: shapes, status codes, paging, batch, errors, properties, associations."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from aikit.local.crm import DemoCRM

#: The ``crm_api`` fixture (tests/local/crm/conftest.py): ``crm_api(server, token=None)`` -> client.
ApiClient = Callable[..., httpx.Client]

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_object(obj: dict[str, Any]) -> None:
    assert isinstance(obj["id"], str) and obj["id"].isdigit()
    assert ISO.match(obj["createdAt"]) and ISO.match(obj["updatedAt"])
    datetime.fromisoformat(obj["createdAt"].replace("Z", "+00:00"))
    assert isinstance(obj["archived"], bool)
    for name, value in obj["properties"].items():
        assert value is None or isinstance(value, str), (name, value)
    assert obj["properties"]["hs_object_id"] == obj["id"]


def assert_error(resp: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["status"] == "error" and body["category"] == category
    assert body["message"] and body["correlationId"]
    assert resp.headers["x-hubspot-correlation-id"] == body["correlationId"]
    return body


def test_list_pages_to_the_last_page_without_paging(crm_ro: DemoCRM, crm_api: ApiClient) -> None:
    ids: list[int] = []
    pages = 0
    with crm_api(crm_ro) as c:
        params: dict[str, Any] = {"limit": 100, "properties": "subject,hs_ticket_priority"}
        while True:
            body = c.get("/crm/v3/objects/tickets", params=params).raise_for_status().json()
            pages += 1
            for obj in body["results"]:
                assert_object(obj)
                assert set(obj["properties"]) >= {"subject", "hs_ticket_priority", "createdate"}
            ids += [int(o["id"]) for o in body["results"]]
            if "paging" not in body:
                break
            assert body["paging"]["next"]["link"].startswith(crm_ro.url)
            params["after"] = body["paging"]["next"]["after"]
        health = c.get("/healthz").json()
    assert len(ids) == len(set(ids)) == health["objects"]["tickets"] >= 600
    assert ids == sorted(ids)
    assert pages == -(-len(ids) // 100)


def test_list_query_forms(crm_ro: DemoCRM, crm_api: ApiClient) -> None:
    with crm_api(crm_ro) as c:
        repeated = c.get("/crm/v3/objects/contacts?limit=3&properties=email&properties=jobtitle").json()
        comma = c.get("/crm/v3/objects/contacts?limit=3&properties=email,jobtitle&archived=False").json()
        assert repeated["results"] == comma["results"]
        assert repeated["paging"]["next"]["after"] == comma["paging"]["next"]["after"]
        # the next link repeats the request's query (clients such as dlt follow it verbatim)
        follow = c.get(repeated["paging"]["next"]["link"]).json()["results"]
        assert set(follow[0]["properties"]) >= {"email", "jobtitle"} and len(follow) == 3
        assert set(repeated["results"][0]["properties"]) >= {"email", "jobtitle"}
        default = c.get("/crm/v3/objects/tickets?limit=1").json()["results"][0]["properties"]
        assert {"subject", "content", "hs_pipeline_stage", "hs_ticket_priority"} <= set(default)
        assert c.get("/crm/v3/objects/contacts?archived=TRUE").json()["results"] == []
        assert_error(c.get("/crm/v3/objects/contacts?limit=101"), 400, "VALIDATION_ERROR")
        assert_error(c.get("/crm/v3/objects/contacts?archived=maybe"), 400, "VALIDATION_ERROR")
        assert_error(c.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
        dated = c.get("/crm/objects/2026-03/contacts?limit=2").json()
        assert [o["id"] for o in dated["results"]] == [o["id"] for o in repeated["results"][:2]]


def test_auth_401_and_token_validator(crm_token: str) -> None:
    accepted = {"oauth-access-1"}
    with DemoCRM(token=crm_token, seed=None, token_validator=accepted.__contains__) as server:
        with httpx.Client(base_url=server.url) as c:
            assert_error(c.get("/crm/v3/objects/contacts"), 401, "INVALID_AUTHENTICATION")
            bad = c.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer nope"})
            assert_error(bad, 401, "INVALID_AUTHENTICATION")
            assert "nope" not in bad.text
            ok = c.get("/crm/v3/objects/contacts", headers={"Authorization": "Bearer oauth-access-1"})
            assert ok.status_code == 200 and ok.json() == {"results": []}
        assert server.stats["401"] == 2


def test_crud_status_codes_and_errors(crm: DemoCRM, crm_api: ApiClient) -> None:
    with crm_api(crm) as c:
        created = c.post(
            "/crm/v3/objects/contacts",
            json={"properties": {"email": "new.person@acme.example", "firstname": "Ny"}},
        )
        assert created.status_code == 201
        obj = created.json()
        assert_object(obj)
        dup = c.post("/crm/v3/objects/contacts", json={"properties": {"email": "NEW.person@acme.example"}})
        assert "Existing ID: " + obj["id"] in assert_error(dup, 409, "CONFLICT")["message"]
        patched = c.patch(f"/crm/v3/objects/contacts/{obj['id']}", json={"properties": {"jobtitle": "CFO"}})
        assert patched.status_code == 200 and patched.json()["properties"]["jobtitle"] == "CFO"
        by_email = c.get(
            "/crm/v3/objects/contacts/new.person@acme.example?idProperty=email&properties=jobtitle"
        )
        assert by_email.json()["properties"]["jobtitle"] == "CFO"
        ro = c.patch(f"/crm/v3/objects/contacts/{obj['id']}", json={"properties": {"hs_object_id": "1"}})
        assert assert_error(ro, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "READ_ONLY_VALUE"
        unknown = c.patch(f"/crm/v3/objects/contacts/{obj['id']}", json={"properties": {"ai_nope": "x"}})
        assert assert_error(unknown, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
        assert_error(c.post("/crm/v3/objects/contacts", content=b"{not json"), 400, "VALIDATION_ERROR")
        deleted = c.delete(f"/crm/v3/objects/contacts/{obj['id']}")
        assert deleted.status_code == 204 and deleted.content == b""
        assert_error(c.get(f"/crm/v3/objects/contacts/{obj['id']}"), 404, "OBJECT_NOT_FOUND")
        archived = c.get(f"/crm/v3/objects/contacts/{obj['id']}?archived=true").json()
        assert archived["archived"] is True and ISO.match(archived["archivedAt"])


def test_batch_endpoints(crm: DemoCRM, crm_api: ApiClient) -> None:
    with crm_api(crm) as c:
        ids = [o["id"] for o in c.get("/crm/v3/objects/tickets?limit=3").json()["results"]]
        read = c.post(
            "/crm/v3/objects/tickets/batch/read",
            json={"inputs": [{"id": i} for i in ids], "properties": ["subject"]},
        )
        assert read.status_code == 200 and read.json()["status"] == "COMPLETE"
        partial = c.post(
            "/crm/v3/objects/tickets/batch/read", json={"inputs": [{"id": ids[0]}, {"id": "424242"}]}
        )
        assert partial.status_code == 207
        body = partial.json()
        assert body["numErrors"] == 1 and body["errors"][0]["context"]["ids"] == ["424242"]
        assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and len(body["results"]) == 1
        upd = c.post(
            "/crm/v3/objects/tickets/batch/update",
            json={
                "inputs": [
                    {"id": ids[0], "properties": {"hs_ticket_priority": "LOW"}},
                    {"id": "999", "properties": {}},
                ]
            },
        )
        assert upd.status_code == 207 and upd.json()["errors"][0]["context"]["ids"] == ["999"]
        assert (
            c.get(f"/crm/v3/objects/tickets/{ids[0]}?properties=hs_ticket_priority").json()["properties"][
                "hs_ticket_priority"
            ]
            == "LOW"
        )
        too_many = c.post(
            "/crm/v3/objects/tickets/batch/read", json={"inputs": [{"id": str(i)} for i in range(101)]}
        )
        assert_error(too_many, 400, "VALIDATION_ERROR")
        dupes = c.post(
            "/crm/v3/objects/tickets/batch/update", json={"inputs": [{"id": ids[0]}, {"id": ids[0]}]}
        )
        assert_error(dupes, 400, "VALIDATION_ERROR")
        made = c.post(
            "/crm/v3/objects/notes/batch/create",
            json={
                "inputs": [
                    {"properties": {"hs_note_body": f"n{i}", "hs_timestamp": "2025-05-01T00:00:00.000Z"}}
                    for i in range(3)
                ]
            },
        )
        assert made.status_code == 201 and len(made.json()["results"]) == 3
        gone = c.post(
            "/crm/v3/objects/notes/batch/archive",
            json={"inputs": [{"id": o["id"]} for o in made.json()["results"]]},
        )
        assert gone.status_code == 204


def test_properties_api(crm: DemoCRM, crm_api: ApiClient) -> None:
    spec = {
        "name": "ai_sentiment",
        "label": "AI sentiment",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "aikit",
        "options": [{"label": "Negative", "value": "negative"}, {"label": "Positive", "value": "positive"}],
    }
    with crm_api(crm) as c:
        nogroup = c.post("/crm/v3/properties/tickets", json=spec)
        assert "group" in assert_error(nogroup, 400, "VALIDATION_ERROR")["message"]
        group = c.post("/crm/v3/properties/tickets/groups", json={"name": "aikit", "label": "AI insights"})
        assert group.status_code == 201
        assert (
            c.post("/crm/v3/properties/tickets/groups", json={"name": "aikit", "label": "x"}).status_code
            == 409
        )
        groups = c.get("/crm/v3/properties/tickets/groups").json()["results"]
        assert [g["name"] for g in groups] == ["ticketinformation", "aikit"]
        assert c.get("/crm/v3/properties/tickets/groups/aikit").json()["label"] == "AI insights"
        made = c.post("/crm/v3/properties/tickets", json=spec)
        assert made.status_code == 201 and made.json()["options"][0]["value"] == "negative"
        assert_error(c.post("/crm/v3/properties/tickets", json=spec), 409, "CONFLICT")
        bad = c.post("/crm/v3/properties/tickets", json={**spec, "name": "x2", "type": "blob"})
        assert_error(bad, 400, "VALIDATION_ERROR")
        names = [p["name"] for p in c.get("/crm/v3/properties/tickets").json()["results"]]
        assert "ai_sentiment" in names and "subject" in names
        assert c.get("/crm/v3/properties/tickets/ai_sentiment").json()["type"] == "enumeration"
        opts = [{"label": "Negative", "value": "negative"}, {"label": "Mixed", "value": "mixed"}]
        patched = c.patch("/crm/v3/properties/tickets/ai_sentiment", json={"options": opts, "label": "Mood"})
        assert patched.status_code == 200 and [o["value"] for o in patched.json()["options"]] == [
            "negative",
            "mixed",
        ]
        assert_error(
            c.patch("/crm/v3/properties/tickets/subject", json={"label": "x"}), 400, "VALIDATION_ERROR"
        )
        assert_error(c.patch("/crm/v3/properties/tickets/nope", json={"label": "x"}), 404, "OBJECT_NOT_FOUND")
        tid = c.get("/crm/v3/objects/tickets?limit=1").json()["results"][0]["id"]
        ok = c.patch(f"/crm/v3/objects/tickets/{tid}", json={"properties": {"ai_sentiment": "negative"}})
        assert ok.status_code == 200


def test_associations(crm: DemoCRM, crm_api: ApiClient) -> None:
    with crm_api(crm) as c:
        t = c.get("/crm/v3/objects/tickets?limit=1&associations=contacts,companies").json()["results"][0]
        contact_id = t["associations"]["contacts"]["results"][0]["id"]
        assert t["associations"]["contacts"]["results"][0]["type"] == "ticket_to_contact"
        v4 = c.get(f"/crm/v4/objects/tickets/{t['id']}/associations/contacts").json()["results"]
        assert v4[0]["toObjectId"] == int(contact_id) and v4[0]["associationTypes"][0]["typeId"] == 16
        back = c.get(f"/crm/v4/objects/contacts/{contact_id}/associations/tickets").json()["results"]
        assert int(t["id"]) in [r["toObjectId"] for r in back]
        other = c.get("/crm/v3/objects/contacts?limit=100").json()["results"][-1]["id"]
        put = c.put(f"/crm/v4/objects/tickets/{t['id']}/associations/default/contacts/{other}")
        assert put.status_code == 200 and put.json()["status"] == "COMPLETE"
        batch = c.post(
            "/crm/v4/associations/tickets/contacts/batch/read", json={"inputs": [{"id": t["id"]}]}
        ).json()
        assert {x["toObjectId"] for x in batch["results"][0]["to"]} == {int(contact_id), int(other)}
        labels = c.get("/crm/v4/associations/contacts/companies/labels").json()["results"]
        assert {lab["typeId"] for lab in labels} == {279, 1}
        created = c.post(
            "/crm/v3/objects/notes",
            json={
                "properties": {"hs_note_body": "call", "hs_timestamp": "2025-05-01T00:00:00.000Z"},
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
                    }
                ],
            },
        )
        assert created.status_code == 201
        notes = c.get(f"/crm/v4/objects/contacts/{contact_id}/associations/notes").json()["results"]
        assert int(created.json()["id"]) in [n["toObjectId"] for n in notes]


def test_rate_limit_window_headers_and_429(crm_api: ApiClient, crm_token: str) -> None:
    with DemoCRM(token=crm_token, seed=None, rate_limit=3, window_s=2.0) as server, crm_api(server) as c:
        remaining = []
        for _ in range(3):
            r = c.get("/crm/v3/objects/contacts")
            assert r.status_code == 200
            remaining.append(int(r.headers["x-hubspot-ratelimit-remaining"]))
            assert r.headers["x-hubspot-ratelimit-max"] == "3"
            assert r.headers["x-hubspot-ratelimit-interval-milliseconds"] == "2000"
        assert remaining == [2, 1, 0]
        limited = c.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}] * 3})
        body = assert_error(limited, 429, "RATE_LIMITS")
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert 1 <= int(limited.headers["retry-after"]) <= 2
        assert server.stats["429"] == 1


def test_request_body_is_drained_on_early_replies(crm_token: str) -> None:
    # One keep-alive connection: a large POST refused with 401, then 429, must not corrupt the next request.
    big = {"inputs": [{"id": str(i), "properties": {"subject": "x" * 2000}} for i in range(100)]}
    with DemoCRM(token=crm_token, seed=0, rate_limit=2, window_s=30.0) as server:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=server.url, limits=limits, timeout=10.0) as c:
            auth = {"Authorization": f"Bearer {crm_token}"}
            assert c.post("/crm/v3/objects/tickets/batch/update", json=big).status_code == 401
            assert c.get("/crm/v3/objects/tickets?limit=1", headers=auth).status_code == 200
            assert c.get("/crm/v3/objects/tickets?limit=1", headers=auth).status_code == 200
            assert c.post("/crm/v3/objects/tickets/batch/update", json=big, headers=auth).status_code == 429
            final = c.post("/crm/v3/objects/tickets/search", json={"limit": 1}, headers=auth)
            assert final.status_code == 200 and final.json()["total"] >= 600


def test_file_store_is_durable_and_not_reseeded(tmp_path: Path, crm_api: ApiClient, crm_token: str) -> None:
    db = tmp_path / "crm.sqlite"
    with DemoCRM(token=crm_token, db=db, seed=0, rate_limit=None) as server, crm_api(server) as c:
        first = c.get("/crm/v3/objects/companies?limit=1").json()["results"][0]
        c.patch(f"/crm/v3/objects/companies/{first['id']}", json={"properties": {"city": "Reykjavik"}})
    with DemoCRM(token=crm_token, db=db, seed=0, rate_limit=None) as server, crm_api(server) as c:
        again = c.get(f"/crm/v3/objects/companies/{first['id']}?properties=city").json()
        assert again["properties"]["city"] == "Reykjavik"
        assert c.get("/healthz").json()["objects"]["companies"] == 50


def test_unusable_db_path_is_a_clear_error(crm_token: str) -> None:
    from aikit.exceptions import ConfigError

    with pytest.raises(ConfigError, match="cannot open the demo CRM database"):
        DemoCRM(token=crm_token, db="/proc/no-such-dir/crm.sqlite")
