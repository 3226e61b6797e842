"""Pushes that refuse bad values, batches that are all-or-nothing, "unknown" rows, safe paths.

Against the real demo CRM over loopback: values HubSpot would refuse fail cell by cell before any
write (and the demo CRM refuses them too when sent directly); a batch interrupted half-way leaves
nothing written; a batch sent without an answer is reported as unknown and a re-push resolves it.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

import aikit
from aikit.client.retry import RetryPolicy
from aikit.exceptions import ConfigError, CRMConnectionError
from aikit.local.crm import DemoCRM

FAST = RetryPolicy(max_attempts=2, deadline_s=10.0, base_s=0.01, cap_s=0.05)


def values(server: DemoCRM, t: str, ids: list[str], prop: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as c:
        body = c.post(
            f"/crm/v3/objects/{t}/batch/read", json={"inputs": [{"id": i} for i in ids], "properties": [prop]}
        ).json()
    return {r["id"]: r["properties"].get(prop) for r in body["results"]}


def test_push_fails_bad_cells_with_reasons_and_writes_the_good_ones(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    ids = hs.fetch("companies", ["name"], limit=8)["id"].tolist()
    before = values(crm, "companies", ids, "numberofemployees")
    frame = pd.DataFrame(
        {
            "id": ids,
            "numberofemployees": pd.Series(
                [math.inf, -math.inf, "abc", "12,5", 42, "7.5", None, 3.0], dtype=object
            ),
            "name": pd.Series(
                [[1, 2], {"a": 1}, "ok\ud800", "x" * 70_000, "Fine Co", "Also fine", "", None], dtype=object
            ),
        }
    )
    report = hs.push("companies", frame)
    failed = {(r.id, r.property): (r.category, r.error) for r in report.failed.itertuples()}
    codes = {cell: code for cell, (code, _) in failed.items()}
    assert codes == {
        (ids[0], "numberofemployees"): "INVALID_DECIMAL",
        (ids[1], "numberofemployees"): "INVALID_DECIMAL",
        (ids[2], "numberofemployees"): "INVALID_DECIMAL",
        (ids[3], "numberofemployees"): "INVALID_DECIMAL",
        (ids[0], "name"): "INVALID_TYPE",
        (ids[1], "name"): "INVALID_TYPE",
        (ids[2], "name"): "INVALID_TEXT",
        (ids[3], "name"): "VALUE_TOO_LONG",
    }
    assert "12.5, not 12,5" in failed[(ids[3], "numberofemployees")][1]
    assert "lone surrogate" in failed[(ids[2], "name")][1]
    assert report.failed_ids == ids[:4] and report.updated == 4 and report.sent == 4
    after = values(crm, "companies", ids, "numberofemployees")
    names = values(crm, "companies", ids, "name")
    assert [after[i] for i in ids[:4]] == [before[i] for i in ids[:4]]  # nothing bad was stored
    assert (after[ids[4]], after[ids[5]], after[ids[7]]) == ("42", "7.5", "3")
    assert (names[ids[4]], names[ids[5]], names[ids[6]]) == ("Fine Co", "Also fine", "")
    assert "[1, 2]" not in str(names.values())


def test_push_checks_dates_booleans_and_options_too(crm: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    for spec in (
        {"name": "ai_due", "type": "date"},
        {"name": "ai_seen_at", "type": "datetime"},
        {"name": "ai_flag", "type": "bool"},
    ):
        hs.create_property("tickets", spec["name"], type=spec["type"])
    ids = hs.fetch("tickets", ["subject"], limit=3)["id"].tolist()
    frame = pd.DataFrame(
        {
            "id": ids,
            "ai_due": [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-01 10:00"), "2025-02-30"],
            "ai_seen_at": [pd.Timestamp("2025-03-01 10:00", tz="UTC"), "tomorrow", "2025-03-01T10:00:00Z"],
            "ai_flag": [True, "yes", "FALSE"],
            "hs_ticket_priority": ["HIGH", "high", ["LOW"]],
        }
    )
    report = hs.push("tickets", frame)
    codes = {(r.id, r.property): r.category for r in report.failed.itertuples()}
    assert codes == {
        (ids[1], "ai_due"): "INVALID_DATE",
        (ids[2], "ai_due"): "INVALID_DATE",
        (ids[1], "ai_seen_at"): "INVALID_DATETIME",
        (ids[1], "ai_flag"): "INVALID_BOOL",
        (ids[1], "hs_ticket_priority"): "INVALID_OPTION",
    }
    assert values(crm, "tickets", ids, "ai_due")[ids[0]] == "2025-03-01"
    assert values(crm, "tickets", ids, "ai_flag")[ids[2]] == "false"
    assert values(crm, "tickets", ids, "hs_ticket_priority")[ids[2]] == "LOW"


@pytest.mark.parametrize(
    ("prop", "value", "code"),
    [
        ("numberofemployees", "inf", "INVALID_DECIMAL"),
        ("numberofemployees", "12,5", "INVALID_DECIMAL"),
        ("numberofemployees", "abc", "INVALID_DECIMAL"),
        ("name", "y" * 65_537, "VALUE_TOO_LONG"),
        ("name", ["a", "list"], "INVALID_TYPE"),
        ("lifecyclestage", "nope", "INVALID_OPTION"),
    ],
)
def test_the_demo_crm_refuses_what_hubspot_refuses(crm_ro: DemoCRM, prop: str, value: Any, code: str) -> None:
    with httpx.Client(base_url=crm_ro.url, headers={"Authorization": f"Bearer {crm_ro.token}"}) as c:
        first = c.get("/crm/v3/objects/companies", params={"limit": 2, "properties": prop}).json()["results"]
        inputs = [
            {"id": first[0]["id"], "properties": {prop: "1"}},
            {"id": first[1]["id"], "properties": {prop: value}},
        ]
        r = c.post("/crm/v3/objects/companies/batch/update", json={"inputs": inputs})
        after = c.get(f"/crm/v3/objects/companies/{first[0]['id']}", params={"properties": prop}).json()
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert [e["code"] for e in r.json()["errors"]] == [code]
    assert after["properties"][prop] == first[0]["properties"][prop]  # the valid row was not written either


def test_a_batch_that_breaks_half_way_leaves_nothing_written(crm: DemoCRM) -> None:
    ids = [str(i) for i in range(1001, 1041)]
    real_update = crm.store.update
    calls = {"n": 0}

    def update_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 20:
            raise OSError("disk full")  # the CRM fails in the middle of the batch
        return real_update(*args, **kwargs)

    crm.store.update = update_then_fail  # type: ignore[method-assign]
    inputs = [{"id": i, "properties": {"city": f"Batchtown {i}"}} for i in ids]
    with httpx.Client(base_url=crm.url, headers={"Authorization": f"Bearer {crm.token}"}) as c:
        r = c.post("/crm/v3/objects/companies/batch/update", json={"inputs": inputs})
    crm.store.update = real_update  # type: ignore[method-assign]
    assert r.status_code == 500 and calls["n"] == 20
    assert not [v for v in values(crm, "companies", ids, "city").values() if str(v).startswith("Batchtown")]


class DyingCRM:
    """A loopback TCP proxy in front of the demo CRM that dies after forwarding the Nth batch/update.

    The request reaches the CRM (which commits it), the answer is thrown away and the connection cut;
    from then on every connection is refused. ``revive()`` lets requests through again.
    """

    def __init__(self, target_port: int, die_on: int) -> None:
        self.target, self.die_on, self.updates = target_port, die_on, 0
        self.dead = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def revive(self) -> None:
        self.dead.clear()
        self.die_on = 10**9

    def close(self) -> None:
        self._stop.set()
        self.server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.dead.is_set():
                client.close()  # the CRM is gone
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._relay(client)
        except OSError:  # an idle keep-alive connection timed out, or the test is over
            return

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target))
        with client, upstream:
            client.settimeout(10)
            while True:
                request = _read_request(client)
                if not request:
                    return
                upstream.sendall(request)
                response = _read_response(upstream)
                if b"/batch/update" in request.split(b"\r\n", 1)[0]:
                    self.updates += 1
                    if self.updates >= self.die_on:
                        self.dead.set()
                if self.dead.is_set():
                    return  # applied by the CRM, answered to nobody
                client.sendall(response)


def _read_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


_read_request = _read_response = _read_message


@pytest.fixture
def dying(crm: DemoCRM) -> Iterator[DyingCRM]:
    proxy = DyingCRM(crm.port, die_on=2)
    yield proxy
    proxy.close()


def test_a_batch_sent_without_an_answer_is_unknown_and_a_repush_resolves_it(
    crm: DemoCRM, crm_token: str, dying: DyingCRM
) -> None:
    direct = aikit.HubSpot(token=crm_token, base_url=crm.url)
    ids = direct.fetch("companies", ["city"], limit=30)["id"].tolist()
    frame = pd.DataFrame({"id": ids, "city": [f"Unknown-city {i}" for i in ids]})
    hs = aikit.HubSpot(token=crm_token, base_url=dying.url, retry=FAST)
    report = hs.push("companies", frame, batch_size=10)
    assert report.updated == 10 and report.unknown_ids == ids[10:20] and not report.ok
    assert (
        set(report.unknown["category"]) == {"NO_ANSWER"}
        and "may have been applied" in report.unknown["error"][0]
    )
    assert report.failed_ids == ids[20:] and set(report.failed["category"]) == {"NOT_SENT"}
    assert "10 unknown" in repr(report)
    stored = values(crm, "companies", ids, "city")
    assert all(stored[i] == f"Unknown-city {i}" for i in ids[:20])  # the unanswered batch was applied
    dying.revive()
    again = hs.push("companies", frame, batch_size=10)
    assert again.ok and again.unchanged == 20 and again.updated == 10 and again.unknown_ids == []


def test_a_batch_that_never_reached_the_crm_is_failed_not_unknown(crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url="http://127.0.0.1:9", retry=FAST)
    with pytest.raises(CRMConnectionError) as info:  # nothing can even be read: the push stops at once
        hs.push("companies", pd.DataFrame({"id": ["1"], "city": ["x"]}))
    assert not info.value.maybe_applied and "gave up after 2 attempts" in str(info.value)


def test_an_object_type_cannot_change_the_url_path(crm_ro: DemoCRM, crm_token: str) -> None:
    hs = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    before = crm_ro.stats["requests"]
    for bad in ("../properties/tickets", "tickets/search", "tickets?archived=true", "", "con tacts"):
        with pytest.raises(ConfigError, match="not a CRM object type"):
            hs.fetch(bad)
        with pytest.raises(ConfigError, match="not a CRM object type"):
            hs.push(bad, pd.DataFrame({"id": ["1"], "x": [1]}))
    assert crm_ro.stats["requests"] == before  # refused before any request
    with pytest.raises(aikit.CRMError) as info:  # an object type id is a valid spelling: the CRM decides
        hs.fetch("2-0000", limit=1)
    assert info.value.status == 400 and not isinstance(info.value, ConfigError)
