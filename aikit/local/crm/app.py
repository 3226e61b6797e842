"""The demo CRM as an ASGI app: routes, Bearer auth, rate limits and HubSpot's error shape.

Every request's body is read to the end before any reply (a reply to an unread keep-alive POST would
corrupt the next request on that connection). Then: ``Authorization: Bearer`` (the static token, or
any token ``token_validator`` accepts) or 401 (``EXPIRED_AUTHENTICATION`` when the validator says the
token expired, as HubSpot answers an expired OAuth token; ``INVALID_AUTHENTICATION`` otherwise); the
rolling ten-second window per token (search has its own per-second bucket) or 429 with
``Retry-After``; then the handler. Every reply carries ``X-HubSpot-Correlation-Id``; non-search API
replies carry the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aikit.local.crm import (
    associations,
    associations_v3,
    objects,
    pipelines,
    portal,
    properties,
    subscriptions,
    upsert,
)
from aikit.local.crm.objects import MAX_SEARCH_RESULTS, Call
from aikit.local.crm.ratelimit import RATE_LIMIT_BODY, RollingWindow
from aikit.local.crm.store import Store
from aikit.local.crm.webhooks import WebhookDispatcher
from aikit.local.crm.wire import StoreError

__all__ = ["AppConfig", "Expired", "TokenValidator", "build_app"]


class Expired(NamedTuple):
    """A token validator's answer for a token that was valid until ``at`` (epoch seconds)."""

    at: float


#: ``token -> True`` (accept), ``False`` (unknown or revoked) or :class:`Expired`.
TokenValidator = Callable[[str], "bool | Expired"]


@dataclass
class AppConfig:
    """What the app enforces. ``rate_limit=None`` disables the ten-second window."""

    token: str
    token_validator: TokenValidator | None = None
    rate_limit: int | None = 100
    window_s: float = 10.0
    search_per_second: int | None = 5
    send_retry_after: bool = True
    search_cap: int = MAX_SEARCH_RESULTS
    stats: dict[str, int] = field(
        default_factory=lambda: {"requests": 0, "429": 0, "401": 0, "search": 0, "search_results": 0}
    )


