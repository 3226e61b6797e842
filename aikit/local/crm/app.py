"""The demo CRM as an ASGI app: routes, Bearer auth, rate limits and HubSpot's error shape.

Every request's body is read to the end before any reply (a reply to an unread keep-alive POST would
corrupt the next request on that connection). Then: ``Authorization: Bearer`` (the static token, or
any token ``token_validator`` accepts) or 401; the rolling ten-second window per token (search has
its own per-second bucket) or 429 with ``Retry-After``; then the handler. Every reply carries
``X-HubSpot-Correlation-Id``; non-search API replies carry the ``X-HubSpot-RateLimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aikit.local.crm import associations, objects, properties, subscriptions
from aikit.local.crm.objects import Call
from aikit.local.crm.ratelimit import RATE_LIMIT_BODY, RollingWindow
from aikit.local.crm.store import Store
from aikit.local.crm.webhooks import WebhookDispatcher
from aikit.local.crm.wire import StoreError

__all__ = ["AppConfig", "build_app"]

TokenValidator = Callable[[str], bool]


@dataclass
class AppConfig:
    """What the app enforces. ``rate_limit=None`` disables the ten-second window."""

    token: str
    token_validator: TokenValidator | None = None
    rate_limit: int | None = 100
    window_s: float = 10.0
    search_per_second: int | None = 5
    send_retry_after: bool = True
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "429": 0, "401": 0})


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

    def authorized(self, header: str | None) -> str | None:
        """A key for the token's windows, or None when the token is not accepted."""
        if not header or not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        digest = hashlib.sha256(token.encode()).digest()
        if hmac.compare_digest(digest, self._static):
            return digest.hex()
        validator = self.config.token_validator
        if validator is not None:
            try:
                ok = bool(validator(token))
            except Exception:  # a failing validator rejects, never 500s
                ok = False
            if ok:
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
    table = objects.handlers() | properties.handlers() | associations.handlers() | subscriptions.handlers()

    def endpoint(name: str, *, search: bool = False) -> Callable[[Request], Any]:
        handler = table[name]

        async def run(request: Request) -> Response:
            body = await request.body()  # always drain before replying
            cid = str(uuid.uuid4())
            headers = {"X-HubSpot-Correlation-Id": cid}
            config.stats["requests"] += 1
            key = guard.authorized(request.headers.get("authorization"))
            if key is None:
                config.stats["401"] += 1
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
            call = Call(store, dict(request.path_params), request.query_params, body, base)
            try:
                status, payload = handler(call)
            except StoreError as exc:
                extra = {"errors": exc.errors} if exc.errors else {}
                return _json(exc.status, _error(exc.status, exc.category, exc.message, cid, **extra), headers)
            return _json(status, payload, headers)

        return run

    async def health(request: Request) -> Response:
        await request.body()
        return _json(
            200,
            {
                "status": "ok",
                "objects": {t: store.count(t) for t in ("contacts", "companies", "tickets", "notes")},
            },
            {},
        )

    routes = [Route("/healthz", health, methods=["GET"])]
    for prefix in ("/crm/v3/objects", "/crm/objects/2026-03"):
        routes += [
            Route(prefix + "/{type}", endpoint("list"), methods=["GET"]),
            Route(prefix + "/{type}", endpoint("create"), methods=["POST"]),
            Route(prefix + "/{type}/search", endpoint("search", search=True), methods=["POST"]),
            Route(prefix + "/{type}/batch/{op}", endpoint("batch"), methods=["POST"]),
            Route(prefix + "/{type}/{id}", endpoint("get"), methods=["GET"]),
            Route(prefix + "/{type}/{id}", endpoint("update"), methods=["PATCH"]),
            Route(prefix + "/{type}/{id}", endpoint("archive"), methods=["DELETE"]),
        ]
    routes += [
        Route("/crm/v3/properties/{type}", endpoint("properties.list"), methods=["GET"]),
        Route("/crm/v3/properties/{type}", endpoint("properties.create"), methods=["POST"]),
        Route("/crm/v3/properties/{type}/groups", endpoint("groups.list"), methods=["GET"]),
        Route("/crm/v3/properties/{type}/groups", endpoint("groups.create"), methods=["POST"]),
        Route("/crm/v3/properties/{type}/groups/{name}", endpoint("groups.get"), methods=["GET"]),
        Route("/crm/v3/properties/{type}/{name}", endpoint("properties.get"), methods=["GET"]),
        Route("/crm/v3/properties/{type}/{name}", endpoint("properties.update"), methods=["PATCH"]),
        Route("/crm/v4/objects/{from}/{id}/associations/{to}", endpoint("assoc.get"), methods=["GET"]),
        Route(
            "/crm/v4/objects/{from}/{id}/associations/default/{to}/{toId}",
            endpoint("assoc.put"),
            methods=["PUT"],
        ),
        Route("/crm/v4/associations/{from}/{to}/batch/read", endpoint("assoc.batch_read"), methods=["POST"]),
        Route("/crm/v4/associations/{from}/{to}/labels", endpoint("assoc.labels"), methods=["GET"]),
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
