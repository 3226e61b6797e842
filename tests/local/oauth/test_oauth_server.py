"""The local authorization server itself: lifecycle, metadata, consent page, CLI, and the demo CRM."""

from __future__ import annotations

import argparse
import socket

import httpx
import pytest

from aikit.auth import OAuth2Auth, OAuth2Client
from aikit.local.oauth.server import OAuthServer


def test_start_ready_stop_frees_the_port() -> None:
    server = OAuthServer().start()
    port = int(server.url.rsplit(":", 1)[1])
    assert httpx.get(f"{server.url}/.well-known/oauth-authorization-server").status_code == 200
    server.stop()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    server.stop()  # idempotent


def test_metadata_lists_endpoints_and_grants(oauth_server: OAuthServer) -> None:
    meta = httpx.get(f"{oauth_server.url}/.well-known/oauth-authorization-server").json()
    assert meta["token_endpoint"] == f"{oauth_server.url}/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(meta["grant_types_supported"])


def test_consent_page_escapes_input_and_rejects_unknown_clients(oauth_server: OAuthServer) -> None:
    bad = httpx.get(f"{oauth_server.url}/authorize", params={"response_type": "code", "client_id": "nobody"})
    assert bad.status_code == 400
    page = httpx.get(
        f"{oauth_server.url}/authorize",
        params={
            "response_type": "code",
            "client_id": "aikit-cli",
            "redirect_uri": "http://127.0.0.1:1/callback",
            "state": "<script>x</script>",
            "code_challenge": "a" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200 and "<script>x</script>" not in page.text
    evil = httpx.get(
        f"{oauth_server.url}/authorize",
        params={"response_type": "code", "client_id": "aikit-cli", "redirect_uri": "https://evil.example/cb"},
    )
    assert evil.status_code == 400  # never redirects to an unregistered URI


def test_server_repr_masks_client_secrets(oauth_server: OAuthServer) -> None:
    secret = oauth_server.client_config("aikit-service")["client_secret"]
    assert secret not in repr(oauth_server)
    assert secret not in repr(oauth_server.store.client("aikit-service"))


def test_cli_arguments_and_command_registration() -> None:
    from aikit import cli
    from aikit.local.oauth import cli as oauth_cli

    parser = argparse.ArgumentParser()
    oauth_cli.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--auto-approve", "--access-token-ttl", "5"])
    assert (args.port, args.auto_approve, args.access_token_ttl) == (0, True, 5)
    assert cli.COMMANDS["serve oauth"][0] == "aikit.local.oauth.cli"


def test_demo_crm_accepts_oauth_tokens_and_rejects_revoked_or_expired(oauth_server: OAuthServer) -> None:
    crm_mod = pytest.importorskip("aikit.local.crm.server")
    crm = crm_mod.DemoCRM(token_validator=oauth_server.validate, rate_limit=None, seed=0).start()
    try:
        auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
        device = auth.start_device_login()
        oauth_server.approve_device(device.user_code)
        token = auth.finish_device_login(device, timeout=10)
        url = f"{crm.url}/crm/v3/objects/contacts?limit=2"
        ok = httpx.get(url, auth=auth)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 2
        # Expired at the server: the CRM says 401, OAuth2Auth refreshes once and retries.
        oauth_server.expire_access_token(token.access_token)
        assert httpx.get(url, headers={"Authorization": f"Bearer {token.access_token}"}).status_code == 401
        assert httpx.get(url, auth=auth).status_code == 200
        assert oauth_server.stats["refresh_token"] == 1
        # Revoked: rejected by the CRM.
        assert auth.token is not None
        current = auth.token.access_token
        httpx.post(
            f"{oauth_server.url}/revoke",
            data={"token": current, "token_type_hint": "access_token", "client_id": "aikit-cli"},
        )
        assert httpx.get(url, headers={"Authorization": f"Bearer {current}"}).status_code == 401
    finally:
        crm.stop()


def test_aikit_serve_oauth_prints_its_url_once_ready_and_runs_until_interrupted() -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "aikit", "serve", "oauth", "--port", "0", "--device-interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        url = lines[0].split(" on ", 1)[1].split()[0]
        meta = httpx.get(f"{url}/.well-known/oauth-authorization-server", timeout=5)  # at once: no retry
        assert meta.json()["issuer"] == url
        while "approve a device code" not in lines[-1]:
            lines.append(proc.stdout.readline())
        password = next(line for line in lines if "demo user" in line).split("password ", 1)[1].split()[0]
        device = httpx.post(f"{url}/device_authorization", data={"client_id": "aikit-cli"}).json()
        without = httpx.post(f"{url}/device/approve", data={"user_code": device["user_code"]})
        assert without.status_code == 401
        login = {"username": "analyst@example.com", "password": password}
        assert httpx.post(f"{url}/device/approve", data={"user_code": device["user_code"], **login}).json()[
            "ok"
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "aikit-cli" in "".join(lines) + out
