"""The demo org as an ASGI app: Salesforce's paths, Bearer sessions, the API budget, its error shape.

Every request body is read to the end before the reply. API calls under ``/services/data/vXX.X/`` need
``Authorization: Bearer <session id>`` (else 401 ``INVALID_SESSION_ID``), count against the org's API
budget (past it: 403 ``REQUEST_LIMIT_EXCEEDED``) and carry ``Sforce-Limit-Info``. Paths are accepted
with and without the trailing slash simple-salesforce adds. Unknown resources are 404 ``NOT_FOUND`` in
the JSON-array shape; an unexpected failure is 500 ``UNKNOWN_EXCEPTION``, never a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from aikit.local.salesforce import bulk, rest
from aikit.local.salesforce.oauth import ORG_ID, OAuthFailure, authorize, token_grant
from aikit.local.salesforce.org import Org
from aikit.local.salesforce.rest import Call, Reply
from aikit.local.salesforce.wire import ApiError

__all__ = ["build_app"]

log = logging.getLogger("aikit.local.salesforce")
_SESSION_EXPIRED = ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
_LIMIT = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
_UNAVAILABLE = "The server is temporarily unable to service your request. Please try again later."


def _render(reply: Reply) -> Response:
    if reply.status == 204 or reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, status_code=reply.status, headers=reply.headers)
    content = json.dumps(reply.body, separators=(",", ":"))
    return Response(content, status_code=reply.status, headers=reply.headers, media_type="application/json")


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    return _render(Reply(exc.status, exc.body(), dict(headers or {})))


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (no multipart parser needed)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def build_app(org: Org, base_url: Callable[[], str]) -> Starlette:
    """The Starlette app serving ``org``; ``base_url()`` is the public ``https://127.0.0.1:PORT``."""
    table = rest.handlers() | bulk.handlers()

    def api(name: str, *, counted: bool = True, auth: bool = True) -> Callable[[Request], Any]:
        handler = table[name]

        async def endpoint(request: Request) -> Response:
            body = await request.body()  # always drain before replying
            org.stats["requests"] += 1
            user_id = ""
            if auth:
                header = request.headers.get("authorization", "")
                session = (
                    org.sessions.validate(header[7:].strip())
                    if header.lower().startswith("bearer ")
                    else None
                )
                if session is None:
                    org.stats["401"] += 1
                    return _error(_SESSION_EXPIRED)
                user_id = session.user_id
            headers: dict[str, str] = {}
            if counted:
                if not org.budget.admit():
                    org.stats["403_limit"] += 1
                    return _error(_LIMIT, {"Sforce-Limit-Info": org.budget.header()})
                headers["Sforce-Limit-Info"] = org.budget.header()
                with org.lock:
                    fault = org.faults.pop(0) if org.faults else None
                if fault is not None:
                    org.stats[f"fault_{fault}"] += 1
                    code = "SERVER_UNAVAILABLE" if fault == 503 else "UNKNOWN_EXCEPTION"
                    return _error(ApiError(fault, code, _UNAVAILABLE), headers)
            params = {k: str(v) for k, v in request.path_params.items()}
            version = params.pop("version", "60.0")
            call = Call(org, version, params, request.query_params, body, request.headers, user_id or "")
            try:
                reply = handler(call)
            except ApiError as exc:
                return _error(exc, headers)
            except Exception:  # a bug in the demo is a 500 in Salesforce's shape; the log has the details
                log.exception("demo Salesforce org: %s %s failed", request.method, request.url.path)
                return _error(ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred."), headers)
            reply.headers.update(headers)
            return _render(reply)

        return endpoint

    async def token(request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type", "?")
        org.stats[f"token_{grant.rsplit(':', 1)[-1]}"] += 1
        try:
            body = token_grant(org.apps, org.sessions, form, request.headers.get("authorization"), base_url())
        except OAuthFailure as exc:
            org.stats["token_failed"] += 1
            return Response(json.dumps(exc.body()), status_code=exc.status, media_type="application/json")
        return Response(
            json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    async def authorize_page(request: Request) -> Response:
        await request.body()
        try:
            target = authorize(org.apps, org.sessions, dict(request.query_params))
        except OAuthFailure as exc:
            return Response(json.dumps(exc.body()), status_code=400, media_type="application/json")
        org.stats["authorize"] += 1
        return RedirectResponse(target, status_code=302)

    async def revoke(request: Request) -> Response:
        form = await _form(request)
        if not org.sessions.revoke(form.get("token", "")):
            failure = OAuthFailure("unsupported_token_type", "this token type is not supported")
            return Response(json.dumps(failure.body()), status_code=400, media_type="application/json")
        return Response(status_code=200)

    async def identity(request: Request) -> Response:
        await request.body()
        header = request.headers.get("authorization", "")
        session = org.sessions.validate(header[7:].strip()) if header.lower().startswith("bearer ") else None
        if session is None:
            return Response("Bad_OAuth_Token", status_code=403)
        user = next((u for u in org.apps.users.values() if u.user_id == session.user_id), None)
        if user is None or request.path_params["user"] != user.user_id:
            return Response("Bad_Id", status_code=404)
        body = {
            "id": f"{base_url()}/id/{ORG_ID}/{user.user_id}",
            "user_id": user.user_id,
            "organization_id": ORG_ID,
            "username": user.username,
            "display_name": user.display_name,
            "active": True,
            "urls": {
                "rest": f"{base_url()}/services/data/v{{version}}/",
                "query": f"{base_url()}/services/data/v{{version}}/query/",
            },
        }
        return Response(json.dumps(body), media_type="application/json")

    v = "/services/data/v{version}"

    def both(path: str, name: str, methods: list[str], **kw: Any) -> list[Route]:
        endpoint = api(name, **kw)
        return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]

    routes = [
        *both("/services/data", "versions", ["GET"], auth=False, counted=False),
        *both(v, "resources", ["GET"]),
        *both(v + "/query", "query", ["GET"]),
        *both(v + "/queryAll", "queryAll", ["GET"]),
        *both(v + "/query/{locator}", "query.more", ["GET"]),
        *both(v + "/queryAll/{locator}", "query.more", ["GET"]),
        *both(v + "/limits", "limits", ["GET"]),
        *both(v + "/sobjects", "sobjects", ["GET"]),
        *both(v + "/sobjects/{type}", "sobject.info", ["GET"]),
        *both(v + "/sobjects/{type}", "sobject.create", ["POST"]),
        *both(v + "/sobjects/{type}/describe", "sobject.describe", ["GET"]),
        *both(v + "/sobjects/{type}/updated", "sobject.updated", ["GET"]),
        *both(v + "/sobjects/{type}/deleted", "sobject.deleted", ["GET"]),
        *both(v + "/sobjects/{type}/{id}", "sobject.get", ["GET"]),
        *both(v + "/sobjects/{type}/{id}", "sobject.update", ["PATCH"]),
        *both(v + "/sobjects/{type}/{id}", "sobject.delete", ["DELETE"]),
        *both(v + "/sobjects/{type}/{field}/{value:path}", "sobject.by_external_id", ["GET"]),
        *both(v + "/sobjects/{type}/{field}/{value:path}", "sobject.upsert", ["PATCH"]),
        *both(v + "/composite/sobjects", "collection.create", ["POST"]),
        *both(v + "/composite/sobjects", "collection.update", ["PATCH"]),
        *both(v + "/composite/sobjects", "collection.delete", ["DELETE"]),
        *both(v + "/composite/sobjects/{type}", "collection.retrieve", ["GET", "POST"]),
        *both(v + "/composite/sobjects/{type}/{field}", "collection.upsert", ["PATCH"]),
        *both(v + "/jobs/query", "jobs.create", ["POST"]),
        *both(v + "/jobs/query", "jobs.list", ["GET"]),
        *both(v + "/jobs/query/{job}", "jobs.get", ["GET"]),
        *both(v + "/jobs/query/{job}", "jobs.abort", ["PATCH"]),
        *both(v + "/jobs/query/{job}", "jobs.delete", ["DELETE"]),
        *both(v + "/jobs/query/{job}/results", "jobs.results", ["GET"]),
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/oauth2/authorize", authorize_page, methods=["GET"]),
        Route("/services/oauth2/revoke", revoke, methods=["POST"]),
        Route("/id/{org}/{user}", identity, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        await request.body()
        status = int(getattr(exc, "status_code", 404))
        if status == 405:
            return _error(ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."))
        return _error(ApiError(404, "NOT_FOUND", "The requested resource does not exist"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield  # nothing to start or stop; an explicit lifespan keeps shutdown quiet

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
