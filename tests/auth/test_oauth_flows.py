"""Every OAuth 2.0 flow end to end over loopback against the local authorization server."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time

import httpx
import pytest

from aikit.auth import FileTokenStore, OAuth2Auth, OAuth2Client, Token
from aikit.exceptions import AuthError, ConfigError, OAuthError
from aikit.local.oauth.server import OAuthServer


def _client(server: OAuthServer, client_id: str = "aikit-cli") -> OAuth2Client:
    return OAuth2Client(**server.client_config(client_id))


def _approve_in_browser(url: str, decision: str = "yes") -> None:
    """The automated user: load the consent page, submit the form, follow the redirect."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200 and "Allow" in page.text
        params = dict(httpx.URL(url).params)
        answer = browser.post(url.split("?")[0], data={**params, "confirm": decision})
        assert answer.status_code == 302
        browser.get(answer.headers["location"])  # lands on the loopback listener


def test_client_credentials_login_and_use(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth.client_credentials(_client(oauth_server, "aikit-service"))
    response = httpx.get(f"{oauth_server.url}/userinfo", auth=auth)  # fetches a token by itself
    assert response.status_code == 200 and response.json()["client_id"] == "aikit-service"
    assert auth.status().state == "connected"
    assert oauth_server.stats["client_credentials"] == 1
    assert oauth_server.validate(auth.token.access_token)  # type: ignore[union-attr]


def test_client_credentials_with_wrong_secret_is_invalid_client(oauth_server: OAuthServer) -> None:
    cfg = oauth_server.client_config("aikit-service") | {"client_secret": "bad-Secret-Q9z"}
    auth = OAuth2Auth(OAuth2Client(**cfg))
    with pytest.raises(OAuthError) as info:
        auth.login_client_credentials()
    assert info.value.error == "invalid_client"
    assert "bad-Secret-Q9z" not in str(info.value)
    assert auth.status().state == "error"


def test_public_client_cannot_use_client_credentials(oauth_server: OAuthServer) -> None:
    with pytest.raises(ConfigError):
        OAuth2Auth(_client(oauth_server)).login_client_credentials()


def test_pkce_loopback_login_with_consent(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(_client(oauth_server))
    users: list[threading.Thread] = []

    def open_url(url: str) -> None:
        assert "code_challenge_method=S256" in url
        users.append(threading.Thread(target=_approve_in_browser, args=(url,), daemon=True))
        users[-1].start()

    token = auth.login_pkce(on_url=open_url, timeout=15)
    users[0].join(5)
    assert token.refresh_token and oauth_server.validate(token.access_token)
    assert httpx.get(f"{oauth_server.url}/userinfo", auth=auth).json()["sub"] == "analyst@example.com"


def test_pkce_denied_consent_is_access_denied(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(_client(oauth_server))

    def open_url(url: str) -> None:
        threading.Thread(target=_approve_in_browser, args=(url, "no"), daemon=True).start()

    with pytest.raises(OAuthError) as info:
        auth.login_pkce(on_url=open_url, timeout=15)
    assert info.value.error == "access_denied"


def test_pkce_paste_mode_and_wrong_verifier_rejected(auto_server: OAuthServer) -> None:
    client = _client(auto_server)
    auth = OAuth2Auth(client)
    request = auth.start_pkce("http://127.0.0.1/callback")
    # Remote kernel: the browser ends on an unreachable loopback URL; the user pastes it.
    redirect = httpx.get(request.url).headers["location"]
    assert redirect.startswith("http://127.0.0.1/callback?code=")
    from aikit._runtime import run_sync

    with pytest.raises(OAuthError) as info:
        run_sync(client.exchange_code(request, redirect, code_verifier="x" * 64))
    assert info.value.error == "invalid_grant"
    assert "Code challenge failed" in str(info.value)
    # A fresh login with the right verifier works.
    request2 = auth.start_pkce("http://127.0.0.1/callback")
    token = auth.finish_pkce(request2, httpx.get(request2.url).headers["location"])
    assert auto_server.validate(token.access_token)


def test_pkce_code_is_single_use_and_state_is_checked(auto_server: OAuthServer) -> None:
    auth = OAuth2Auth(_client(auto_server))
    request = auth.start_pkce("http://127.0.0.1/callback")
    redirect = httpx.get(request.url).headers["location"]
    forged = redirect.replace(f"state={request.state}", "state=forged")
    with pytest.raises(AuthError, match="state"):
        auth.finish_pkce(request, forged)
    auth.finish_pkce(request, redirect)
    with pytest.raises(OAuthError) as info:
        auth.finish_pkce(request, redirect)
    assert info.value.error == "invalid_grant"


def test_server_requires_pkce_for_public_clients(auto_server: OAuthServer) -> None:
    url = f"{auto_server.url}/authorize"
    redirect = httpx.get(
        url,
        params={
            "response_type": "code",
            "client_id": "aikit-cli",
            "redirect_uri": "http://127.0.0.1/callback",
        },
    ).headers["location"]
    params = httpx.URL(redirect).params  # refused at /authorize already: no code to exchange
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]
    assert "code" not in params


def test_device_flow_approved_by_an_automated_user(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(_client(oauth_server))
    device = auth.start_device_login()
    assert device.link.endswith(f"user_code={device.user_code}")

    def user() -> None:  # the human, automated: reads the code, approves on the server's page
        time.sleep(0.2)
        page = httpx.get(device.link)
        assert device.user_code in page.text
        answer = httpx.post(
            f"{oauth_server.url}/device/approve",
            data={"user_code": device.user_code, "approve": "yes", **oauth_server.demo_login},
        )
        assert answer.json() == {"ok": True, "approved": True}

    thread = threading.Thread(target=user, daemon=True)
    thread.start()
    token = auth.finish_device_login(device, timeout=10)
    thread.join(5)
    assert oauth_server.validate(token.access_token)
    assert oauth_server.stats["urn:ietf:params:oauth:grant-type:device_code"] >= 2  # polled while pending
    # the device code is single use
    from aikit._runtime import run_sync

    with pytest.raises(OAuthError) as info:
        run_sync(auth.client.poll_device_token(device, timeout=2))
    assert info.value.error == "expired_token"


def test_device_flow_denied_and_timeout(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth(_client(oauth_server))
    device = auth.start_device_login()
    oauth_server.approve_device(device.user_code, approve=False)
    with pytest.raises(OAuthError) as info:
        auth.finish_device_login(device, timeout=5)
    assert info.value.error == "access_denied"
    device2 = auth.start_device_login()
    with pytest.raises(OAuthError, match="timed out"):
        auth.finish_device_login(device2, timeout=0.3)
    assert (
        httpx.post(
            f"{oauth_server.url}/device/approve", json={"user_code": "NOPE-NOPE", **oauth_server.demo_login}
        ).status_code
        == 404
    )


def _device_login(server: OAuthServer, **kwargs: object) -> OAuth2Auth:
    auth = OAuth2Auth(_client(server), **kwargs)  # type: ignore[arg-type]
    device = auth.start_device_login()
    server.approve_device(device.user_code)
    auth.finish_device_login(device, timeout=10)
    return auth


def _expire_locally(auth: OAuth2Auth) -> str:
    assert auth.token is not None
    old = auth.token.access_token
    auth._token = Token(old, refresh_token=auth.token.refresh_token, expires_at=time.time() - 5)
    return old


def test_refresh_before_expiry_with_20_concurrent_requests_refreshes_once(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    old = _expire_locally(auth)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as client:
            responses = await asyncio.gather(*(client.get(f"{oauth_server.url}/userinfo") for _ in range(20)))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 20
    assert oauth_server.stats["refresh_token"] == 1
    assert auth.token is not None and auth.token.access_token != old
    assert not oauth_server.validate(old)  # rotation revoked the old pair


def test_refresh_on_401_with_20_concurrent_requests_refreshes_once(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    assert auth.token is not None
    oauth_server.expire_access_token(auth.token.access_token)  # the client still thinks it is valid

    async def burst() -> list[int]:
        async with httpx.AsyncClient(auth=auth) as client:
            responses = await asyncio.gather(*(client.get(f"{oauth_server.url}/userinfo") for _ in range(20)))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 20
    assert oauth_server.stats["refresh_token"] == 1


def test_sync_clients_in_20_threads_refresh_once(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    _expire_locally(auth)
    results: list[int] = []
    barrier = threading.Barrier(20)

    def call() -> None:
        with httpx.Client(auth=auth) as client:
            barrier.wait(5)
            results.append(client.get(f"{oauth_server.url}/userinfo").status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [200] * 20
    assert oauth_server.stats["refresh_token"] == 1


def test_revoked_refresh_token_gives_a_clear_auth_error(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    assert auth.token is not None and auth.token.refresh_token
    revoke = httpx.post(
        f"{oauth_server.url}/revoke",
        data={
            "token": auth.token.refresh_token,
            "token_type_hint": "refresh_token",
            "client_id": "aikit-cli",
        },
    )
    assert revoke.status_code == 200
    assert not oauth_server.validate(auth.token.access_token)  # revoking the grant ends both tokens
    with pytest.raises(OAuthError) as info:
        httpx.get(f"{oauth_server.url}/userinfo", auth=auth)
    assert info.value.error == "invalid_grant"
    assert "revoked" in str(info.value) and "Log in again" in str(info.value)
    assert isinstance(info.value, AuthError)
    assert auth.status().state == "error"


def test_client_credentials_token_is_refetched_on_expiry(oauth_server: OAuthServer) -> None:
    auth = OAuth2Auth.client_credentials(_client(oauth_server, "aikit-service"))
    auth.login_client_credentials()
    assert auth.token is not None
    oauth_server.expire_access_token(auth.token.access_token)
    assert httpx.get(f"{oauth_server.url}/userinfo", auth=auth).status_code == 200
    assert oauth_server.stats["client_credentials"] == 2


def test_not_logged_in_is_a_clear_error(oauth_server: OAuthServer) -> None:
    with pytest.raises(AuthError, match="Not logged in"):
        httpx.get(f"{oauth_server.url}/userinfo", auth=OAuth2Auth(_client(oauth_server)))


def test_file_persistence_is_opt_in_0600_and_survives_a_new_session(
    oauth_server: OAuthServer, aikit_home: object
) -> None:
    auth = _device_login(oauth_server, persist="file", key="crm-demo")
    store = FileTokenStore()
    files = list(store.directory.glob("*.json"))
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    again = OAuth2Auth(_client(oauth_server), persist="file", key="crm-demo")
    assert again.token == auth.token and again.status().state == "connected"
    assert httpx.get(f"{oauth_server.url}/userinfo", auth=again).status_code == 200
    # memory is the default: nothing written
    _device_login(oauth_server)
    assert len(list(store.directory.glob("*.json"))) == 1
    again.logout()
    assert list(store.directory.glob("*.json")) == []
    assert not oauth_server.validate(auth.token.access_token)  # type: ignore[union-attr]


def test_token_and_auth_reprs_are_masked(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    assert auth.token is not None
    for text in (repr(auth), repr(auth.token), str(auth.token), repr(auth.client)):
        assert auth.token.access_token not in text
        assert auth.token.refresh_token not in text  # type: ignore[operator]


def test_introspection_endpoint(oauth_server: OAuthServer) -> None:
    auth = _device_login(oauth_server)
    assert auth.token is not None
    body = httpx.post(
        f"{oauth_server.url}/introspect", data={"token": auth.token.access_token, "client_id": "aikit-cli"}
    ).json()
    assert body["active"] is True and body["sub"] == "analyst@example.com"
    assert oauth_server.introspect("nope") == {"active": False}


def test_refresh_happens_before_expiry_within_the_leeway() -> None:
    with OAuthServer(device_interval=0.05, access_token_ttl=30) as server:
        auth = _device_login(server)  # leeway 60 s > lifetime 30 s: still valid, but due for refresh
        assert auth.token is not None and server.validate(auth.token.access_token)
        first = auth.token.access_token
        assert httpx.get(f"{server.url}/userinfo", auth=auth).status_code == 200
        assert server.stats["refresh_token"] == 1 and auth.token.access_token != first
        relaxed = _device_login(server, leeway=5.0)
        assert httpx.get(f"{server.url}/userinfo", auth=relaxed).status_code == 200
        assert server.stats["refresh_token"] == 1  # outside its leeway: no refresh
