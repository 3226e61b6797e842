"""The ASGI face of the local OAuth server: read the request, call the server, write the reply.

Kept apart from :mod:`aikit.local.oauth.server` so the protocol code stays framework-free: each
route reads the body once (form or JSON), builds a :class:`~aikit.local.oauth.grants.RawRequest`
and calls the matching ``OAuthServer.handle_*`` method, which is synchronous and fast (in memory).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aikit.local.oauth.grants import RawRequest

if TYPE_CHECKING:
    from aikit.local.oauth.server import OAuthServer, _Reply

__all__ = ["build_app"]


async def _read(request: Request) -> RawRequest:
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    form: dict[str, str] = {}
    data: dict[str, Any] = {}
    if body and "json" in ctype:
        try:
            loaded = json.loads(body)
        except ValueError:
            loaded = {}
        data = loaded if isinstance(loaded, dict) else {}
    elif body:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return RawRequest(
        method=request.method,
        url=str(request.url),
        headers=request.headers,  # case-insensitive, as authlib reads "Authorization"
        query=dict(request.query_params),
        form=form,
        json=data,
    )


def _route(path: str, handler: Callable[[RawRequest], _Reply], methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        reply = handler(await _read(request))
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    return Route(path, endpoint, methods=methods)


def build_app(server: OAuthServer) -> Starlette:
    """A Starlette app serving ``server``'s endpoints."""
    return Starlette(
        routes=[
            _route("/authorize", server.handle_authorize, ["GET", "POST"]),
            _route("/token", server.handle_token, ["POST"]),
            _route("/device_authorization", server.handle_device_authorization, ["POST"]),
            _route("/device", server.handle_device_page, ["GET"]),
            _route("/device/approve", server.handle_device_approve, ["POST"]),
            _route("/revoke", server.handle_revoke, ["POST"]),
            _route("/introspect", server.handle_introspect, ["POST"]),
            _route("/userinfo", server.handle_userinfo, ["GET"]),
            _route("/.well-known/oauth-authorization-server", server.handle_metadata, ["GET"]),
        ]
    )
