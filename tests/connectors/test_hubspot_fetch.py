"""aikit.HubSpot.fetch against the demo CRM: paging, search, associations, dtypes, auth and secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import aikit
from aikit.connectors.credentials import ResolvedTokenAuth
from aikit.connectors.session import TokenAuth
from aikit.exceptions import ConfigError, CRMError, MissingCredentialError
from aikit.local.crm import DemoCRM


def test_fetch_everything_into_dataframes(crm_ro: DemoCRM, crm_token: str) -> None:
    crm = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    tickets = crm.fetch(
        "tickets", properties=["subject", "content", "hs_ticket_priority"], associations=["contacts"]
    )
    contacts = crm.fetch("contacts")
    assert len(tickets) >= 600 and tickets["id"].is_unique and len(contacts) >= 200
    assert list(tickets.columns) == [
        "id",
        "subject",
        "content",
        "hs_ticket_priority",
        "created_at",
        "updated_at",
        "contacts",
    ]
    assert str(tickets["created_at"].dtype) == "datetime64[ns, UTC]"
    assert {"firstname", "lastname", "email"} <= set(contacts.columns)
    # associations as id lists, the same as the v4 API says
    first = tickets.iloc[0]
    with httpx.Client(base_url=crm_ro.url, headers={"Authorization": f"Bearer {crm_token}"}) as c:
        v4 = c.get(f"/crm/v4/objects/tickets/{first['id']}/associations/contacts").json()["results"]
    assert first["contacts"] == [str(r["toObjectId"]) for r in v4]
    companies = crm.fetch("companies", ["name", "numberofemployees", "annualrevenue"])
    assert pd.api.types.is_numeric_dtype(companies["numberofemployees"]) and len(companies) == 50
    assert crm.stats["429"] == 0


def test_where_uses_search_and_matches_pandas(crm_ro: DemoCRM, crm_token: str) -> None:
    crm = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    full = crm.fetch("tickets", ["subject", "hs_ticket_priority", "hs_pipeline_stage"])
    hot = crm.fetch(
        "tickets",
        ["subject", "hs_ticket_priority"],
        where={"hs_ticket_priority": ["HIGH", "URGENT"], "hs_pipeline_stage": ("!=", "4")},
        associations=["contacts", "companies"],
        sort="-createdate",
    )
    expect = full[full.hs_ticket_priority.isin(["HIGH", "URGENT"]) & (full.hs_pipeline_stage != "4")]
    assert set(hot["id"]) == set(expect["id"]) and len(hot) == len(expect) > 0
    assert hot["created_at"].is_monotonic_decreasing
    assert all(len(ids) == 1 for ids in hot["companies"])
    recent = crm.fetch(
        "tickets", ["subject"], where={"createdate": (">=", pd.Timestamp("2025-06-01", tz="UTC"))}
    )
    assert (recent["created_at"] >= pd.Timestamp("2025-06-01", tz="UTC")).all() and len(recent) > 0
    either = crm.fetch(
        "tickets",
        ["hs_ticket_priority"],
        where=[{"hs_ticket_priority": "LOW"}, {"hs_ticket_priority": "URGENT"}],
    )
    assert set(either.hs_ticket_priority) == {"LOW", "URGENT"}
    assert len(crm.fetch("tickets", ["subject"], where={"hs_ticket_priority": "HIGH"}, limit=7)) == 7
    assert len(crm.fetch("contacts", limit=130)) == 130
    assert len(crm.fetch("contacts", query="leeds")) > 0


def test_async_fetch_from_a_foreign_loop(crm_ro: DemoCRM, crm_token: str) -> None:
    crm = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)

    async def main() -> tuple[int, int]:
        a, b = await asyncio.gather(
            crm.afetch("companies", ["name"]), crm.afetch("contacts", ["email"], limit=10)
        )
        return len(a), len(b)

    assert asyncio.run(main()) == (50, 10)
    assert asyncio.run(main()) == (50, 10)  # a second asyncio.run: the client lives on aikit's loop


def test_token_from_env_and_missing(crm_ro: DemoCRM, monkeypatch: pytest.MonkeyPatch, crm_token: str) -> None:
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    with pytest.raises(MissingCredentialError, match="HUBSPOT_TOKEN"):
        aikit.HubSpot(base_url=crm_ro.url)
    monkeypatch.setenv("HUBSPOT_TOKEN", crm_token)
    crm = aikit.HubSpot(base_url=crm_ro.url)
    assert len(crm.fetch("companies", ["name"], limit=3)) == 3
    assert aikit.HubSpot().base_url == "https://api.hubapi.com"
    with pytest.raises(ConfigError):
        aikit.HubSpot(token="x", auth=httpx.BasicAuth("a", "b"))


def test_token_from_the_session_beats_env_and_dotenv(
    crm_ro: DemoCRM, monkeypatch: pytest.MonkeyPatch, crm_token: str
) -> None:
    Path(".env").write_text(f"HUBSPOT_TOKEN={crm_token}\n")  # the cwd is a fresh tmp dir (clean_credentials)
    monkeypatch.delenv("HUBSPOT_TOKEN", raising=False)
    assert len(aikit.HubSpot(base_url=crm_ro.url).fetch("companies", ["name"], limit=2)) == 2  # .env
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-wrong-in-env")  # env beats .env: now refused
    with pytest.raises(CRMError) as refused:
        aikit.HubSpot(base_url=crm_ro.url).fetch("companies", limit=1)
    assert refused.value.status == 401
    aikit.auth.set_secret("HUBSPOT_TOKEN", crm_token)  # what the login panel does; beats env
    crm = aikit.HubSpot(base_url=crm_ro.url)
    assert len(crm.fetch("companies", ["name"], limit=3)) == 3 and crm_token not in repr(crm)
    assert isinstance(crm.session.auth, ResolvedTokenAuth) and crm_token not in repr(crm.session.auth)
    assert isinstance(aikit.HubSpot(token=crm_token, base_url=crm_ro.url).session.auth, TokenAuth)
    with pytest.raises(CRMError):  # an explicit token beats the session
        aikit.HubSpot(token="pat-explicit-wrong", base_url=crm_ro.url).fetch("companies", limit=1)
    aikit.auth.forget_secret("HUBSPOT_TOKEN")
    pending = aikit.auth.Secret(None, name="HUBSPOT_TOKEN", source="pending")  # the box is not submitted yet
    waiting = aikit.HubSpot(token=pending, base_url=crm_ro.url)
    with pytest.raises(MissingCredentialError, match="not been entered yet"):
        waiting.fetch("companies", limit=1)
    aikit.auth.set_secret("HUBSPOT_TOKEN", crm_token)  # Save pressed
    assert len(waiting.fetch("companies", ["name"], limit=1)) == 1
    aikit.auth.forget_secret("HUBSPOT_TOKEN")
    with pytest.raises(ConfigError, match="empty"):
        aikit.HubSpot(token=aikit.auth.Secret(""), base_url=crm_ro.url)
    monkeypatch.delenv("HUBSPOT_TOKEN")
    Path(".env").unlink()
    with pytest.raises(MissingCredentialError, match="HUBSPOT_TOKEN") as missing:
        aikit.HubSpot(base_url=crm_ro.url)
    assert "set_secret('HUBSPOT_TOKEN', ...)" in str(missing.value) and "token=" in str(missing.value)


class HeaderAuth(httpx.Auth):
    """Any httpx.Auth works (OAuth classes plug in the same way)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.calls += 1
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def test_auth_object(crm_ro: DemoCRM, crm_token: str) -> None:
    auth = HeaderAuth(crm_token)
    crm = aikit.HubSpot(auth=auth, base_url=crm_ro.url)
    assert len(crm.fetch("companies", ["name"])) == 50 and auth.calls >= 2


