"""OAuth end to end: the local authorization server issues a token, the demo CRM accepts it through
``token_validator``, and ``aikit.HubSpot(auth=OAuth2Auth...)`` fetches and pushes with it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import httpx
import pandas as pd
import pytest

import aikit
from aikit import _runtime
from aikit.exceptions import CRMError
from aikit.local.crm import DemoCRM

oauth = pytest.importorskip("aikit.local.oauth.server")
auth_mod = pytest.importorskip("aikit.auth")


def test_oauth_access_token_works_against_the_demo_crm(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        oauth.OAuthServer(access_token_ttl=600) as issuer,
        DemoCRM(token="static-only", token_validator=issuer.validate) as server,
    ):
        client = auth_mod.OAuth2Client(**issuer.client_config("aikit-service"))
        auth = auth_mod.OAuth2Auth.client_credentials(client)
        crm = aikit.HubSpot(auth=auth, base_url=server.url)
        companies = crm.fetch("companies", ["name"])
        assert len(companies) == 50
        report = crm.push(
            "companies", companies[["id"]].assign(ai_segment="smb").head(10), create_properties=True
        )
        assert report.ok and report.updated == 10
        token = auth.token.access_token
        # authlib's own server-side DEBUG log names issued tokens; the client side must never do so
        client_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("authlib"))
        assert token not in repr(crm) and token not in client_logs and token not in companies.to_csv()
        # an unknown token is still refused
        with httpx.Client(base_url=server.url) as c:
            assert (
                c.get("/crm/v3/objects/companies", headers={"Authorization": "Bearer forged"}).status_code
                == 401
            )
        with pytest.raises(CRMError) as exc:
            aikit.HubSpot(token="forged", base_url=server.url).fetch("companies", limit=1)
        assert exc.value.status == 401


def _device_login(issuer: object, auth: object) -> None:
    device = auth.start_device_login()  # type: ignore[attr-defined]
    assert issuer.approve_device(device.user_code)  # type: ignore[attr-defined]
    auth.finish_device_login(device, timeout=10)  # type: ignore[attr-defined]


def test_token_expiring_mid_fetch_is_refreshed_once_for_all_requests() -> None:
    with (
        oauth.OAuthServer(access_token_ttl=1800, device_interval=0.1) as issuer,
        DemoCRM(token="static-only", oauth=issuer) as server,
    ):
        auth = auth_mod.OAuth2Auth(auth_mod.OAuth2Client(**issuer.client_config("aikit-cli")))
        _device_login(issuer, auth)
        service = auth_mod.OAuthService("Demo CRM", auth)
        crm = aikit.HubSpot(auth=service, base_url=server.url)  # the login panel's service is accepted
        first = auth.token.access_token
        stop = threading.Event()

        def expire_during_the_fetch() -> None:  # the token dies while pages are being read
            while not stop.is_set() and server.stats["requests"] < 4:
                time.sleep(0.002)
            issuer.expire_access_token(first)

        watcher = threading.Thread(target=expire_during_the_fetch)
        watcher.start()

        async def many() -> list[pd.DataFrame]:
            return list(
                await asyncio.gather(*(crm.afetch("tickets", ["subject"], typed=False) for _ in range(6)))
            )

        try:
            frames = _runtime.run_sync(many())
        finally:
            stop.set()
            watcher.join()
        assert all(len(f) == 640 and f["id"].is_unique for f in frames)
        assert issuer.stats["refresh_token"] == 1  # one refresh, counted at the authorization server
        assert server.stats["401"] >= 1 and auth.token.access_token != first
        assert first not in repr(crm) and auth.token.access_token not in repr(crm)


def test_expired_token_answer_parses_in_the_official_sdk() -> None:
    hubspot = pytest.importorskip("hubspot")
    deals_api = pytest.importorskip("hubspot.crm.deals")
    with (
        oauth.OAuthServer(access_token_ttl=600) as issuer,
        DemoCRM(token="static-only", oauth=issuer) as server,
    ):
        cfg = issuer.client_config("aikit-service")
        token = httpx.post(
            cfg["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(cfg["client_id"], cfg["client_secret"]),
        ).json()["access_token"]
        issuer.expire_access_token(token)
        sdk = hubspot.HubSpot(access_token=token, host=server.url, base_url=server.url)
        with pytest.raises(deals_api.ApiException) as exc:
            sdk.crm.deals.basic_api.get_page(limit=1)
        assert exc.value.status == 401 and json.loads(exc.value.body)["category"] == "EXPIRED_AUTHENTICATION"


def test_the_panels_new_token_is_picked_up_after_a_401(clean_credentials: None) -> None:
    with (
        oauth.OAuthServer(access_token_ttl=600) as issuer,
        DemoCRM(token="static-only", oauth=issuer) as server,
    ):
        cfg = issuer.client_config("aikit-service")

        def new_token() -> str:
            return str(
                httpx.post(
                    cfg["token_url"],
                    data={"grant_type": "client_credentials"},
                    auth=(cfg["client_id"], cfg["client_secret"]),
                ).json()["access_token"]
            )

        panel = auth_mod.ApiKeyService("HubSpot", "HUBSPOT_TOKEN")
        first = new_token()
        assert panel.submit(first).state == "connected"  # what the login panel's Save button does
        crm = aikit.HubSpot(base_url=server.url)  # no token=: the one credential order finds it
        assert len(crm.fetch("companies", ["name"])) == 50
        issuer.expire_access_token(first)
        with pytest.raises(CRMError) as expired:  # nothing newer anywhere: a clear 401
            crm.fetch("companies", ["name"], limit=1)
        assert expired.value.status == 401 and expired.value.category == "EXPIRED_AUTHENTICATION"
        panel.submit(new_token())  # the user logs in again in the panel
        assert len(crm.fetch("companies", ["name"])) == 50  # the same client, no rebuild
        assert crm.session.auth.reloads == 1  # type: ignore[union-attr]
