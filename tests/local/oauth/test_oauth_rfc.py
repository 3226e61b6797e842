"""The demo authorization server is as strict as a real one (RFC 9700, OAuth 2.1, RFC 8252, RFC 8628).

PKCE with S256 on every authorization request; redirect URIs compared exactly (a loopback port may
vary, nothing else); a rotated refresh token presented again revokes its whole family; approving a
device code needs the demo user's login and wrong codes are throttled. All over loopback.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from aikit.auth import OAuth2Auth, OAuth2Client
from aikit.exceptions import OAuthError
from aikit.local.oauth.server import OAuthServer

REDIRECT = "http://127.0.0.1:53124/callback"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _authorize(server: OAuthServer, **params: str) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": "aikit-cli",
        "redirect_uri": REDIRECT,
        "state": "s1",
        **params,
    }
    return httpx.get(f"{server.url}/authorize", params={k: v for k, v in query.items() if v is not None})


def _redirected(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 302, reply.text
    return {k: v[0] for k, v in parse_qs(urlsplit(reply.headers["location"]).query).items()}


def test_pkce_is_required_and_plain_is_refused(auto_server: OAuthServer) -> None:
    verifier = secrets.token_urlsafe(48)
    missing = _redirected(_authorize(auto_server))
    assert missing["error"] == "invalid_request" and "PKCE is required" in missing["error_description"]
    plain = _redirected(_authorize(auto_server, code_challenge=verifier, code_challenge_method="plain"))
    assert plain["error"] == "invalid_request" and "S256" in plain["error_description"]
    implicit_plain = _redirected(_authorize(auto_server, code_challenge=verifier))  # no method: plain
    assert implicit_plain["error"] == "invalid_request" and "code" not in implicit_plain
    ok = _redirected(_authorize(auto_server, code_challenge=_s256(verifier), code_challenge_method="S256"))
    assert ok["state"] == "s1" and "code" in ok
    token = httpx.post(
        f"{auto_server.url}/token",
        data={"grant_type": "authorization_code", "code": ok["code"], "client_id": "aikit-cli",
              "redirect_uri": REDIRECT, "code_verifier": verifier},
    )  # fmt: skip
    assert token.status_code == 200 and auto_server.validate(token.json()["access_token"])
    metadata = httpx.get(f"{auto_server.url}/.well-known/oauth-authorization-server").json()
    assert metadata["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:53124/callback?next=https://evil.example",
        "http://attacker@127.0.0.1:53124/callback",
        "http://127.0.0.1:53124/callback/",
        "http://127.0.0.1:53124/callback#frag",
        "https://127.0.0.1/callback",
        "http://127.0.0.2/callback",
        "http://127.0.0.1:53124/Callback",
    ],
)
def test_redirect_uris_must_match_exactly(auto_server: OAuthServer, redirect_uri: str) -> None:
    reply = _authorize(auto_server, redirect_uri=redirect_uri, code_challenge=_s256("v" * 43),
                       code_challenge_method="S256")  # fmt: skip
    assert reply.status_code == 400 and "location" not in reply.headers  # never redirected


def test_only_the_loopback_port_may_vary(auto_server: OAuthServer) -> None:
    for uri in (
        "http://127.0.0.1/callback",
        "http://127.0.0.1:8/callback",
        "http://localhost:65000/callback",
    ):
        reply = _authorize(
            auto_server, redirect_uri=uri, code_challenge=_s256("v" * 43), code_challenge_method="S256"
        )
        assert "code" in _redirected(reply), uri


def _refresh(server: OAuthServer, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "aikit-cli"},
    )


def test_a_reused_refresh_token_revokes_its_whole_family(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    device = auth.start_device_login()
    oauth_server.approve_device(device.user_code)
    first = auth.finish_device_login(device, timeout=10)
    assert first.refresh_token
    rotated = _refresh(oauth_server, first.refresh_token).json()  # the legitimate client refreshes
    assert oauth_server.validate(rotated["access_token"]) and not oauth_server.validate(first.access_token)
    stolen = _refresh(oauth_server, first.refresh_token)  # the old one comes back: a leak
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert not oauth_server.validate(rotated["access_token"])  # the family is gone
    newest = _refresh(oauth_server, rotated["refresh_token"])
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant"
    other = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))  # another login lives on
    device2 = other.start_device_login()
    oauth_server.approve_device(device2.user_code)
    assert oauth_server.validate(other.finish_device_login(device2, timeout=10).access_token)


def test_device_approval_needs_the_demo_users_login(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    device = auth.start_device_login()
    url = f"{oauth_server.url}/device/approve"
    anonymous = httpx.post(url, data={"user_code": device.user_code})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "login_required"
    wrong = {"username": "analyst@example.com", "password": "guess"}
    assert httpx.post(url, data={"user_code": device.user_code, **wrong}).status_code == 401
    with pytest.raises(OAuthError, match="timed out"):  # nothing was approved
        auth.finish_device_login(device, timeout=0.3)
    login = oauth_server.demo_login
    basic = httpx.post(url, data={"user_code": device.user_code}, auth=(login["username"], login["password"]))
    assert basic.json() == {"ok": True, "approved": True}
    assert oauth_server.validate(auth.finish_device_login(device, timeout=10).access_token)
    page = httpx.get(f"{oauth_server.url}/device", params={"user_code": device.user_code}).text
    assert "name='password'" in page and login["password"] not in page


def test_failed_user_codes_are_throttled(oauth_server: OAuthServer) -> None:
    url = f"{oauth_server.url}/device/approve"
    login = oauth_server.demo_login
    answers = [httpx.post(url, data={"user_code": f"GUES-S00{i}", **login}).status_code for i in range(5)]
    assert answers == [404] * 5
    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    device = auth.start_device_login()
    throttled = httpx.post(url, data={"user_code": device.user_code, **login})  # even the right code waits
    assert throttled.status_code == 429 and 1 <= int(throttled.headers["retry-after"]) <= 60
    assert oauth_server.approve_device(device.user_code)  # the trusted Python API is not throttled
    assert oauth_server.stats["device_approve_failed"] == 5