def test_bad_token_401_never_leaks_the_token(
    crm_ro: DemoCRM, caplog: pytest.LogCaptureFixture, crm_token: str
) -> None:
    canary = "pat-na1-CANARY-0d9e8f7a6b5c"
    caplog.set_level(logging.DEBUG)
    crm = aikit.HubSpot(token=canary, base_url=crm_ro.url)
    with pytest.raises(CRMError) as exc:
        crm.fetch("tickets")
    err = exc.value
    assert err.status == 401 and err.category == "INVALID_AUTHENTICATION" and err.correlation_id
    assert "HUBSPOT_TOKEN" in str(err)
    texts = [str(err), repr(err), repr(crm), repr(crm.session), repr(crm.session.auth), caplog.text]
    assert not any(canary in t for t in texts)
    good = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    frame = good.fetch("contacts", limit=20)
    assert crm_token not in frame.to_csv() and crm_token not in repr(good) and crm_token not in caplog.text


def test_errors_are_translated(crm_ro: DemoCRM, crm_token: str) -> None:
    crm = aikit.HubSpot(token=crm_token, base_url=crm_ro.url)
    with pytest.raises(CRMError) as exc:
        crm.fetch("widgets")
    assert exc.value.status == 400 and exc.value.category == "VALIDATION_ERROR"
    dead = aikit.HubSpot(token=crm_token, base_url="http://127.0.0.1:9", retry=aikit_retry(2))
    with pytest.raises(CRMError, match="ConnectError") as down:
        dead.fetch("tickets")
    assert isinstance(down.value.__cause__, httpx.ConnectError)


def aikit_retry(attempts: int) -> "aikit.client.retry.RetryPolicy":  # noqa: UP037
    from aikit.client.retry import RetryPolicy

    return RetryPolicy(max_attempts=attempts, base_s=0.01, cap_s=0.05)


def test_429_from_a_competing_client_is_retried(crm_token: str) -> None:
    with DemoCRM(token=crm_token, seed=0, rate_limit=5, window_s=1.0) as server:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {crm_token}"}) as other:
            for _ in range(5):
                other.get("/crm/v3/objects/companies?limit=1")
        crm = aikit.HubSpot(token=crm_token, base_url=server.url)
        frame = crm.fetch("companies", ["name"])
        assert len(frame) == 50
        assert crm.stats["429"] >= 1 and crm.stats["retries"] >= 1
