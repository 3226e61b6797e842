"""Static httpx auth classes: request shaping (MockTransport) and a real loopback resource."""

from __future__ import annotations

import httpx
import pytest

from aikit.auth import ApiKeyAuth, BasicAuth, BearerAuth, Secret, secret
from aikit.exceptions import ConfigError
from aikit.local.oauth.server import OAuthServer

CANARY = "sk-CANARY-" + "7f3a9c1e5b"  # built at runtime: the literal never sits in one string


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"headers": dict(request.headers), "url": str(request.url)})


@pytest.mark.parametrize("async_client", [False, True])
def test_api_key_header_and_query(async_client: bool) -> None:
    header_auth = ApiKeyAuth(Secret("k-1", name="K"), header="x-api-key")
    query_auth = ApiKeyAuth("k-2", query="api_key")
    if async_client:
        import asyncio

        async def go() -> tuple[dict[str, object], dict[str, object]]:
            async with httpx.AsyncClient(transport=httpx.MockTransport(_echo)) as client:
                a = (await client.get("http://127.0.0.1/x", auth=header_auth)).json()
                b = (await client.get("http://127.0.0.1/x?a=1", auth=query_auth)).json()
                return a, b

        first, second = asyncio.run(go())
    else:
        with httpx.Client(transport=httpx.MockTransport(_echo)) as client:
            first = client.get("http://127.0.0.1/x", auth=header_auth).json()
            second = client.get("http://127.0.0.1/x?a=1", auth=query_auth).json()
    assert first["headers"]["x-api-key"] == "k-1"  # type: ignore[index]
    assert second["url"] == "http://127.0.0.1/x?a=1&api_key=k-2"


def test_basic_and_bearer_headers_and_masked_reprs() -> None:
    with httpx.Client(transport=httpx.MockTransport(_echo)) as client:
        basic = client.get("http://127.0.0.1/", auth=BasicAuth("ann", CANARY)).json()["headers"][
            "authorization"
        ]
        bearer = client.get("http://127.0.0.1/", auth=BearerAuth(CANARY)).json()["headers"]["authorization"]
    assert basic.startswith("Basic ") and bearer == f"Bearer {CANARY}"
    for auth in (
        ApiKeyAuth(CANARY),
        ApiKeyAuth(CANARY, query="k"),
        BearerAuth(CANARY),
        BasicAuth("u", CANARY),
    ):
        assert CANARY not in repr(auth)


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(ConfigError):
        ApiKeyAuth("k", header="a", query="b")
    with pytest.raises(ConfigError):
        BearerAuth("")
    with pytest.raises(ConfigError):
        BasicAuth("", "pw")


def test_other_secret_wrappers_are_accepted() -> None:
    class ProviderSecret:  # any object with .reveal(), e.g. another library's masked string
        def __init__(self, value: str) -> None:
            self._value = value

        def reveal(self) -> str:
            return self._value

    with httpx.Client(transport=httpx.MockTransport(_echo)) as client:
        got = client.get("http://127.0.0.1/", auth=BearerAuth(ProviderSecret("abc"))).json()  # type: ignore[arg-type]
    assert got["headers"]["authorization"] == "Bearer abc"


def test_bearer_auth_against_a_real_protected_resource(oauth_server: OAuthServer) -> None:
    cfg = oauth_server.client_config("aikit-service")
    token = httpx.post(
        cfg["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(cfg["client_id"], cfg["client_secret"]),
    )
    access = secret("CRM_TOKEN", token.json()["access_token"])
    ok = httpx.get(f"{oauth_server.url}/userinfo", auth=BearerAuth(access))
    assert ok.status_code == 200 and ok.json()["client_id"] == "aikit-service"
    bad = httpx.get(f"{oauth_server.url}/userinfo", auth=BearerAuth("not-a-token"))
    assert bad.status_code == 401
