"""The demo CRM accepts a local OAuth server's tokens and answers an expired one as HubSpot does."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from aikit.exceptions import ConfigError
from aikit.local.crm import DemoCRM

oauth = pytest.importorskip("aikit.local.oauth.server")


def test_expired_oauth_token_is_401_expired_authentication(crm_token: str) -> None:
    with oauth.OAuthServer(access_token_ttl=600) as issuer, DemoCRM(token=crm_token, oauth=issuer) as server:
        cfg = issuer.client_config("aikit-service")
        token = httpx.post(
            cfg["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(cfg["client_id"], cfg["client_secret"]),
        ).json()["access_token"]
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/crm/v3/objects/deals?limit=1").status_code == 200
            issuer.expire_access_token(token)
            expired = c.get("/crm/v3/objects/deals?limit=1")
            forged = c.get("/crm/v3/objects/deals?limit=1", headers={"Authorization": "Bearer forged"})
        body = expired.json()
        assert expired.status_code == 401 and body["category"] == "EXPIRED_AUTHENTICATION"
        assert body["message"].startswith("The OAuth token used to make this call expired")
        assert body["context"]["expire time"][0].endswith("Z")
        assert expired.headers["x-hubspot-auth-failure"] == "401 Unauthorized"
        assert forged.status_code == 401 and forged.json()["category"] == "INVALID_AUTHENTICATION"
        assert token not in expired.text
    with pytest.raises(ConfigError):
        DemoCRM(oauth=object(), token_validator=lambda t: True)


def test_each_new_crm_is_its_own_portal(crm_token: str, crm_api: Callable[..., httpx.Client]) -> None:
    with DemoCRM(token=crm_token, seed=None) as a, DemoCRM(token=crm_token, seed=None) as b:
        ids = {crm_api(s).get("/account-info/v3/details").json()["portalId"] for s in (a, b)}
        assert len(ids) == 2 and a.portal_id in ids and b.portal_id in ids
