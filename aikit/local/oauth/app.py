"""The ASGI face of the local OAuth server: read the request, call the endpoint, write the reply.

The only module of :mod:`aikit.local.oauth` that knows Starlette, so the endpoints stay
framework-free: each route reads the body once (form or JSON), builds a
:class:`~aikit.local.oauth.grants.RawRequest` and calls its handler from
:meth:`Endpoints.routes <aikit.local.oauth.endpoints.Endpoints.routes>`, which is synchronous and
fast (in memory).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aikit.local.oauth.endpoints import Endpoints, Handler
from aikit.local.oauth.grants import RawRequest

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


def _route(path: str, handler: Handler, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        reply = handler(await _read(request))
        return Response(reply.body, status_code=reply.status, headers=dict(reply.headers))

    return Route(path, endpoint, methods=methods)


def build_app(endpoints: Endpoints) -> Starlette:
    """A Starlette app serving ``endpoints``."""
    return Starlette(routes=[_route(path, handler, methods) for path, handler, methods in endpoints.routes()])
