"""Webhooks from the demo CRM: signed JSON arrays (checked with the official SDK), retries, admin API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aikit._serving import AppThread
from aikit.exceptions import ConfigError
from aikit.local.crm import DemoCRM

#: The ``crm_api`` fixture (tests/local/crm/conftest.py): ``crm_api(server, token=None)`` -> client.
ApiClient = Callable[..., httpx.Client]

Signature = pytest.importorskip("hubspot.utils.signature").Signature


class Receiver:
    """A real HTTP endpoint that records deliveries; it can fail the first N attempts or be slow."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.fail_first, self.delay_s = fail_first, delay_s
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()

        async def hook(request: Request) -> Response:
            body = (await request.body()).decode()
            with self.lock:
                self.seen.append({"url": str(request.url), "headers": dict(request.headers), "body": body})
                failing = len(self.seen) <= self.fail_first
            if self.delay_s:
                import asyncio

                await asyncio.sleep(self.delay_s)
            return Response(status_code=503 if failing else 204)

        self.thread = AppThread(Starlette(routes=[Route("/hooks", hook, methods=["POST"])]), name="receiver")

    @property
    def url(self) -> str:
        return self.thread.url + "/hooks"

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.seen) >= count:
                    return list(self.seen)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} deliveries, got {len(self.seen)}")

    def wait_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if sum(len(json.loads(d["body"])) for d in self.seen) >= count:
                    return list(self.seen)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} events, got {self.seen}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with r.thread:
        yield r


def events(delivery: dict[str, Any]) -> list[dict[str, Any]]:
    data = json.loads(delivery["body"])
    assert isinstance(data, list)
    return data


def test_v3_signature_verifies_with_the_official_helper(
    crm: DemoCRM, receiver: Receiver, crm_api: ApiClient
) -> None:
    subs = crm.subscribe(
        receiver.url, ["ticket.creation", "contact.propertyChange"], client_secret="app-secret-1"
    )
    assert [s["eventType"] for s in subs] == ["ticket.creation", "contact.propertyChange"]
    with crm_api(crm) as c:
        made = c.post(
            "/crm/v3/objects/tickets",
            json={"properties": {"subject": "Webhook me", "hs_pipeline_stage": "1"}},
        ).json()
        contact = c.get("/crm/v3/objects/contacts?limit=1").json()["results"][0]
        c.patch(
            f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"jobtitle": "Chief Tester"}}
        )
    seen = receiver.wait_events(2)
    all_events = [e for d in seen for e in events(d)]
    creation = next(e for e in all_events if e["subscriptionType"] == "ticket.creation")
    change = next(e for e in all_events if e["subscriptionType"] == "contact.propertyChange")
    assert creation["objectId"] == int(made["id"]) and creation["attemptNumber"] == 0
    assert change["propertyName"] == "jobtitle" and change["propertyValue"] == "Chief Tester"
    assert {"eventId", "subscriptionId", "portalId", "appId", "occurredAt", "changeSource"} <= set(change)
    for d in seen:
        h = d["headers"]
        assert d["url"] == receiver.url
        assert Signature.is_valid(
            signature=h["x-hubspot-signature-v3"],
            client_secret="app-secret-1",
            request_body=d["body"],
            http_uri=d["url"],
            http_method="POST",
            signature_version="v3",
            timestamp=h["x-hubspot-request-timestamp"],
        )
        assert not Signature.is_valid(
            signature=h["x-hubspot-signature-v3"],
            client_secret="wrong-secret",
            request_body=d["body"],
            http_uri=d["url"],
            signature_version="v3",
            timestamp=h["x-hubspot-request-timestamp"],
        )
        assert "x-hubspot-signature" not in h