def _json(status: int, body: Any, headers: dict[str, str]) -> Response:
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    content = json.dumps(body, separators=(",", ":"))
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def _error(status: int, category: str, message: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": cid, "category": category, **extra}


class _Guard:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self._windows: dict[str, RollingWindow] = {}
        self._search: dict[str, RollingWindow] = {}
        self._static = hashlib.sha256(config.token.encode()).digest()

    def authorized(self, header: str | None) -> str | Expired | None:
        """A key for the token's windows; :class:`Expired`, or None when the token is not accepted."""
        if not header or not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        digest = hashlib.sha256(token.encode()).digest()
        if hmac.compare_digest(digest, self._static):
            return digest.hex()
        validator = self.config.token_validator
        if validator is not None:
            try:
                verdict = validator(token)
            except Exception:  # a failing validator rejects, never 500s
                verdict = False
            if isinstance(verdict, Expired):
                return verdict
            if verdict:
                return digest.hex()
        return None

    def window(self, key: str, search: bool) -> RollingWindow | None:
        cfg = self.config
        if search:
            if cfg.search_per_second is None:
                return None
            return self._search.setdefault(key, RollingWindow(cfg.search_per_second, 1.0))
        if cfg.rate_limit is None:
            return None
        return self._windows.setdefault(key, RollingWindow(cfg.rate_limit, cfg.window_s))


def build_app(store: Store, config: AppConfig, dispatcher: WebhookDispatcher | None = None) -> Starlette:
    """The Starlette app serving ``store`` under HubSpot's paths (v3 and ``2026-03`` objects)."""
    guard = _Guard(config)
    table = (
        objects.handlers()
        | upsert.handlers()
        | properties.handlers()
        | associations.handlers()
        | associations_v3.handlers()
        | pipelines.handlers()
        | portal.handlers()
        | subscriptions.handlers()
    )

    def endpoint(name: str, *, search: bool = False) -> Callable[[Request], Any]:
        handler = table[name]

        async def run(request: Request) -> Response:
            body = await request.body()  # always drain before replying
            cid = str(uuid.uuid4())
            headers = {"X-HubSpot-Correlation-Id": cid}
            config.stats["requests"] += 1
            key = guard.authorized(request.headers.get("authorization"))
            if key is None or isinstance(key, Expired):
                config.stats["401"] += 1
                headers["x-hubspot-auth-failure"] = "401 Unauthorized"
                if isinstance(key, Expired):
                    ago = max(0, int(time.time() - key.at))
                    when = datetime.fromtimestamp(key.at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                    msg = f"The OAuth token used to make this call expired {ago} second(s) ago."
                    err = _error(401, "EXPIRED_AUTHENTICATION", msg, cid, context={"expire time": [when]})
                    return _json(401, err, headers)
                msg = (
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                    "you "
                    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
                )
                return _json(401, _error(401, "INVALID_AUTHENTICATION", msg, cid), headers)
            window = guard.window(key, search)
            if window is not None:
                if not window.admit():
                    config.stats["429"] += 1
                    if not search:
                        headers |= window.headers()
                    if config.send_retry_after:
                        headers["Retry-After"] = str(max(1, math.ceil(window.retry_after())))
                    policy = "SECONDLY" if search else "TEN_SECONDLY_ROLLING"
                    message = "You have reached your secondly limit." if search else RATE_LIMIT_BODY
                    err = _error(
                        429,
                        "RATE_LIMITS",
                        message,
                        cid,
                        errorType="RATE_LIMIT",
                        policyName=policy,
                        groupName="publicapi:private-app-aikit-demo",
                    )
                    return _json(429, err, headers)
                if not search:
                    headers |= window.headers()
            base = f"{request.url.scheme}://{request.url.netloc}"
            call = Call(store, dict(request.path_params), request.query_params, body, base, config.search_cap)
            try:
                status, payload = handler(call)
            except StoreError as exc:
                extra = {"errors": exc.errors} if exc.errors else {}
                return _json(exc.status, _error(exc.status, exc.category, exc.message, cid, **extra), headers)
            if search:
                config.stats["search"] += 1
                config.stats["search_results"] += len(payload.get("results", []))
            return _json(status, payload, headers)

        return run

    async def health(request: Request) -> Response:
        await request.body()
        return _json(
            200,
            {
                "status": "ok",
                "objects": {
                    t: store.count(t) for t in ("contacts", "companies", "tickets", "notes", "deals")
                },
            },
            {},
        )

    routes = [Route("/healthz", health, methods=["GET"])]
    for prefix in ("/crm/v3/objects", "/crm/objects/2026-03"):
        routes += [
            Route(prefix + "/{type}", endpoint("list"), methods=["GET"]),
            Route(prefix + "/{type}", endpoint("create"), methods=["POST"]),
            Route(prefix + "/{type}/search", endpoint("search", search=True), methods=["POST"]),
            Route(prefix + "/{type}/merge", endpoint("merge"), methods=["POST"]),
            Route(prefix + "/{type}/batch/upsert", endpoint("batch.upsert"), methods=["POST"]),
            Route(prefix + "/{type}/batch/{op}", endpoint("batch"), methods=["POST"]),
            Route(prefix + "/{type}/{id}", endpoint("get"), methods=["GET"]),
            Route(prefix + "/{type}/{id}", endpoint("update"), methods=["PATCH"]),
            Route(prefix + "/{type}/{id}", endpoint("archive"), methods=["DELETE"]),
        ]
    props = "/crm/v3/properties/{type}"
    routes += [
        Route(props, endpoint("properties.list"), methods=["GET"]),
        Route(props, endpoint("properties.create"), methods=["POST"]),
        Route(props + "/batch/read", endpoint("properties.batch_read"), methods=["POST"]),
        Route(props + "/batch/archive", endpoint("properties.batch_archive"), methods=["POST"]),
        Route(props + "/groups", endpoint("groups.list"), methods=["GET"]),
        Route(props + "/groups", endpoint("groups.create"), methods=["POST"]),
        Route(props + "/groups/{name}", endpoint("groups.get"), methods=["GET"]),
        Route(props + "/{name}", endpoint("properties.get"), methods=["GET"]),
        Route(props + "/{name}", endpoint("properties.update"), methods=["PATCH"]),
        Route(props + "/{name}", endpoint("properties.archive"), methods=["DELETE"]),
    ]
    one = "/crm/v4/objects/{from}/{id}/associations"
    batch4 = "/crm/v4/associations/{from}/{to}/batch"
    routes += [
        Route(one + "/{to}", endpoint("assoc.get"), methods=["GET"]),
        Route(one + "/default/{to}/{toId}", endpoint("assoc.put"), methods=["PUT"]),
        Route(one + "/{to}/{toId}", endpoint("assoc.put_labelled"), methods=["PUT"]),
        Route(one + "/{to}/{toId}", endpoint("assoc.delete"), methods=["DELETE"]),
        Route(batch4 + "/read", endpoint("assoc.batch_read"), methods=["POST"]),
        Route(batch4 + "/create", endpoint("assoc.batch_create"), methods=["POST"]),
        Route(batch4 + "/associate/default", endpoint("assoc.batch_default"), methods=["POST"]),
        Route(batch4 + "/archive", endpoint("assoc.batch_archive"), methods=["POST"]),
        Route(batch4 + "/labels/archive", endpoint("assoc.batch_archive_labels"), methods=["POST"]),
    ]
    for labels in ("/crm/v4/associations/{from}/{to}/labels", "/crm/associations/v4/{from}/{to}/labels"):
        routes += [
            Route(labels, endpoint("assoc.labels"), methods=["GET"]),
            Route(labels, endpoint("assoc.labels.create"), methods=["POST"]),
            Route(labels, endpoint("assoc.labels.update"), methods=["PUT"]),
            Route(labels + "/{typeId}", endpoint("assoc.labels.delete"), methods=["DELETE"]),
        ]
    batch3 = "/crm/v3/associations/{from}/{to}/batch"
    routes += [
        Route(batch3 + "/read", endpoint("assoc3.batch_read"), methods=["POST"]),
        Route(batch3 + "/create", endpoint("assoc3.batch_create"), methods=["POST"]),
        Route(batch3 + "/archive", endpoint("assoc3.batch_archive"), methods=["POST"]),
    ]
    pipes = "/crm/v3/pipelines/{type}"
    routes += [
        Route(pipes, endpoint("pipelines.list"), methods=["GET"]),
        Route(pipes, endpoint("pipelines.create"), methods=["POST"]),
        Route(pipes + "/{pipeline}", endpoint("pipelines.get"), methods=["GET"]),
        Route(pipes + "/{pipeline}", endpoint("pipelines.update"), methods=["PATCH"]),
        Route(pipes + "/{pipeline}", endpoint("pipelines.replace"), methods=["PUT"]),
        Route(pipes + "/{pipeline}", endpoint("pipelines.archive"), methods=["DELETE"]),
        Route(pipes + "/{pipeline}/stages", endpoint("stages.list"), methods=["GET"]),
        Route(pipes + "/{pipeline}/stages", endpoint("stages.create"), methods=["POST"]),
        Route(pipes + "/{pipeline}/stages/{stage}", endpoint("stages.get"), methods=["GET"]),
        Route(pipes + "/{pipeline}/stages/{stage}", endpoint("stages.update"), methods=["PATCH"]),
        Route(pipes + "/{pipeline}/stages/{stage}", endpoint("stages.archive"), methods=["DELETE"]),
        Route("/crm/v3/owners", endpoint("owners.list"), methods=["GET"]),
        Route("/crm/v3/owners/", endpoint("owners.list"), methods=["GET"]),
        Route("/crm/v3/owners/{owner}", endpoint("owners.get"), methods=["GET"]),
        Route("/account-info/v3/details", endpoint("account.details"), methods=["GET"]),
        Route("/webhooks/v3/{app}/settings", endpoint("webhooks.settings.get"), methods=["GET"]),
        Route("/webhooks/v3/{app}/settings", endpoint("webhooks.settings.put"), methods=["PUT"]),
        Route("/webhooks/v3/{app}/subscriptions", endpoint("webhooks.subs.list"), methods=["GET"]),
        Route("/webhooks/v3/{app}/subscriptions", endpoint("webhooks.subs.create"), methods=["POST"]),
        Route("/webhooks/v3/{app}/subscriptions/{sub}", endpoint("webhooks.subs.delete"), methods=["DELETE"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        await request.body()
        cid = str(uuid.uuid4())
        status = int(getattr(exc, "status_code", 404))
        return _json(
            status,
            _error(status, "OBJECT_NOT_FOUND", f"No route for {request.method} {request.url.path}", cid),
            {"X-HubSpot-Correlation-Id": cid},
        )

    def startup() -> None:
        import asyncio

        if dispatcher is not None:
            dispatcher.loop = asyncio.get_running_loop()

    async def shutdown() -> None:
        if dispatcher is not None:
            await dispatcher.aclose()

    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        startup()
        try:
            yield
        finally:
            await shutdown()

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)
