"""The OpenAI-compatible front of ``aikit serve ai``: what llama.cpp's own server gets wrong, done right.

The embedded llama.cpp server listens on a private port with a key of its own; this ASGI app is
what users (the ``openai`` SDK, LangChain, curl) talk to. It passes chat requests on, and:

* **tools**: llama.cpp answers plain text to a request with ``tools`` (SmolLM2's template has
  none), which a client reads as "no call". The gateway sends the choice of a call as a JSON-schema
  grammar instead (:mod:`aikit.client.providers.local_tools`) and answers real ``tool_calls``
  (``finish_reason: "tool_calls"``), plain or streamed. ``tool_choice: "none"`` drops the tools.
* **validation**: 400 for an unparsable body, empty ``messages`` and unknown roles, with OpenAI's
  error shape and string codes (``invalid_api_key``, ``context_length_exceeded``,
  ``model_not_found``, ``invalid_request_error``);
* **models**: ``GET /v1/models`` and ``GET /v1/models/{id}`` (``local``, and the embedding model);
* **embeddings**: ``POST /v1/embeddings`` through the embedded e5 model when started with
  ``--embeddings``, else a 501 that says so.

>>> problem({"messages": []})
"'messages' must be a non-empty array"
>>> problem({"messages": [{"role": "robot", "content": "hi"}]})
"messages[0].role: unknown role 'robot' (expected one of assistant, developer, system, tool, user)"
"""

from __future__ import annotations

import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aikit.client.providers import local_tools
from aikit.client.tools import tool_choice_of, tools_of
from aikit.exceptions import ConfigError

