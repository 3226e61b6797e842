"""The fake provider as a raw ASGI app: OpenAI Chat Completions, Anthropic Messages, models, admin.

No framework, no per-request logging: one request costs a JSON parse, a sha256 and a JSON dump, so the
server sustains thousands of requests per second and is never the bottleneck of a client benchmark.

Routes (the ``/v1`` prefix is optional):

* ``POST /v1/chat/completions`` and ``POST /v1/messages``, plain or ``"stream": true`` (SSE);
* Azure OpenAI's shape: ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``
  (the query is required, the key comes in an ``api-key`` header, the deployment is the model);
* ``GET /v1/models``;
* the batch APIs: ``/v1/files``, ``/v1/batches`` and ``/v1/messages/batches``
  (:mod:`aikit.testing.fake_batches`);
* ``GET /_admin/stats``, ``POST /_admin/reset``, ``GET|POST /_admin/config`` (JSON, partial update),
  ``POST /_admin/release``, ``GET /_admin/health``. With an ``api_key`` configured every admin route
  but ``health`` needs that key too (401 otherwise), so nobody else on the machine can read or change
  the limits. ``/_admin/batches`` configures the batch APIs.

A request is handled in this order: count the arrival, check the API key (401), parse and validate
(400), per-request directives, the ``fail_trigger`` (400), the rate limits (429), a seeded fault draw
(5xx / slow / hang), the lognormal latency, then the deterministic answer.

Per-request directives let a test script one request without touching the global config: put
``[[fake:status=503,times=2]]`` in a message and the first two arrivals of that exact request get 503.
Keys: ``status=N``, ``times=K``, ``retry_after=S``, ``delay=S``, ``hang``, ``invalid_json``,
``finish=length``, ``surrogate`` (the answer ends with a lone surrogate, as a broken model may send).
Reading the request (checks, answer schema, directives) is :mod:`aikit.testing.fake_request`; writing
the reply is :mod:`aikit.testing.fake_wire`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hmac
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from aikit.exceptions import ConfigError
from aikit.testing import fake_wire as wire
from aikit.testing.fake_batches import FakeBatches
from aikit.testing.fake_config import FakeConfig
from aikit.testing.fake_embed import extra_route, overflow
from aikit.testing.fake_limits import RateLimiter, retry_after_headers
from aikit.testing.fake_logprobs import answer_logprobs
from aikit.testing.fake_request import answer_shape, directives, max_tokens, validate

__all__ = ["FakeApp"]

Scope = Mapping[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Sequence[tuple[bytes, bytes]]

_JSON = (b"content-type", b"application/json")
_ERROR_TEXT = {
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    404: ("invalid_request_error", "not_found_error"),
    429: ("requests", "rate_limit_error"),
    500: ("server_error", "api_error"),
    529: ("server_error", "overloaded_error"),
    503: ("server_error", "overloaded_error"),
}


class _Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.requests = 0
        self.by_status: collections.Counter[int] = collections.Counter()
        self.by_path: collections.Counter[str] = collections.Counter()
        self.timeline: collections.Counter[int] = collections.Counter()
        self.arrivals: list[float] = []
        self.events: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def snapshot(self, arrivals: bool) -> dict[str, Any]:
        now = time.monotonic()
        data: dict[str, Any] = {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_path": dict(sorted(self.by_path.items())),
            "ok": sum(v for k, v in self.by_status.items() if k < 300),
            "rate_limited": self.by_status.get(429, 0),
            "server_errors": sum(v for k, v in self.by_status.items() if k >= 500),
            "injected_errors": self.events["error"],
            "slow": self.events["slow"],
            "hangs": self.events["hang"],
            "disconnects": self.events["disconnect"],
            "streams": self.events["stream"],
            "embedded_inputs": self.events["embedded_inputs"],
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "timeline": [[second, count] for second, count in sorted(self.timeline.items())],
            "uptime_s": round(now - self.started, 3),
            "started_at": self.started_wall,
        }
        if arrivals:
            data["arrivals"] = [round(t, 4) for t in self.arrivals]
        return data


class FakeApp:
    """ASGI callable of the fake provider. One instance per server; state lives on its event loop."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._stopping: asyncio.Event | None = None
        self._sleepers: set[asyncio.Future[bool]] = set()
        #: The loop serving this app (set at ASGI lifespan startup), for thread-safe admin calls.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._counter = 0
        #: The OpenAI Batch API and Anthropic Message Batches (:mod:`aikit.testing.fake_batches`).
        self.batches = FakeBatches(self)
        self.reset()

    def reset(self) -> None:
        """Zero the counters, refill the buckets, reseed the generator, forget directive counts."""
        self.stats_data = _Stats()
        self._configure(self.config)

    def _configure(self, config: FakeConfig) -> None:
        self.config = config
        self._limits = RateLimiter(config.rpm, config.tpm, config.burst_s)
        self._rng = random.Random(config.seed)
        self._seen: collections.Counter[str] = collections.Counter()

    def apply(self, changes: Mapping[str, Any]) -> FakeConfig:
        """Change some config fields (buckets refilled, generator reseeded); counters are kept."""
        self._configure(self.config.replace(changes))
        return self.config

    def stats(self, arrivals: bool = False) -> dict[str, Any]:
        """Counters since the last reset (``arrivals=True`` adds every arrival time in seconds)."""
        return self.stats_data.snapshot(arrivals)

    def release_hangs(self) -> None:
        """Answer every hanging or sleeping request now (called before the server stops)."""
        if self._stopping is not None:
            self._stopping.set()
        for wake in list(self._sleepers):
            _resolve(wake, True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._stopping = asyncio.Event()
                    self.loop = asyncio.get_running_loop()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.release_hangs()
                    await self.batches.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_admin/"):
            await self._admin(path, method, scope, receive, send)
            return
        route = path[3:] if path.startswith("/v1/") else path
        azure = _azure_deployment(route)
        anthropic = route == "/messages"
        stats = self.stats_data
        now = time.monotonic()
        stats.requests += 1
        stats.by_path[route] += 1
        stats.timeline[int(now - stats.started)] += 1
        if len(stats.arrivals) < 1_000_000:
            stats.arrivals.append(now - stats.started)
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            body = await _read_body(receive)
            headers = _headers(scope)
            if not self._authorised(headers, azure=azure is not None):
                await self._error(send, 401, self._refusal(headers), anthropic, code="invalid_api_key")
            elif route == "/models" and method == "GET":
                await self._send(send, 200, self._models())
            elif route == "/embeddings" or route.startswith("/models/"):
                await self._send(send, *extra_route(route, method, body, self.config, self.stats_data))
            elif azure is not None and method == "POST":
                if azure and b"api-version=" not in (scope.get("query_string") or b""):
                    await self._error(send, 400, "Missing required query parameter 'api-version'.", False)
                else:
                    await self._chat(send, receive, body, headers, False, model=azure or None)
            elif self.batches.owns(route):
                query = (scope.get("query_string") or b"").decode("latin-1")
                await self.batches.handle(send, route, method, body, headers, query)
            elif route in ("/chat/completions", "/messages") and method == "POST":
                await self._chat(send, receive, body, headers, anthropic)
            elif route in ("/chat/completions", "/messages", "/models"):
                await self._error(send, 405, f"Method {method} not allowed on {path}", anthropic)
            else:
                await self._error(send, 404, f"Unknown path {path}", anthropic, code="unknown_url")
        finally:
            stats.in_flight -= 1

    def _authorised(self, headers: dict[str, str], *, azure: bool = False) -> bool:
        """The key must come as ``Authorization: Bearer``, ``x-api-key``, or as the password of HTTP
        Basic (a gateway in front of a server); on Azure's routes only as ``api-key``, as Azure wants."""
        expected = self.config.api_key
        if expected is None:
            return True
        given = _presented(headers, azure=azure)
        return hmac.compare_digest(given.encode(), expected.encode())

    def _refusal(self, headers: dict[str, str]) -> str:
        message = "Incorrect API key provided. You can find your API key at https://example.invalid."
        if self.config.echo_key:  # as careless providers do: the key quoted back, cut short
            message = f"Incorrect API key provided: {_presented(headers, azure=False)[:-3]}..."
        return message

    async def _chat(
        self, send: Send, receive: Receive, raw: bytes, headers: dict[str, str], anthropic: bool,
        model: str | None = None,
    ) -> None:  # fmt: skip
        cfg = self.config
        try:
            req = json.loads(raw)
        except ValueError:
            await self._error(send, 400, "We could not parse the JSON body of your request.", anthropic)
            return
        if model is not None and isinstance(req, dict):  # Azure: the deployment names the model
            req["model"] = model
        problem = validate(req, headers, anthropic, cfg)
        if problem:
            await self._error(send, 400, problem, anthropic)
            return
        model = str(req["model"])
        pairs = wire.conversation(req["messages"], req.get("system") if anthropic else None)
        digest = wire.request_digest(model, pairs)
        try:
            directive = self._directive(pairs, digest, model)
        except ValueError as exc:
            await self._error(send, 400, f"bad [[fake:...]] directive: {exc}", anthropic)
            return
        limit = max_tokens(req, anthropic)
        if cfg.context_tokens and wire.prompt_tokens(pairs) > cfg.context_tokens:
            message = overflow(wire.prompt_tokens(pairs), cfg.context_tokens, anthropic)
            await self._error(send, 400, message, anthropic, code="context_length_exceeded")
            return
        cost = wire.prompt_tokens(pairs) + int(limit or cfg.default_max_tokens)
        limit_headers = self._limits.anthropic_headers if anthropic else self._limits.openai_headers
        if directive.get("status"):
            status = int(directive["status"])
            extra = retry_after_headers(float(directive.get("retry_after", 1)), cfg.retry_after)
            await self._error(send, status, f"scripted {status} ([[fake:...]] directive)", anthropic, extra)
            return
        if cfg.fail_trigger and any(cfg.fail_trigger in text for role, text in pairs if role == "user"):
            await self._error(
                send, 400, f"Invalid request: the prompt contains {cfg.fail_trigger}.", anthropic
            )
            return
        if self._limits.active:
            ok, wait_s, which = self._limits.admit(cost)
            if not ok:
                message = (
                    f"Rate limit reached for {model} on {which} per min. Please try again in {wait_s:.3f}s."
                )
                extra = retry_after_headers(wait_s, cfg.retry_after) + limit_headers()
                await self._error(
                    send, 429, message, anthropic, extra, kind=which, code="rate_limit_exceeded"
                )
                return
        fault, delay = self._draw()
        if directive.get("hang"):
            fault = "hang"
        delay += float(directive.get("delay", 0))
        if fault == "hang":
            self.stats_data.events["hang"] += 1
            if await self._hang(receive):
                self.stats_data.events["disconnect"] += 1
                return
            await self._error(
                send, 504 if not self._is_stopping() else 503, "hung request released", anthropic
            )
            return
        if delay > 0 and await self._pause(delay):
            await self._error(send, 503, "the server is shutting down", anthropic)
            return
        if fault == "error":
            self.stats_data.events["error"] += 1
            status = cfg.error_statuses[self._rng.randrange(len(cfg.error_statuses))]
            await self._error(send, status, "The server had an error processing your request.", anthropic)
            return
        await self._answer(send, req, model, pairs, digest, limit, directive, anthropic, limit_headers())

    def _draw(self) -> tuple[str, float]:
        cfg = self.config
        delay = 0.0
        if cfg.latency_median_s > 0:
            delay = min(
                cfg.latency_max_s, self._rng.lognormvariate(math.log(cfg.latency_median_s), cfg.latency_sigma)
            )
        if not (cfg.error_rate or cfg.slow_rate or cfg.hang_rate):
            return "", delay
        u = self._rng.random()
        if u < cfg.error_rate:
            return "error", delay
        if u < cfg.error_rate + cfg.slow_rate:
            self.stats_data.events["slow"] += 1
            return "slow", delay + cfg.slow_s
        if u < cfg.error_rate + cfg.slow_rate + cfg.hang_rate:
            return "hang", delay
        return "", delay

    def _directive(self, pairs: list[tuple[str, str]], digest: str, model: str) -> dict[str, str]:
        """This request's directives; ``times=K`` ones stop applying after K arrivals of the request."""
        found = directives(pairs)
        if found.get("only", model) != model:
            return {}
        if "times" in found:
            self._seen[digest] += 1
            if self._seen[digest] > int(found["times"]):
                return {}
        return found

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; True if the server started stopping meanwhile (answer at once then).

        As cheap as ``asyncio.sleep`` (one future, one timer); :meth:`release_hangs` wakes it early.
        """
        if self._is_stopping():
            return True
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _resolve, wake, False)
        self._sleepers.add(wake)
        try:
            return await wake
        finally:
            timer.cancel()
            self._sleepers.discard(wake)

    def _is_stopping(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()

    async def _hang(self, receive: Receive) -> bool:
        """Wait until the client disconnects (True), the server stops or ``hang_s`` passes (False)."""
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(receive())}
        if self._stopping is not None:
            waiters.add(asyncio.ensure_future(self._stopping.wait()))
        done, pending = await asyncio.wait(
            waiters, timeout=self.config.hang_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        return any(not t.cancelled() and isinstance(t.result(), dict) for t in done)

    async def _answer(
        self,
        send: Send,
        req: dict[str, Any],
        model: str,
        pairs: list[tuple[str, str]],
        digest: str,
        limit: Any,
        directive: dict[str, str],
        anthropic: bool,
        headers: Headers,
    ) -> None:
        cfg = self.config
        structured, tool_name = answer_shape(req, anthropic)
        if structured is not None:
            value: Any = wire.schema_instance(structured, digest)
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            value = None
            text = wire.reply_text(pairs, digest, cfg.reply, cfg.reply_words)
        logprobs = None
        if not anthropic and req.get("logprobs"):  # the keyword "model" of aikit.testing.fake_logprobs
            text, scored, logprobs = answer_logprobs(structured, pairs, digest, text)
            value = scored if scored is not None else value
        if directive.get("invalid_json"):
            text, value = '{"not valid": ', None
        if directive.get("surrogate"):
            text += "\ud800"
        out_tokens = wire.count_tokens(text)
        truncated = directive.get("finish") == "length"
        if limit is not None and out_tokens > int(limit):
            text, out_tokens, truncated = text[: int(limit) * 4], int(limit), True
        in_tokens = wire.prompt_tokens(pairs)
        stats = self.stats_data
        stats.prompt_tokens += in_tokens
        stats.completion_tokens += out_tokens
        self._counter += 1
        usage = (in_tokens, out_tokens)
        stream = bool(req.get("stream"))
        if anthropic:
            ident = f"msg_{digest[:12]}{self._counter:08d}"
            stop = "max_tokens" if truncated else ("tool_use" if tool_name else "end_turn")
            tool = None
            if tool_name is not None:
                tool = (tool_name, {} if truncated or value is None else value)
            if stream:
                chunks = wire.anthropic_stream(
                    ident, model, text, usage, stop, tool, chunk_chars=cfg.stream_chunk_chars
                )
                await self._stream(send, chunks, headers)
            else:
                await self._send(
                    send, 200, wire.anthropic_message(ident, model, text, usage, stop, tool), headers
                )
            return
        ident = f"chatcmpl-{digest[:12]}{self._counter:08d}"
        finish = "length" if truncated else "stop"
        created = int(time.time())
        call = None if tool_name is None else (tool_name, {} if truncated or value is None else value)
        if stream:
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            chunks = wire.openai_stream(
                ident,
                model,
                created,
                text,
                usage,
                finish,
                chunk_chars=cfg.stream_chunk_chars,
                include_usage=include_usage,
                tool=call,
            )
            await self._stream(send, chunks, headers)
        else:
            body = wire.openai_completion(ident, model, created, text, usage, finish, call, logprobs=logprobs)
            await self._send(send, 200, body, headers)

    async def _send(self, send: Send, status: int, payload: Any, headers: Headers = ()) -> None:
        try:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a lone surrogate (the ``surrogate`` directive): JSON-escape it
            body = json.dumps(payload, separators=(",", ":")).encode()
        self.stats_data.by_status[status] += 1
        start = [_JSON, (b"content-length", str(len(body)).encode()), *headers]
        await send({"type": "http.response.start", "status": status, "headers": start})
        await send({"type": "http.response.body", "body": body})

    async def _stream(self, send: Send, chunks: Iterator[bytes], headers: Headers) -> None:
        self.stats_data.by_status[200] += 1
        self.stats_data.events["stream"] += 1
        start = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        delay = self.config.stream_delay_s
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if delay:
                await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": b""})

    async def _error(
        self,
        send: Send,
        status: int,
        message: str,
        anthropic: bool,
        headers: Headers = (),
        *,
        kind: str | None = None,
        code: str | None = None,
    ) -> None:
        openai_kind, anthropic_kind = _ERROR_TEXT.get(
            status,
            (
                "server_error" if status >= 500 else "invalid_request_error",
                "api_error" if status >= 500 else "invalid_request_error",
            ),
        )
        if anthropic:
            payload = wire.anthropic_error(message, anthropic_kind)
        else:
            payload = wire.openai_error(message, kind or openai_kind, code)
        await self._send(send, status, payload, headers)

    def _models(self) -> dict[str, Any]:
        created = "2024-01-01T00:00:00Z"
        data = [
            {
                "id": m,
                "object": "model",
                "type": "model",
                "created": 1704067200,
                "created_at": created,
                "owned_by": "aikit-fake",
                "display_name": m,
            }
            for m in self.config.models
        ]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last}

    async def _admin(self, path: str, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        what = path[len("/_admin/") :]
        if what != "health" and not self._authorised(_headers(scope)):
            message = "The admin endpoints need the server's API key (Authorization: Bearer or x-api-key)."
            await self._send(
                send, 401, wire.openai_error(message, "invalid_request_error", "invalid_api_key")
            )
        elif what == "batches" or what.startswith("batches/"):
            await self.batches.admin(send, what[len("batches/") :] if "/" in what else "", method, body)
        elif what == "stats" and method == "GET":
            arrivals = b"arrivals=1" in (scope.get("query_string") or b"")
            await self._send(send, 200, self.stats(arrivals))
        elif what == "reset" and method == "POST":
            self.reset()
            await self._send(send, 200, {"reset": True})
        elif what == "config" and method == "GET":
            await self._send(send, 200, self.config.to_dict())
        elif what == "config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigError("POST /_admin/config wants a JSON object of FakeConfig fields")
                config = self.apply(changes)
            except (ValueError, TypeError) as exc:
                await self._send(send, 400, wire.openai_error(str(exc), "invalid_request_error"))
                return
            await self._send(send, 200, config.to_dict())
        elif what == "release" and method == "POST":
            self.release_hangs()
            await self._send(send, 200, {"released": True})
        elif what == "health":
            await self._send(send, 200, {"ok": True})
        else:
            await self._send(
                send, 404, wire.openai_error(f"Unknown admin path {path}", "invalid_request_error")
            )


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def _presented(headers: dict[str, str], *, azure: bool) -> str:
    if azure:
        return headers.get("api-key") or ""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return headers.get("x-api-key") or auth[7:].strip()
    if auth[:6].lower() == "basic ":
        try:
            return base64.b64decode(auth[6:].strip()).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return headers.get("x-api-key") or ""


def _azure_deployment(route: str) -> str | None:
    """The deployment of ``/openai/deployments/{name}/chat/completions`` (``""`` for ``/openai/v1/...``)."""
    if route == "/openai/v1/chat/completions":
        return ""
    parts = route.split("/")
    if len(parts) == 6 and parts[1:3] == ["openai", "deployments"] and parts[4:] == ["chat", "completions"]:
        return parts[3] or None
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
