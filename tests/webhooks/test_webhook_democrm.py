"""End to end with the demo CRM playing HubSpot: signed v3 batches in, one handled event per ticket."""

from __future__ import annotations

import httpx

from aikit.local.crm import DemoCRM
from aikit.webhooks.handlers import Event
from aikit.webhooks.listener import WebhookListener


def test_demo_crm_deliveries_are_verified_stored_and_handled(hook: WebhookListener) -> None:
    secret = "demo-client-secret-0123"
    hook.add_source("crm", scheme="hubspot", secret=secret)
    handled: list[int] = []

    @hook.on("crm", "ticket.creation")
    def on_ticket(event: Event) -> int:
        handled.append(event.payload["objectId"])
        return int(event.payload["objectId"])

    with DemoCRM(token="t0k", rate_limit=None, search_per_second=None) as crm:
        crm.subscribe(hook.url_for("crm"), ["ticket.creation"], secret)
        for i in range(3):
            httpx.post(
                f"{crm.url}/crm/v3/objects/tickets",
                json={"properties": {"subject": f"ticket {i}", "hs_pipeline_stage": "1"}},
                headers={"Authorization": "Bearer t0k"},
            ).raise_for_status()
        crm.flush_webhooks()
        assert hook.wait_idle(20)
        deliveries = list(crm.dispatcher.deliveries)
    df = hook.events(source="crm")
    assert len(df) == 3 and set(df["event_type"]) == {"ticket.creation"}
    assert (df["status"] == "done").all() and sorted(handled) == sorted(
        df["payload"].map(lambda p: p["objectId"])
    )
    assert all(d["status"] == 200 for d in deliveries)
    assert hook.stats()["sources"]["crm"].get("rejected", 0) == 0