__all__ = ["ROLES", "gateway_app", "problem"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_OVERFLOW = ("exceed_context_size_error", "context", "too long")


def _error(status: int, message: str, code: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)


def problem(body: Any) -> str | None:
    """What is wrong with a chat request body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ROLES:
            return f"messages[{i}].role: unknown role {role!r} (expected one of {', '.join(sorted(ROLES))})"
    return None


def _neutral_choice(raw: Any) -> Any:
    if isinstance(raw, dict):
        return (raw.get("function") or {}).get("name")
    return raw


def _rewrite(body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The upstream body, and whether the answer must be read back as a tool call."""
    tools = tools_of(body.pop("tools", None) or [])
    choice = tool_choice_of(_neutral_choice(body.pop("tool_choice", None)), tools) if tools else None
    body.pop("parallel_tool_calls", None)
    messages = local_tools.plain_messages(body["messages"])
    if not tools or choice == "none":
        return {**body, "messages": messages}, False
    hint = {"role": "system", "content": local_tools.tools_prompt(tools, choice)}
    schema = {"name": local_tools.SCHEMA_NAME, "schema": local_tools.answer_schema(tools, choice)}
    upstream = {
        **body,
        "messages": [hint, *messages],
        "response_format": {"type": "json_schema", "json_schema": schema},
    }
    return upstream, True


def _with_calls(data: dict[str, Any]) -> dict[str, Any]:
    choice = data["choices"][0]
    message = choice.get("message") or {}
    text, calls = local_tools.read_answer(message.get("content") or "", str(data.get("id") or "call"))
    if calls:
        message["content"] = None
        message["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
            for c in calls
        ]  # fmt: skip
        choice["finish_reason"] = "tool_calls"
    else:
        message["content"] = text
    return data


def _as_stream(data: dict[str, Any]) -> AsyncIterator[bytes]:
    """A whole answer as OpenAI SSE chunks (tool calls are decided before the first byte)."""

    async def chunks() -> AsyncIterator[bytes]:
        head = {"id": data.get("id"), "object": "chat.completion.chunk", "created": data.get("created"),
                "model": data.get("model")}  # fmt: skip
        choice = data["choices"][0]
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        for part in (
            [{"index": 0, "delta": delta, "finish_reason": None}],
            [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}],
        ):
            yield b"data: " + json.dumps({**head, "choices": part}).encode() + b"\n\n"
        yield b"data: " + json.dumps({**head, "choices": [], "usage": data.get("usage")}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return chunks()


def gateway_app(
    upstream: str, upstream_key: str | None, *, api_key: str | None = None, embeddings: bool = False
) -> Starlette:
    """The gateway in front of the llama.cpp server at ``upstream`` (``http://127.0.0.1:PORT``)."""
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(600.0, connect=5.0), trust_env=False)
    auth = {"authorization": f"Bearer {upstream_key}"} if upstream_key else {}

    def refused(request: Request) -> Response | None:
        if api_key is None:
            return None
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            return None
        return _error(401, "Incorrect API key provided.", "invalid_api_key")

    def models() -> list[dict[str, Any]]:
        names = ["local"] + (["local-embed"] if embeddings else [])
        return [{"id": n, "object": "model", "created": 0, "owned_by": "aikit"} for n in names]

    async def health(request: Request) -> Response:
        resp = await client.get("/health")
        return Response(resp.content, resp.status_code, media_type="application/json")

    async def list_models(request: Request) -> Response:
        return refused(request) or JSONResponse({"object": "list", "data": models()})

    async def get_model(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        name = request.path_params["model"]
        card = next((m for m in models() if m["id"] == name), None)
        if card is None:
            known = [m["id"] for m in models()]
            return _error(
                404, f"The model '{name}' does not exist; this server has {known}.", "model_not_found"
            )
        return JSONResponse(card)

    async def embed(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        if not embeddings:
            message = "this server has no embedding model: start it with `aikit serve ai --embeddings`"
            return _error(501, message, "embeddings_not_enabled")
        from aikit.local.llm.embeddings import aensure_embed_server

        endpoint = await aensure_embed_server()
        resp = await client.post(
            endpoint.base_url + "/embeddings", content=await request.body(),
            headers={"authorization": f"Bearer {endpoint.api_key}", "content-type": "application/json"},
        )  # fmt: skip
        return Response(resp.content, resp.status_code, media_type="application/json")

    async def chat(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
        if (what := problem(body)) is not None:
            return _error(400, what, "invalid_request_error")
        try:
            upstream_body, calls = _rewrite(body)
        except ConfigError as exc:
            return _error(400, str(exc), "invalid_tools")
        stream = bool(upstream_body.get("stream"))
        if stream and not calls:
            req = client.build_request("POST", "/v1/chat/completions", json=upstream_body, headers=auth)
            resp = await client.send(req, stream=True)
            if resp.status_code >= 400:
                return _upstream_error(resp.status_code, await resp.aread())
            return StreamingResponse(_relay(resp), media_type="text/event-stream")
        upstream_body.pop("stream", None)
        upstream_body.pop("stream_options", None)
        resp = await client.post("/v1/chat/completions", json=upstream_body, headers=auth)
        if resp.status_code >= 400:
            return _upstream_error(resp.status_code, resp.content)
        data = resp.json()
        data["created"] = data.get("created") or int(time.time())
        if calls:
            data = _with_calls(data)
        if stream:
            return StreamingResponse(_as_stream(data), media_type="text/event-stream")
        return JSONResponse(data)

    routes = [
        Route("/health", health),
        Route("/v1/models", list_models),
        Route("/v1/models/{model:path}", get_model),
        Route("/v1/embeddings", embed, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(routes=routes, lifespan=lifespan)


async def _relay(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for part in resp.aiter_raw():
            yield part
    finally:
        await resp.aclose()


def _upstream_error(status: int, raw: bytes) -> JSONResponse:
    """llama.cpp's error with OpenAI's string codes (a prompt too long: ``context_length_exceeded``)."""
    try:
        err = json.loads(raw).get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    message = str(err.get("message") or raw[:300].decode(errors="replace"))
    kind = str(err.get("type") or "")
    if status == 400 and any(word in (kind + message).lower() for word in _OVERFLOW):
        return _error(400, message, "context_length_exceeded")
    code = {401: "invalid_api_key", 404: "not_found"}.get(status, kind or "upstream_error")
    return _error(status, message, code, "server_error" if status >= 500 else "invalid_request_error")
