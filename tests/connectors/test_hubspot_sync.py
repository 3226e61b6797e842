"""Incremental sync against the demo CRM: past the search cap, only the changes, ties, deletions, state,
and a process killed mid-sync that the next run resumes without fetching a page twice or missing one."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import aikit
from aikit.connectors.sync_state import SyncState
from aikit.exceptions import ConfigError, SyncError
from aikit.local.crm import DemoCRM
from aikit.local.crm.bulk import add_tickets


@pytest.fixture
def big(crm_token: str) -> Iterator[DemoCRM]:
    """500 tickets over two years, 150 of them modified in the same millisecond; search cap 100."""
    with DemoCRM(token=crm_token, seed=None, search_cap=100) as server:
        add_tickets(server.store, 500, same_ms=150)
        yield server


def client(server: DemoCRM, token: str, **kwargs: object) -> aikit.HubSpot:
    return aikit.HubSpot(token=token, base_url=server.url, search_cap=server.config.search_cap, **kwargs)  # type: ignore[arg-type]


def test_full_sync_past_the_search_cap_misses_nothing(big: DemoCRM, crm_token: str) -> None:
    crm = client(big, crm_token)
    everything = set(crm.fetch("tickets", ["subject"], typed=False)["id"])
    with pytest.raises(aikit.CRMError):  # the naive way: one search, paged by offset, stops at the cap
        crm.fetch("tickets", ["subject"], where={"hs_lastmodifieddate": (">=", 0)})
    searched = big.stats["search"]
    frame, report = crm.sync("tickets", ["subject", "hs_ticket_priority"])
    assert frame["id"].is_unique and set(frame["id"]) == everything and len(frame) == 500
    assert report.full and report.delivered == report.fetched == report.expected == 500
    assert report.splits > 0 and report.slices > 1 and report.skipped == 0
    assert big.stats["429"] == 0  # paced to the search API's 5 requests per second
    assert big.stats["search"] - searched == report.requests
    assert list(frame.columns) == ["id", "subject", "hs_ticket_priority", "created_at", "updated_at"]
    assert str(frame["updated_at"].dtype) == "datetime64[ns, UTC]"
    again, second = crm.sync("tickets")
    assert again.empty and second.fetched == 0 and not second.full and second.previous is not None


def test_second_run_reads_only_the_changes_and_deletions(crm: DemoCRM, crm_token: str) -> None:
    hs = client(crm, crm_token)
    tickets, first = hs.sync("tickets", ["subject", "hs_ticket_priority"], deleted=True)
    assert len(tickets) == first.delivered >= 600 and first.deleted == []
    picked = tickets["id"].head(6).tolist()
    hs.push("tickets", pd.DataFrame({"id": picked[:5], "hs_ticket_priority": "URGENT", "subject": "changed"}))
    with httpx.Client(base_url=crm.url, headers={"Authorization": f"Bearer {crm_token}"}) as c:
        new = c.post(
            "/crm/v3/objects/tickets", json={"properties": {"subject": "brand new", "hs_pipeline_stage": "1"}}
        ).json()["id"]
        assert c.delete(f"/crm/v3/objects/tickets/{picked[5]}").status_code == 204
    changes, report = hs.sync("tickets", deleted=True)
    assert sorted(changes["id"]) == sorted([*picked[:5], new]) and report.deleted == [picked[5]]
    assert report.fetched == 6 and report.expected == 6 and not report.full
    assert set(changes.loc[changes["id"] != new, "subject"]) == {"changed"}
    third, after = hs.sync("tickets", deleted=True)
    assert (
        third.empty and after.deleted == [] and after.skipped == 6
    )  # the lookback overlap, not re-delivered


def test_sync_into_applies_changes_in_place(crm: DemoCRM, crm_token: str) -> None:
    hs = client(crm, crm_token)
    tickets, _ = hs.sync("tickets", ["subject", "hs_ticket_priority"])
    tickets["ai_label"] = "old analysis"
    first_id, last_id = tickets["id"].iloc[0], tickets["id"].iloc[-1]
    hs.push("tickets", pd.DataFrame({"id": [first_id], "subject": ["edited"]}))
    with httpx.Client(base_url=crm.url, headers={"Authorization": f"Bearer {crm_token}"}) as c:
        c.delete(f"/crm/v3/objects/tickets/{last_id}").raise_for_status()
    updated, report = hs.sync_into(tickets)  # object type, state and properties come from frame.attrs
    assert report.ids == [first_id] and report.deleted == [last_id]
    assert len(updated) == len(tickets) - 1 and updated["id"].iloc[0] == first_id
    row = updated.iloc[0]
    assert row["subject"] == "edited" and pd.isna(row["ai_label"])  # stale analysis is not kept
    assert (updated["ai_label"].iloc[1:] == "old analysis").all()
    assert list(updated.columns) == list(tickets.columns)
    with pytest.raises(ConfigError):
        hs.sync_into(pd.DataFrame({"id": ["1"]}))


def test_versions_at_the_boundary_are_delivered_once(crm: DemoCRM, crm_token: str) -> None:
    hs = client(crm, crm_token)
    hs.sync("tickets", ["subject"])
    ids = hs.fetch("tickets", ["subject"], typed=False)["id"].head(3).tolist()
    hs.push("tickets", pd.DataFrame({"id": ids, "subject": ["a", "b", "c"]}))
    got, first = hs.sync("tickets")
    assert sorted(got["id"]) == sorted(ids)
    again, second = hs.sync("tickets")  # the same versions sit inside the lookback: read, not delivered
    assert again.empty and second.skipped == 3
    hs.push("tickets", pd.DataFrame({"id": ids[:1], "subject": ["a2"]}))
    third, report = hs.sync("tickets")
    assert third["id"].tolist() == ids[:1] and third["subject"].tolist() == ["a2"] and report.skipped == 2
    since, explicit = hs.sync("tickets", since=first.previous)  # an explicit start reads everything since
    assert set(ids) <= set(since["id"]) and explicit.skipped == 0


def test_state_is_private_keyed_by_portal_and_checked(crm: DemoCRM, crm_token: str, aikit_home: Path) -> None:
    hs = client(crm, crm_token)
    hs.sync("tickets", ["subject"])
    hs.sync("contacts", ["email"], state="crm-export")
    path = aikit_home / "sync" / "state.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert crm_token.encode() not in path.read_bytes()
    for sidecar in path.parent.glob("state.sqlite-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    states = SyncState().states()
    assert set(states["portal"]) == {f"hubspot:{crm.portal_id}"}
    assert sorted(zip(states["object_type"], states["name"], strict=True)) == [
        ("contacts", "crm-export"),
        ("tickets", "default"),
    ]
    with pytest.raises(ConfigError, match="full=True"):
        hs.sync("tickets", ["subject", "content"])
    frame, report = hs.sync("tickets", ["subject", "content"], full=True)
    assert report.full and len(frame) >= 600 and frame["content"].notna().all()
    assert SyncState().reset("contacts") == 1
    other = SyncState()
    key = other.key(f"hubspot:{crm.portal_id}", "tickets", "default")
    other.acquire(key)
    try:
        with pytest.raises(SyncError, match="another sync"):
            hs.sync("tickets")
    finally:
        other.release(key)


_CHILD = textwrap.dedent(
    """
    import aikit, sys
    crm = aikit.HubSpot(token=sys.argv[2], base_url=sys.argv[1], search_cap=100, search_rate=3)
    crm.sync("tickets", ["subject", "hs_ticket_priority"])
    print("finished")
    """
)


@pytest.mark.slow
def test_a_run_killed_mid_sync_resumes_without_fetching_twice_or_missing(
    crm_token: str, aikit_home: Path
) -> None:
    n = 2_000
    with DemoCRM(token=crm_token, seed=None, search_cap=100, search_per_second=3) as server:
        add_tickets(server.store, n, same_ms=150)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "AIKIT_HOME": str(aikit_home)}
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, server.url, crm_token],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        state = SyncState()
        key = state.key(f"hubspot:{server.portal_id}", "tickets", "default")
        deadline = time.monotonic() + 60
        landed = 0
        while time.monotonic() < deadline and child.poll() is None:
            landed = state.count_pending(key) if (aikit_home / "sync" / "state.sqlite").exists() else 0
            if landed >= 500:
                break
            time.sleep(0.02)
        assert child.poll() is None, child.communicate()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        killed_with = state.count_pending(key)
        assert 500 <= killed_with < n and state.load(key) is not None
        served_before = server.stats["search_results"]
        time.sleep(1.1)  # the dead process's requests leave the per-second search window
        crm = aikit.HubSpot(token=crm_token, base_url=server.url, search_cap=100, search_rate=3)
        frame, report = crm.sync("tickets")
        assert report.resumed and report.recovered == killed_with
        assert report.fetched + report.recovered == n  # no committed page was fetched again
        assert frame["id"].is_unique and len(frame) == n  # nothing missed
        assert set(frame["id"]) == {str(r.id) for r in server.store.scan("tickets")}
        assert server.stats["search_results"] - served_before == report.fetched + report.probed
        assert server.stats["429"] == 0
        rest, later = crm.sync("tickets")
        assert rest.empty and later.recovered == 0
