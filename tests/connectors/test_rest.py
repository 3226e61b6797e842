"""aikit.RestSource against real loopback servers: cursor, offset, page, Link header and next-URL paging."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import aikit
from aikit._serving import AppThread
from aikit.connectors.rest import dig
from aikit.exceptions import ConfigError, CRMError, MissingCredentialError
from aikit.local.crm import DemoCRM

ROWS = [
    {"id": i, "name": f"Ticket {i}", "meta": {"prio": "high" if i % 3 == 0 else "low"}} for i in range(1, 238)
]


def _limit(request: Request, default: int = 50) -> int:
    return int(request.query_params.get("limit", default))


async def cursor(request: Request) -> Response:
    # Zendesk-like: {"tickets": [...], "meta": {"has_more": bool, "after_cursor": "..."}}
    after = int(request.query_params.get("page[after]", "0") or 0)
    size = _limit(request)
    chunk = [r for r in ROWS if r["id"] > after][:size]
    more = bool(chunk) and chunk[-1]["id"] < ROWS[-1]["id"]
    return JSONResponse(
        {
            "tickets": chunk,
            "meta": {"has_more": more, "after_cursor": str(chunk[-1]["id"]) if chunk else None},
        }
    )


async def offset(request: Request) -> Response:
    start, size = int(request.query_params.get("start", 0)), _limit(request)
    return JSONResponse({"data": ROWS[start : start + size]})


async def page(request: Request) -> Response:
    n, size = int(request.query_params.get("page", 1)), int(request.query_params.get("per_page", 30))
    return JSONResponse({"items": ROWS[(n - 1) * size : n * size]})


async def link(request: Request) -> Response:
    n, size = int(request.query_params.get("page", 1)), _limit(request)
    headers = {}
    if n * size < len(ROWS):
        headers["Link"] = f'<{request.url.replace_query_params(page=n + 1, limit=size)}>; rel="next"'
    return JSONResponse(ROWS[(n - 1) * size : n * size], headers=headers)


async def next_url(request: Request) -> Response:
    n = int(request.query_params.get("p", 1))
    body: dict[str, object] = {"records": ROWS[(n - 1) * 100 : n * 100], "done": n * 100 >= len(ROWS)}
    if n * 100 < len(ROWS):
        body["nextRecordsUrl"] = f"/next?p={n + 1}"  # relative, like Salesforce
    return JSONResponse(body)


async def loop(request: Request) -> Response:
    return JSONResponse({"data": [{"id": 1}], "next_cursor": "same"})


flaky_calls = {"n": 0}


async def flaky(request: Request) -> Response:
    flaky_calls["n"] += 1
    if flaky_calls["n"] == 1:
        return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
    return JSONResponse({"data": ROWS[:5]})


async def secret(request: Request) -> Response:
    if request.headers.get("authorization") != "Bearer rest-canary-99":
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    return JSONResponse({"data": ROWS[:3]})


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    routes = [
        Route("/cursor", cursor),
        Route("/offset", offset),
        Route("/page", page),
        Route("/link", link),
        Route("/next", next_url),
        Route("/loop", loop),
        Route("/flaky", flaky),
        Route("/secret", secret),
    ]
    with AppThread(Starlette(routes=routes), name="rest-test") as server:
        yield server.url


def test_cursor(api: str) -> None:
    src = aikit.RestSource(
        api,
        records="tickets",
        pagination="cursor",
        cursor_param="page[after]",
        cursor_path="meta.after_cursor",
        has_more_path="meta.has_more",
        page_size=40,
    )
    df = src.fetch("/cursor")
    assert df["id"].tolist() == [r["id"] for r in ROWS]
    assert "meta.prio" in df.columns  # nested objects flattened
    assert len(src.fetch("/cursor", limit=55)) == 55


def test_offset_page_link_next_url(api: str) -> None:
    offset_src = aikit.RestSource(
        api, records="data", pagination="offset", offset_param="start", page_size=50
    )
    assert offset_src.fetch("/offset")["id"].tolist() == [r["id"] for r in ROWS]
    page_src = aikit.RestSource(api, records="items", pagination="page", limit_param="per_page", page_size=30)
    assert page_src.fetch("/page")["id"].tolist() == [r["id"] for r in ROWS]
    link_src = aikit.RestSource(api, records=None, pagination="link", page_size=60)
    assert link_src.fetch("/link")["id"].tolist() == [r["id"] for r in ROWS]
    next_src = aikit.RestSource(
        api, records="records", pagination="next_url", next_url_path="nextRecordsUrl", page_size=None
    )
    assert next_src.fetch("/next")["id"].tolist() == [r["id"] for r in ROWS]


def test_retries_loops_and_secrets(api: str) -> None:
    from aikit.client.retry import RetryPolicy

    flaky_calls["n"] = 0
    src = aikit.RestSource(api, pagination=None, retry=RetryPolicy(max_attempts=3, base_s=0.01))
    assert len(src.fetch("/flaky")) == 5 and flaky_calls["n"] == 2
    with pytest.raises(CRMError, match="pagination loop"):
        aikit.RestSource(api).fetch("/loop")
    with pytest.raises(CRMError) as exc:
        aikit.RestSource(api, token="rest-canary-wrong", pagination=None).fetch("/secret")
    assert exc.value.status == 401 and "rest-canary" not in str(exc.value)
    ok = aikit.RestSource(api, token="rest-canary-99", pagination=None)
    assert len(ok.fetch("/secret")) == 3 and "rest-canary" not in repr(ok)
    with pytest.raises(ConfigError):
        aikit.RestSource(api, pagination="scroll")


def test_token_variable_resolves_in_the_one_order(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELPDESK_TOKEN", raising=False)
    with pytest.raises(MissingCredentialError, match="HELPDESK_TOKEN") as missing:
        aikit.RestSource(api, token_variable="HELPDESK_TOKEN")
    assert "set_secret('HELPDESK_TOKEN', ...)" in str(missing.value)
    monkeypatch.setenv("HELPDESK_TOKEN", "rest-canary-99")
    from_env = aikit.RestSource(api, pagination=None, token_variable="HELPDESK_TOKEN")
    assert len(from_env.fetch("/secret")) == 3
    aikit.auth.set_secret("HELPDESK_TOKEN", "rest-canary-from-session")  # the session beats env
    with pytest.raises(CRMError) as refused:
        aikit.RestSource(api, pagination=None, token_variable="HELPDESK_TOKEN").fetch("/secret")
    assert refused.value.status == 401 and "rest-canary" not in str(refused.value)
    explicit = aikit.RestSource(api, pagination=None, token="rest-canary-99", token_variable="HELPDESK_TOKEN")
    assert len(explicit.fetch("/secret")) == 3 and "rest-canary" not in repr(explicit)
    with pytest.raises(ConfigError):
        aikit.RestSource(api, token_variable="HELPDESK_TOKEN", auth=httpx.BasicAuth("a", "b"))


def test_against_the_demo_crm_cursor_and_next_link(crm_token: str) -> None:
    with DemoCRM(token=crm_token) as server:
        by_cursor = aikit.RestSource(
            server.url,
            token=crm_token,
            records="results",
            pagination="cursor",
            cursor_param="after",
            cursor_path="paging.next.after",
        ).fetch("/crm/v3/objects/contacts", params={"properties": "email"})
        by_link = aikit.RestSource(
            server.url,
            token=crm_token,
            records="results",
            pagination="next_url",
            next_url_path="paging.next.link",
        ).fetch("/crm/v3/objects/companies", params={"limit": 20})
    assert len(by_cursor) == 220 and by_cursor["id"].is_unique and "properties.email" in by_cursor.columns
    assert len(by_link) == 50


def test_dig() -> None:
    body = {"a": {"b": [{"c": 1}]}, "@odata.nextLink": "u"}
    assert dig(body, "a.b.0.c") == 1 and dig(body, "@odata.nextLink") == "u" and dig(body, "a.x") is None