def test_v1_signature_when_asked(crm: DemoCRM, receiver: Receiver, crm_api: ApiClient) -> None:
    crm.subscribe(receiver.url, "company.deletion", client_secret="s1", signature_version="v1")
    with crm_api(crm) as c:
        cid = c.get("/crm/v3/objects/companies?limit=1").json()["results"][0]["id"]
        assert c.delete(f"/crm/v3/objects/companies/{cid}").status_code == 204
    d = receiver.wait(1)[0]
    assert events(d)[0]["subscriptionType"] == "company.deletion"
    assert d["headers"]["x-hubspot-signature-version"] == "v1"
    assert Signature.is_valid(d["headers"]["x-hubspot-signature"], "s1", d["body"], signature_version="v1")
    assert Signature.is_valid(
        d["headers"]["x-hubspot-signature-v3"],
        "s1",
        d["body"],
        d["url"],
        signature_version="v3",
        timestamp=d["headers"]["x-hubspot-request-timestamp"],
    )


def test_failed_deliveries_are_retried_with_backoff(crm_api: ApiClient, crm_token: str) -> None:
    r = Receiver(fail_first=2)
    with r.thread, DemoCRM(token=crm_token, seed=None, webhook_backoff_s=0.05) as crm:
        crm.subscribe(r.url, ["contact.creation"], client_secret="s")
        with crm_api(crm) as c:
            c.post("/crm/v3/objects/contacts", json={"properties": {"email": "retry@x.example"}})
        seen = r.wait(3)
        assert [events(d)[0]["attemptNumber"] for d in seen] == [0, 1, 2]
        assert len({events(d)[0]["eventId"] for d in seen}) == 1
        crm.flush_webhooks()
        assert [x["status"] for x in crm.webhook_deliveries] == [503, 503, 204]


def test_delivery_never_blocks_the_api_request(crm_api: ApiClient, crm_token: str) -> None:
    slow = Receiver(delay_s=2.0)
    with slow.thread, DemoCRM(token=crm_token, seed=None) as crm:
        crm.subscribe(slow.url, ["contact.creation"], client_secret="s")
        with crm_api(crm) as c:
            t0 = time.perf_counter()
            for i in range(3):
                r = c.post("/crm/v3/objects/contacts", json={"properties": {"email": f"p{i}@x.example"}})
                assert r.status_code == 201
            assert time.perf_counter() - t0 < 1.0
        assert sum(len(events(d)) for d in slow.wait(1)) >= 1


def test_admin_endpoints_follow_the_webhooks_api(
    crm: DemoCRM, receiver: Receiver, crm_api: ApiClient
) -> None:
    with crm_api(crm) as c:
        assert c.get("/webhooks/v3/7/settings").status_code == 404
        put = c.put("/webhooks/v3/7/settings", json={"targetUrl": receiver.url, "clientSecret": "adm"})
        assert put.status_code == 200 and put.json()["targetUrl"] == receiver.url
        sub = c.post(
            "/webhooks/v3/7/subscriptions",
            json={"eventType": "ticket.propertyChange", "propertyName": "subject", "active": True},
        )
        assert sub.status_code == 201 and sub.json()["propertyName"] == "subject"
        assert c.post("/webhooks/v3/7/subscriptions", json={"eventType": "ticket.explode"}).status_code == 400
        assert [s["id"] for s in c.get("/webhooks/v3/7/subscriptions").json()["results"]] == [
            sub.json()["id"]
        ]
        tid = c.get("/crm/v3/objects/tickets?limit=1").json()["results"][0]["id"]
        c.patch(
            f"/crm/v3/objects/tickets/{tid}",
            json={"properties": {"hs_ticket_priority": "LOW", "subject": "Renamed"}},
        )
        got = events(receiver.wait(1)[0])
        assert [(e["propertyName"], e["propertyValue"], e["appId"]) for e in got] == [
            ("subject", "Renamed", 7)
        ]
        assert c.delete(f"/webhooks/v3/7/subscriptions/{sub.json()['id']}").status_code == 204
        assert c.get("/webhooks/v3/7/subscriptions").json()["results"] == []
        assert httpx.get(crm.url + "/webhooks/v3/7/subscriptions").status_code == 401
    with pytest.raises(ConfigError):
        crm.subscribe(receiver.url, ["ticket.nope"], client_secret="s")
