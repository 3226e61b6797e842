"""``crm.tools()`` against the demo CRM: search and get, the update's dry-run diff before any write,
and the toolset driven by ``ai.run`` through the fake provider."""

from __future__ import annotations

import asyncio

import pytest

import aikit
from aikit.client.tools import tools_of
from aikit.local.crm import DemoCRM
from aikit.testing import FakeProvider
from tests.conftest import FAKE_KEY


def test_read_only_tools_search_and_get(crm_ro: DemoCRM, crm_token: str) -> None:
    hub = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    tools = hub.tools()
    assert [t.__name__ for t in tools] == ["search_records", "get_record"]
    search, get = tools
    found = asyncio.run(search("tickets", where={"hs_ticket_priority": "HIGH"}, limit=5))
    assert len(found) == 5 and all(r["hs_ticket_priority"] == "HIGH" for r in found)
    one = asyncio.run(get("tickets", found[0]["id"]))
    assert isinstance(one, dict) and one["id"] == found[0]["id"]
    assert "no tickets record" in asyncio.run(get("tickets", "999999999"))
    with pytest.raises(ValueError, match="object_type"):
        asyncio.run(search("invoices"))
    (spec,) = [t for t in tools_of(tools) if t.name == "search_records"]
    assert spec.parameters["properties"]["object_type"]["enum"] == list(DEFAULT)


def test_update_shows_the_diff_before_writing(crm: DemoCRM, crm_token: str) -> None:
    hub = aikit.HubSpot(token=crm_token, base_url=crm.url)
    search, get, update = hub.tools(read_only=False)
    ticket = asyncio.run(search("tickets", where={"hs_ticket_priority": "LOW"}, limit=1))[0]
    dry = asyncio.run(update("tickets", ticket["id"], {"hs_ticket_priority": "URGENT"}))
    assert dry["dry_run"]
    assert dry["changes"] == [{"property": "hs_ticket_priority", "old": "LOW", "new": "URGENT"}]
    assert asyncio.run(get("tickets", ticket["id"]))["hs_ticket_priority"] == "LOW"  # nothing written yet
    done = asyncio.run(update("tickets", ticket["id"], {"hs_ticket_priority": "URGENT"}, confirm=True))
    assert not done["dry_run"]
    assert asyncio.run(get("tickets", ticket["id"]))["hs_ticket_priority"] == "URGENT"


def test_ai_run_drives_the_crm_tools(crm_ro: DemoCRM, crm_token: str, fake_server: FakeProvider) -> None:
    fake_server.reset()
    hub = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    ai = aikit.AI("compat:gpt-4o-mini", base_url=fake_server.base_url, api_key=FAKE_KEY, cache=False)
    result = ai.run("search_records for the unhappy tickets", tools=hub.tools(), max_steps=2)
    (step,) = result.steps
    assert step.call.name == "search_records" and step.call.arguments["object_type"] in DEFAULT
    assert step.ok, step.error
    assert crm_token not in result.messages[2]["content"]


DEFAULT = ("tickets", "contacts", "companies", "deals")
