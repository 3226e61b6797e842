"""OAuth end to end: the local authorization server issues a token, the demo CRM accepts it through
``token_validator``, and ``aikit.HubSpot(auth=OAuth2Auth...)`` fetches and pushes with it."""

from __future__ import annotations

import logging

import httpx
import pytest

import aikit
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
