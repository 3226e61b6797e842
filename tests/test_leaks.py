"""No credential in any file under $AIKIT_HOME, log line (httpx and httpcore at DEBUG), repr or exception.

Each test puts a canary credential where a careless user would (a ``base_url`` query, URL user info
for the AI client, the CRM client and the OAuth client), or lets a careless server quote it back cut
short, then drives real calls over loopback and hands everything it got to the shared ``leak_scan``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest

import aikit
from aikit.auth.oauth import OAuth2Client
from aikit.client.retry import RetryPolicy
from aikit.exceptions import AIKitError, AuthError, CRMError, ProviderHTTPError
from aikit.local.crm import DemoCRM
from aikit.local.oauth.server import OAuthServer
from aikit.testing import FakeConfig, FakeProvider

if TYPE_CHECKING:
    from conftest import LeakScan

#: The key the careless fake provider wants (the client sends the canary instead).
FAKE_KEY = "sk-the-right-key-0123456789"
CANARY = "sk-canary-7f3a9e1c5b2d4680"
FAST = RetryPolicy(max_attempts=2, deadline_s=5.0, base_s=0.01, cap_s=0.02)


@pytest.fixture(scope="module")
def open_fake() -> Iterator[FakeProvider]:
    """A fake provider that asks for no key (a server behind a gateway, or a key only in the URL)."""
    with FakeProvider(FakeConfig()) as server:
        yield server


@pytest.fixture(scope="module")
def careless_fake() -> Iterator[FakeProvider]:
    """A fake provider that quotes a wrong key back without its last 3 characters."""
    with FakeProvider(FakeConfig(api_key=FAKE_KEY, echo_key=True)) as server:
        yield server


@pytest.fixture(scope="module")
def crm() -> Iterator[DemoCRM]:
    with DemoCRM(seed=0, rate_limit=None) as server:
        yield server


def _http_logged(scan: LeakScan) -> list[str]:
    return [r.getMessage() for r in scan.caplog.records if r.name == "httpx" and r.levelno == logging.INFO]


def test_key_in_a_base_url_query_is_sent_but_never_shown(
    open_fake: FakeProvider, leak_scan: LeakScan
) -> None:
    base_url = f"{open_fake.base_url}?api-version=2024-10-21&key={CANARY}"
    ai = aikit.AI("compat:fake-model", base_url=base_url)
    r = ai.chat("hello from a query key", max_tokens=8)
    again = ai.chat("hello from a query key", max_tokens=8)
    assert r.text.startswith("fake-") and again.cached
    assert ai.spec.base_url is not None and CANARY in ai.spec.base_url  # it is still what is sent
    lines = _http_logged(leak_scan)
    assert any("/v1/chat/completions?api-version=2024-10-21&key=***" in line for line in lines), lines
    with pytest.raises(ProviderHTTPError) as info:
        ai.chat("FAIL400 please", cache=False)
    leak_scan.add(ai, ai.aio, ai.spec, ai.aio.describe(), ai.calls(), info.value)
    leak_scan.assert_clean(CANARY)


def test_key_in_url_userinfo_is_sent_as_basic_auth_for_the_ai_client(leak_scan: LeakScan) -> None:
    with FakeProvider(FakeConfig(api_key=CANARY)) as fake:  # the key is the Basic password
        ai = aikit.AI("compat:fake-model", base_url=f"http://gateway:{CANARY}@127.0.0.1:{fake.port}/v1")
        r = ai.chat("hello through a gateway", max_tokens=8)
        assert r.text.startswith("fake-")
        with pytest.raises(aikit.ConfigError) as both:  # a Bearer key too: one Authorization header
            aikit.AI(
                "compat:fake-model",
                base_url=f"http://gateway:{CANARY}@127.0.0.1:{fake.port}/v1",
                api_key=FAKE_KEY,
            ).chat("both", cache=False)
        with pytest.raises(ProviderHTTPError) as refused:
            aikit.AI(
                "compat:fake-model", base_url=f"http://gateway:wrong-{CANARY[3:]}@127.0.0.1:{fake.port}/v1"
            ).chat("wrong password", cache=False)
        leak_scan.add(ai, ai.aio.describe(), ai.calls(all=True), both.value, refused.value)
    assert "gateway" not in repr(ai) and "@" not in repr(ai)
    leak_scan.assert_clean(CANARY, CANARY[3:])


def test_a_provider_quoting_the_key_minus_three_characters_is_masked(
    careless_fake: FakeProvider, leak_scan: LeakScan
) -> None:
    ai = aikit.AI("compat:fake-model", base_url=careless_fake.base_url, api_key=CANARY)
    with pytest.raises(ProviderHTTPError) as info:
        ai.chat("with the wrong key", cache=False)
    message = str(info.value)
    assert "Incorrect API key provided: ********" in message, message  # the echo happened, masked
    leak_scan.add(ai, info.value, ai.calls())
    leak_scan.assert_clean(CANARY[:-3])


def test_a_very_short_key_does_not_mangle_unrelated_text(
    open_fake: FakeProvider, leak_scan: LeakScan
) -> None:
    ai = aikit.AI("compat:fake-model", base_url=open_fake.url + "/v2", api_key="kno", retry=FAST)
    with pytest.raises(ProviderHTTPError) as info:
        ai.chat("a path the server does not have", cache=False)
    assert "Unknown path /v2/chat/completions" in str(info.value)
    rows = ai.calls()
    assert rows["error"].iloc[-1].endswith("Unknown path /v2/chat/completions")
    leak_scan.add(info.value)


def test_crm_credentials_in_the_url_never_show(crm: DemoCRM, leak_scan: LeakScan) -> None:
    url = crm.url.replace("http://", f"http://bot:{CANARY}@") + f"/?hapikey={CANARY}x"
    client = aikit.HubSpot(base_url=url, retry=FAST)  # the login is the credential: no token needed
    assert "@" not in repr(client) and CANARY not in repr(client)
    with pytest.raises(CRMError) as refused:  # the demo CRM wants a Bearer token: 401
        client.fetch("contacts", ["email"], limit=1)
    assert refused.value.status == 401
    dead = aikit.HubSpot(token="pat-x", base_url=f"http://127.0.0.1:9/?hapikey={CANARY}", retry=FAST)
    with pytest.raises(CRMError) as unreachable:
        dead.fetch("contacts", limit=1)
    source = aikit.RestSource(url, records="results", pagination=None, retry=FAST)
    with pytest.raises(CRMError) as rest:
        source.fetch("/crm/v3/objects/contacts")
    leak_scan.add(client, client.session, dead, source, refused.value, unreachable.value, rest.value)
    leak_scan.assert_clean(CANARY)


def test_oauth_endpoint_credentials_never_show(oauth_server: OAuthServer, leak_scan: LeakScan) -> None:
    token_url = f"http://app:{CANARY}@127.0.0.1:{oauth_server.url.rsplit(':', 1)[1]}/token?sig={CANARY}z"
    client = OAuth2Client(client_id="aikit-cli", token_url=token_url, device_authorization_url=token_url)
    assert CANARY not in repr(client)
    with pytest.raises(AuthError) as refused:  # "app" is no client of this server: invalid_client
        aikit.auth.OAuth2Auth(client).start_device_login()
    dead_url = f"http://u:{CANARY}@127.0.0.1:9/device?sig={CANARY}"
    dead = OAuth2Client(client_id="x", token_url=dead_url, device_authorization_url=dead_url)
    with pytest.raises(AIKitError) as unreachable:
        aikit.auth.OAuth2Auth(dead).start_device_login()
    assert "127.0.0.1:9/device" in str(unreachable.value)
    leak_scan.add(client, dead, refused.value, unreachable.value)
    leak_scan.assert_clean(CANARY)


def test_httpx_info_lines_of_any_client_are_masked_once_aikit_made_one(
    open_fake: FakeProvider, leak_scan: LeakScan
) -> None:
    aikit.AI("compat:fake-model", base_url=open_fake.base_url, cache=False)  # installs the log filter
    httpx.get(f"http://user:{CANARY}@127.0.0.1:{open_fake.port}/v1/models?access_token={CANARY}")
    assert any("access_token=***" in line for line in _http_logged(leak_scan))
    leak_scan.assert_clean(CANARY)


def test_a_push_report_and_its_frames_hold_no_token(crm: DemoCRM, leak_scan: LeakScan) -> None:
    client = aikit.HubSpot(token=crm.token, base_url=crm.url)
    ids = client.fetch("companies", ["name"], limit=2)["id"]
    report = client.push("companies", pd.DataFrame({"id": ids, "numberofemployees": [1, "12,5"]}))
    leak_scan.add(report, report.failed.to_string(), report.diff.to_string(), client)
    leak_scan.assert_clean(crm.token)


def test_the_review_store_keeps_no_ticket_text_and_no_secret(leak_scan: LeakScan) -> None:
    canary = "sk-live-REVIEWCANARY-0123456789"
    df = pd.DataFrame(
        {
            "id": ["1", "2"],
            "content": [f"my api key is {canary}, please help", "fine"],
            "ai_category": pd.Categorical(["a", "b"], categories=["a", "b"]),
            "ai_category_confidence": [0.2, 0.99],
        }
    )
    review = df.ai.review("ai_category", threshold=0.9, text="content")  # store under $AIKIT_HOME
    review.decide("1", "b")
    fixed = review.apply(df)
    assert fixed["ai_category"].tolist() == ["b", "b"]
    leak_scan.add(review, review.decisions(), review.store)
    leak_scan.assert_clean(canary)  # the store keeps the text's SHA-256 only
