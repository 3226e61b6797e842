"""``sf.tools()`` against the demo org over HTTPS: search by field filters, get by Id, and the update's
dry-run diff before any write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aikit.client.tools import tools_of
from aikit.local.salesforce import DemoSalesforce


def test_read_only_tools_search_and_get(org_ro: DemoSalesforce, client: Any) -> None:
    sf = client(org_ro)
    tools = sf.tools()
    assert [t.__name__ for t in tools] == ["search_records", "get_record"]
    search, get = tools
    found = asyncio.run(search("Case", where={"Priority": "High"}, limit=5))
    assert len(found) == 5 and all(r["Priority"] == "High" for r in found)
    one = asyncio.run(get("Case", found[0]["Id"]))
    assert isinstance(one, dict) and one["Id"] == found[0]["Id"]
    with pytest.raises(ValueError, match="object_type"):
        asyncio.run(search("Invoice"))
    with pytest.raises(ValueError, match="free text"):
        asyncio.run(search("Case", query="unhappy"))
    (spec,) = [t for t in tools_of(tools) if t.name == "search_records"]
    enum = spec.parameters["properties"]["object_type"]["enum"]
    assert enum == ["Case", "Contact", "Account", "Opportunity"]


def test_update_shows_the_diff_before_writing(org: DemoSalesforce, client: Any) -> None:
    sf = client(org)
    search, get, update = sf.tools(read_only=False)
    case = asyncio.run(search("Case", where={"Priority": "Low"}, limit=1))[0]
    dry = asyncio.run(update("Case", case["Id"], {"Priority": "High"}))
    assert dry["dry_run"]
    assert dry["changes"] == [{"property": "Priority", "old": "Low", "new": "High"}]
    assert asyncio.run(get("Case", case["Id"]))["Priority"] == "Low"  # nothing written yet
    done = asyncio.run(update("Case", case["Id"], {"Priority": "High"}, confirm=True))
    assert not done["dry_run"]
    assert asyncio.run(get("Case", case["Id"]))["Priority"] == "High"
