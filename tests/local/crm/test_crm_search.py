"""Search over HTTP: every operator, AND/OR, sorts, query, paging by offset and the documented limits.

Expected results are computed in Python from a full listing of the same server, never hard-coded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from aikit.local.crm import DemoCRM

#: The ``crm_api`` fixture (tests/local/crm/conftest.py): ``crm_api(server, token=None)`` -> client.
ApiClient = Callable[..., httpx.Client]

Props = dict[str, str | None]


@pytest.fixture(scope="module")
def everything(crm_ro: DemoCRM, crm_api: ApiClient) -> dict[str, list[tuple[str, Props]]]:
    out: dict[str, list[tuple[str, Props]]] = {}
    props = {
        "tickets": "subject,content,hs_ticket_priority,hs_pipeline_stage,closed_date,createdate",
        "companies": "name,numberofemployees,city",
    }
    with crm_api(crm_ro) as c:
        for t, names in props.items():
            rows, after = [], None
            while True:
                params = {"limit": 100, "properties": names, **({"after": after} if after else {})}
                body = c.get(f"/crm/v3/objects/{t}", params=params).json()
                rows += [(o["id"], o["properties"]) for o in body["results"]]
                if "paging" not in body:
                    break
                after = body["paging"]["next"]["after"]
            out[t] = rows
    return out


def search_all(c: httpx.Client, t: str, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []
    after = None
    total = -1
    for _ in range(100):
        page = c.post(
            f"/crm/v3/objects/{t}/search", json={**body, "limit": 200, **({"after": after} if after else {})}
        )
        assert page.status_code == 200, page.text
        data = page.json()
        total = data["total"]
        results += data["results"]
        if "paging" not in data:
            break
        after = data["paging"]["next"]["after"]
        assert after == str(len(results))
    return total, results


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


CASES: list[tuple[str, str, dict[str, Any], Callable[[Props], bool]]] = [
    (
        "EQ",
        "tickets",
        {"propertyName": "hs_ticket_priority", "operator": "EQ", "value": "urgent"},
        lambda p: p["hs_ticket_priority"] == "URGENT",
    ),
    (
        "NEQ",
        "tickets",
        {"propertyName": "hs_pipeline_stage", "operator": "NEQ", "value": "4"},
        lambda p: p["hs_pipeline_stage"] != "4",
    ),
    (
        "IN",
        "tickets",
        {"propertyName": "hs_ticket_priority", "operator": "IN", "values": ["HIGH", "URGENT"]},
        lambda p: p["hs_ticket_priority"] in ("HIGH", "URGENT"),
    ),
    (
        "NOT_IN",
        "tickets",
        {"propertyName": "hs_ticket_priority", "operator": "NOT_IN", "values": ["LOW"]},
        lambda p: p["hs_ticket_priority"] != "LOW",
    ),
    (
        "GT number",
        "companies",
        {"propertyName": "numberofemployees", "operator": "GT", "value": "100"},
        lambda p: int(p["numberofemployees"] or 0) > 100,
    ),
    (
        "LTE number",
        "companies",
        {"propertyName": "numberofemployees", "operator": "LTE", "value": "40"},
        lambda p: int(p["numberofemployees"] or 0) <= 40,
    ),
    (
        "LT date",
        "tickets",
        {"propertyName": "createdate", "operator": "LT", "value": str(ms("2025-03-01T00:00:00Z"))},
        lambda p: ms(p["createdate"] or "") < ms("2025-03-01T00:00:00Z"),
    ),
    (
        "GTE date iso",
        "tickets",
        {"propertyName": "createdate", "operator": "GTE", "value": "2025-06-01T00:00:00Z"},
        lambda p: ms(p["createdate"] or "") >= ms("2025-06-01T00:00:00Z"),
    ),
    (
        "BETWEEN",
        "tickets",
        {
            "propertyName": "createdate",
            "operator": "BETWEEN",
            "value": str(ms("2025-02-01T00:00:00Z")),
            "highValue": str(ms("2025-02-15T00:00:00Z")),
        },
        lambda p: ms("2025-02-01T00:00:00Z") <= ms(p["createdate"] or "") <= ms("2025-02-15T00:00:00Z"),
    ),
    (
        "HAS_PROPERTY",
        "tickets",
        {"propertyName": "closed_date", "operator": "HAS_PROPERTY"},
        lambda p: bool(p.get("closed_date")),
    ),
    (
        "NOT_HAS_PROPERTY",
        "tickets",
        {"propertyName": "closed_date", "operator": "NOT_HAS_PROPERTY"},
        lambda p: not p.get("closed_date"),
    ),
    (
        "CONTAINS_TOKEN",
        "tickets",
        {"propertyName": "subject", "operator": "CONTAINS_TOKEN", "value": "Invoice"},
        lambda p: "invoice" in (p["subject"] or "").lower().replace(":", " ").split(),
    ),
    (
        "CONTAINS_TOKEN wildcard",
        "tickets",
        {"propertyName": "content", "operator": "CONTAINS_TOKEN", "value": "refund*"},
        lambda p: any(w.startswith("refund") for w in (p["content"] or "").lower().replace("?", " ").split()),
    ),
    (
        "NOT_CONTAINS_TOKEN",
        "tickets",
        {"propertyName": "subject", "operator": "NOT_CONTAINS_TOKEN", "value": "dashboard"},
        lambda p: "dashboard" not in (p["subject"] or "").lower().split(),
    ),
]


@pytest.mark.parametrize(("name", "t", "flt", "expect"), CASES, ids=[c[0] for c in CASES])
def test_operator(
    crm_ro: DemoCRM,
    everything: dict[str, list[tuple[str, Props]]],
    name: str,
    t: str,
    flt: dict[str, Any],
    expect: Callable[[Props], bool],
    crm_api: ApiClient,
) -> None:
    wanted = {i for i, p in everything[t] if expect(p)}
    assert 0 < len(wanted) < len(everything[t]), f"{name}: the case must split the data"
    with crm_api(crm_ro) as c:
        total, results = search_all(c, t, {"filterGroups": [{"filters": [flt]}]})
    assert total == len(results) == len(wanted)
    assert {r["id"] for r in results} == wanted


def test_and_within_group_or_across_groups(
    crm_ro: DemoCRM, everything: dict[str, list[tuple[str, Props]]], crm_api: ApiClient
) -> None:
    urgent_open = {
        "filters": [
            {"propertyName": "hs_ticket_priority", "operator": "EQ", "value": "URGENT"},
            {"propertyName": "hs_pipeline_stage", "operator": "NEQ", "value": "4"},
        ]
    }
    low = {"filters": [{"propertyName": "hs_ticket_priority", "operator": "EQ", "value": "LOW"}]}
    wanted = {
        i
        for i, p in everything["tickets"]
        if (p["hs_ticket_priority"] == "URGENT" and p["hs_pipeline_stage"] != "4")
        or p["hs_ticket_priority"] == "LOW"
    }
    with crm_api(crm_ro) as c:
        total, results = search_all(c, "tickets", {"filterGroups": [urgent_open, low]})
    assert {r["id"] for r in results} == wanted and total == len(wanted)


def test_sorts_query_and_properties(
    crm_ro: DemoCRM, everything: dict[str, list[tuple[str, Props]]], crm_api: ApiClient
) -> None:
    with crm_api(crm_ro) as c:
        body = {
            "sorts": [{"propertyName": "numberofemployees", "direction": "DESCENDING"}],
            "properties": ["name"],
        }
        _, results = search_all(c, "companies", body)
        sizes = {i: int(p["numberofemployees"] or 0) for i, p in everything["companies"]}
        got = [sizes[r["id"]] for r in results]
        assert got == sorted(got, reverse=True) and len(got) == 50
        assert set(results[0]["properties"]) == {"name", "hs_object_id", "createdate", "hs_lastmodifieddate"}
        _, asc = search_all(c, "companies", {"sorts": ["numberofemployees"]})  # the spec's string form
        assert [sizes[r["id"]] for r in asc] == sorted(got)
        _, hits = search_all(c, "tickets", {"query": "vat number"})
        expect = {
            i
            for i, p in everything["tickets"]
            if "vat number" in " ".join(v or "" for v in p.values()).lower()
        }
        assert {r["id"] for r in hits} == expect and expect


def test_search_limits(crm_ro: DemoCRM, crm_api: ApiClient) -> None:
    with crm_api(crm_ro) as c:

        def status(body: dict[str, Any]) -> int:
            return c.post("/crm/v3/objects/tickets/search", json=body).status_code

        assert status({"limit": 200}) == 200
        assert status({"limit": 201}) == 400
        assert status({"after": "10000"}) == 400
        assert status({"filterGroups": [{"filters": []}] * 6}) == 400
        flt = {"propertyName": "subject", "operator": "HAS_PROPERTY"}
        assert status({"filterGroups": [{"filters": [flt] * 11}]}) == 400
        assert status({"filterGroups": [{"filters": [flt] * 9}] * 3}) == 400
        assert (
            status(
                {
                    "filterGroups": [
                        {"filters": [{"propertyName": "subject", "operator": "LIKE", "value": "x"}]}
                    ]
                }
            )
            == 400
        )
        first = c.post("/crm/v3/objects/tickets/search", json={"limit": 5}).json()
        assert first["paging"]["next"]["after"] == "5" and "link" not in first["paging"]["next"]
        assert (
            "x-hubspot-ratelimit-remaining" not in c.post("/crm/v3/objects/tickets/search", json={}).headers
        )


def test_search_has_its_own_per_second_bucket() -> None:
    with (
        DemoCRM(token="t", seed=None, search_per_second=2, rate_limit=100) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as c,
    ):
        codes = [c.post("/crm/v3/objects/tickets/search", json={}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert c.get("/crm/v3/objects/tickets").status_code == 200  # the ten-second window is separate


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_range_filters_on_ids_and_dates_match_a_full_scan(
    everything: dict[str, list[tuple[str, Props]]], crm_ro: DemoCRM, crm_api: ApiClient
) -> None:
    """The server narrows a search to the records inside its tightest range filter: same results."""
    rows = everything["tickets"]
    stamps = sorted(_ms(p["createdate"] or "") for _, p in rows)
    lo, hi = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    mid_id = int(rows[len(rows) // 3][0])
    cases = [
        (
            [{"propertyName": "createdate", "operator": "GTE", "value": str(lo)},
             {"propertyName": "createdate", "operator": "LTE", "value": str(hi)},
             {"propertyName": "hs_object_id", "operator": "GT", "value": str(mid_id)}],
            lambda i, p: lo <= _ms(p["createdate"]) <= hi and int(i) > mid_id,
        ),
        (
            [{"propertyName": "createdate", "operator": "BETWEEN", "value": str(lo), "highValue": str(hi)},
             {"propertyName": "hs_ticket_priority", "operator": "NEQ", "value": "LOW"}],
            lambda i, p: lo <= _ms(p["createdate"]) <= hi and p["hs_ticket_priority"] != "LOW",
        ),
        (
            [{"propertyName": "createdate", "operator": "EQ", "value": rows[5][1]["createdate"]}],
            lambda i, p: p["createdate"] == rows[5][1]["createdate"],
        ),
        (
            [{"propertyName": "hs_object_id", "operator": "LT", "value": str(mid_id)},
             {"propertyName": "createdate", "operator": "GT", "value": str(stamps[0])}],
            lambda i, p: int(i) < mid_id and _ms(p["createdate"]) > stamps[0],
        ),
    ]  # fmt: skip
    with crm_api(crm_ro) as c:
        for filters, keep in cases:
            total, got = search_all(c, "tickets", {"filterGroups": [{"filters": filters}]})
            want = [i for i, p in rows if keep(i, p)]
            assert [r["id"] for r in got] == want and total == len(want), filters
        # OR of two ranges is not narrowed and still exact
        groups = [{"filters": [cases[0][0][2]]}, {"filters": [cases[3][0][0]]}]
        _total, got = search_all(c, "tickets", {"filterGroups": groups})
        assert len(got) == len(rows) - 1  # every id except mid_id itself
