"""The fake provider's batch APIs: OpenAI's Files + Batch API and Anthropic's Message Batches.

Faithful to the public references (``batch-apis.md``): multipart uploads (any filename) that are
``processed`` at once; batches that walk ``validating -> in_progress -> finalizing -> completed`` (or
``failed`` after validation, ``expired`` with partial results, ``cancelling -> cancelled``) with every
``*_at`` field and ``request_counts.completed`` growing while in progress; successes in the output
file and failures in the error file (``output_file_id`` null when nothing succeeded, either file null
when empty), lines in a shuffled order. Anthropic batches are ``in_progress``, ``canceling`` (one L)
or ``ended``, counts all ``processing`` until they end, and an absolute ``results_url`` on this server
serving ``\\n``-joined JSONL without blank lines. When a :class:`~aikit.testing.fake_batch_wire.BatchConfig`
names a ``webhook_url``, every OpenAI batch that ends POSTs a signed ``batch.completed`` /
``failed`` / ``expired`` / ``cancelled`` event there (Standard Webhooks headers), retried on non-2xx.

Statuses are computed from the clock at each request, so nothing runs in the background except the
webhook deliveries. Admin: ``GET /_admin/batches`` (counters, config, webhook deliveries, each batch's
created/ended times), ``POST /_admin/batches/config`` (partial update), ``POST /_admin/batches/reset``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aikit.exceptions import ConfigError
from aikit.testing import fake_wire as wire
from aikit.testing.fake_batch_state import ENDPOINT, FakeBatch, StoredFile
from aikit.testing.fake_batch_wire import (
    BatchConfig,
    multipart_fields,
    plan_line,
    sign_webhook,
    valid_custom_id,
    validate_openai_line,
)

if TYPE_CHECKING:  # pragma: no cover
    from aikit.testing.fake_config import FakeConfig


class _App(Protocol):
    """What the batch routes use of :class:`~aikit.testing.fake_app.FakeApp`."""

    config: FakeConfig
    stats_data: Any

    async def _send(self, send: Send, status: int, payload: Any, headers: Any = ...) -> None: ...


__all__ = ["FakeBatches", "configure_batches"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


class FakeBatches:
    """The batch routes of one :class:`~aikit.testing.fake_app.FakeApp` (state lives on its loop)."""

    def __init__(self, app: _App) -> None:
        self.app = app
        self.config = BatchConfig()
        self.reset()
        self._http: Any = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        """Forget every file and batch, zero the counters, reseed."""
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        self.deliveries: list[dict[str, Any]] = []
        self._rng = random.Random(self.config.seed)
        self._seen: collections.Counter[str] = collections.Counter()

    def configure(self, changes: Mapping[str, Any]) -> BatchConfig:
        self.config = self.config.replace(changes)
        self._rng = random.Random(self.config.seed)
        return self.config

    async def aclose(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @staticmethod
    def owns(route: str) -> bool:
        """True for the routes served here (``route`` is the path without its ``/v1`` prefix)."""
        return route.startswith(("/files", "/batches", "/messages/batches"))

    async def handle(
        self, send: Send, route: str, method: str, body: bytes, headers: dict[str, str], query: str
    ) -> None:
        parts = [p for p in route.split("/") if p]
        self.stats["requests"] += 1
        try:
            if parts[0] == "files":
                await self._files(send, parts[1:], method, body, headers)
            elif parts[0] == "batches":
                await self._openai(send, parts[1:], method, body, query)
            else:
                await self._anthropic(send, parts[2:], method, body, headers)
        except ValueError as exc:
            await self._fail(send, 400, str(exc), anthropic=parts[0] == "messages")

    def snapshot(self) -> dict[str, Any]:
        """Config, counters, webhook deliveries and a timeline of the batches (``GET /_admin/batches``)."""
        return {
            "config": self.config.to_dict(),
            "stats": dict(self.stats),
            "batches": len(self.batches),
            "deliveries": self.deliveries,
            "timeline": [
                {
                    "id": b.id,
                    "created": b.created,
                    "ended": b.ended_at(),
                    "lines": len(b.custom_ids),
                    "status": b.status(time.time()) if not b.anthropic else None,
                }
                for b in self.batches.values()
            ],
        }

    async def admin(self, send: Send, what: str, method: str, body: bytes) -> None:
        if what == "" and method == "GET":
            await self.app._send(send, 200, self.snapshot())
        elif what == "config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ConfigError("POST /_admin/batches/config wants a JSON object of BatchConfig fields")
                config = self.configure(changes)
            except (ValueError, TypeError) as exc:
                await self.app._send(send, 400, wire.openai_error(str(exc), "invalid_request_error"))
                return
            await self.app._send(send, 200, config.to_dict())
        elif what == "reset" and method == "POST":
            self.reset()
            await self.app._send(send, 200, {"reset": True})
        else:
            await self.app._send(
                send, 404, wire.openai_error(f"Unknown admin path {what}", "invalid_request_error")
            )

    async def _fail(
        self, send: Send, status: int, message: str, *, anthropic: bool, code: str | None = None
    ) -> None:
        kind = {404: "not_found_error", 413: "request_too_large"}.get(status, "invalid_request_error")
        if anthropic:
            payload = wire.anthropic_error(message, kind)
            payload["request_id"] = "req_" + uuid.uuid4().hex[:20]
        else:
            payload = wire.openai_error(message, "invalid_request_error", code)
        await self.app._send(send, status, payload)

    async def _raw(self, send: Send, data: bytes, filename: str) -> None:
        self.app.stats_data.by_status[200] += 1
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-disposition", f'attachment; filename="{filename}"'.encode()),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _files(
        self, send: Send, rest: list[str], method: str, body: bytes, headers: dict[str, str]
    ) -> None:
        if not rest and method == "POST":
            fields = multipart_fields(headers.get("content-type", ""), body)
            purpose = fields.get("purpose", (None, b""))[1].decode()
            if "file" not in fields or not purpose:
                await self._fail(
                    send, 400, "Missing required parameter: 'file' and 'purpose'.", anthropic=False
                )
                return
            name, data = fields["file"]
            f = self._new_file(name or "upload", purpose, data)
            self.stats["uploads"] += 1
            await self.app._send(send, 200, f.obj())
        elif not rest and method == "GET":
            listed = [f.obj() for f in reversed(self.files.values())]
            await self.app._send(send, 200, {"object": "list", "data": listed, "has_more": False})
        elif len(rest) in (1, 2) and rest[0] in self.files:
            f = self.files[rest[0]]
            if len(rest) == 2 and rest[1] == "content" and method == "GET":
                self.stats["downloads"] += 1
                await self._raw(send, f.data, f.filename)
            elif len(rest) == 1 and method == "GET":
                await self.app._send(send, 200, f.obj())
            elif len(rest) == 1 and method == "DELETE":
                del self.files[f.id]
                await self.app._send(send, 200, {"id": f.id, "object": "file", "deleted": True})
            else:
                await self._fail(send, 405, f"Method {method} not allowed", anthropic=False)
        else:
            await self._fail(send, 404, f"No such File object: {rest[0] if rest else ''}", anthropic=False)

    def _new_file(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        f = StoredFile("file-" + uuid.uuid4().hex[:24], filename, purpose, data, int(time.time()))
        self.files[f.id] = f
        return f

    async def _openai(self, send: Send, rest: list[str], method: str, body: bytes, query: str) -> None:
        if not rest and method == "POST":
            await self._openai_create(send, body)
        elif not rest and method == "GET":
            items = [self._openai_obj(b) for b in reversed(self.batches.values()) if not b.anthropic]
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            if params.get("after"):
                ids = [b["id"] for b in items]
                items = items[ids.index(params["after"]) + 1 :] if params["after"] in ids else []
            limit = int(params.get("limit") or 20)
            page = items[:limit]
            await self.app._send(
                send,
                200,
                {
                    "object": "list",
                    "data": page,
                    "first_id": page[0]["id"] if page else None,
                    "last_id": page[-1]["id"] if page else None,
                    "has_more": len(items) > limit,
                },
            )
        elif rest and rest[0] in self.batches and not self.batches[rest[0]].anthropic:
            batch = self.batches[rest[0]]
            if len(rest) == 1 and method == "GET":
                self.stats["polls"] += 1
                await self.app._send(send, 200, self._openai_obj(batch))
            elif len(rest) == 2 and rest[1] == "cancel" and method == "POST":
                self._cancel(batch)
                await self.app._send(send, 200, self._openai_obj(batch))
            else:
                await self._fail(send, 405, f"Method {method} not allowed", anthropic=False)
        else:
            await self._fail(
                send, 404, f"No batch found with id '{rest[0] if rest else ''}'.", anthropic=False
            )

    async def _openai_create(self, send: Send, body: bytes) -> None:
        req = json.loads(body or b"{}")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not req.get(name):
                await self._fail(
                    send,
                    400,
                    f"Missing required parameter: '{name}'.",
                    anthropic=False,
                    code="missing_required_parameter",
                )
                return
        if req["completion_window"] != "24h":
            await self._fail(send, 400, "completion_window must be '24h'.", anthropic=False)
            return
        f = self.files.get(req["input_file_id"])
        if f is None or f.purpose != "batch":
            await self._fail(
                send, 400, f"Invalid 'input_file_id': '{req['input_file_id']}'.", anthropic=False
            )
            return
        cfg = self.config
        errors: list[dict[str, Any]] = []
        ids: list[str] = []
        bodies: list[dict[str, Any]] = []
        seen: set[str] = set()
        raw_lines = [line for line in f.data.splitlines() if line.strip()]
        if not raw_lines:
            errors.append(
                {"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None}
            )
        if len(raw_lines) > cfg.max_requests:
            errors.append(
                {
                    "code": "too_many_tasks",
                    "line": None,
                    "param": None,
                    "message": f"The batch has {len(raw_lines)} requests; the limit is {cfg.max_requests}.",
                }
            )
        if len(f.data) > cfg.max_bytes:
            errors.append(
                {
                    "code": "file_too_large",
                    "line": None,
                    "param": None,
                    "message": f"The input file is {len(f.data)} bytes; the limit is {cfg.max_bytes}.",
                }
            )
        models: set[str] = set()
        for n, raw in enumerate(raw_lines, start=1):
            if errors:
                break
            line, problem = validate_openai_line(raw, n, seen, req["endpoint"])
            if problem is not None:
                errors.append(problem)
                break
            assert line is not None
            models.add(line["body"]["model"])
            ids.append(line["custom_id"])
            bodies.append(line["body"])
        if len(models) > 1:
            errors.append(
                {
                    "code": "model_mismatch",
                    "message": "Each input file can only include requests to a single model.",
                    "param": None,
                    "line": None,
                }
            )
        if req["endpoint"] != ENDPOINT:
            errors.append(
                {
                    "code": "invalid_endpoint",
                    "message": f"This fake serves {ENDPOINT} batches only.",
                    "param": "endpoint",
                    "line": None,
                }
            )
        if not errors and cfg.fail_validation > 0:
            self.config = cfg.replace({"fail_validation": cfg.fail_validation - 1})
            errors.append(
                {
                    "code": "invalid_json_line",
                    "message": "This line is not parseable as valid JSON.",
                    "param": None,
                    "line": 1,
                }
            )
        batch = self._new_batch("batch_", False, ids, bodies, errors)
        batch.input_file_id, batch.metadata = f.id, dict(req.get("metadata") or {})
        await self.app._send(send, 200, self._openai_obj(batch))

    def _new_batch(
        self,
        prefix: str,
        anthropic: bool,
        ids: list[str],
        bodies: list[dict[str, Any]],
        errors: list[dict[str, Any]],
    ) -> FakeBatch:
        cfg, rng = self.config, self._rng
        n = len(ids)
        order = list(range(n))
        rng.shuffle(order)
        offsets = [0.0] * n
        for rank, i in enumerate(order):
            offsets[i] = cfg.processing_s * (rank + 1) / max(1, n)
        plans = [plan_line(b, cfg, rng.random(), self._seen) for b in bodies]
        batch = FakeBatch(
            prefix + uuid.uuid4().hex[:24],
            anthropic,
            time.time(),
            ids,
            bodies,
            plans,
            offsets,
            cfg,
            errors=errors,
        )
        self.batches[batch.id] = batch
        self.stats["batches"] += 1
        self.stats["lines"] += n
        self._schedule(batch)
        return batch

    def _cancel(self, batch: FakeBatch) -> None:
        now = time.time()
        if batch.cancel_at is None and now < batch.ended_at():
            batch.cancel_at = max(now, batch.v_end) if not batch.errors else None
            if batch.cancel_at is not None:
                self.stats["cancels"] += 1
                self._schedule(batch)

    async def _anthropic(
        self, send: Send, rest: list[str], method: str, body: bytes, headers: dict[str, str]
    ) -> None:
        if not rest and method == "POST":
            await self._anthropic_create(send, body, headers)
        elif not rest and method == "GET":
            items = [self._anthropic_obj(b, headers) for b in reversed(self.batches.values()) if b.anthropic]
            await self.app._send(
                send,
                200,
                {
                    "data": items,
                    "has_more": False,
                    "first_id": items[0]["id"] if items else None,
                    "last_id": items[-1]["id"] if items else None,
                },
            )
        elif rest and rest[0] in self.batches and self.batches[rest[0]].anthropic:
            batch = self.batches[rest[0]]
            if len(rest) == 1 and method == "GET":
                self.stats["polls"] += 1
                await self.app._send(send, 200, self._anthropic_obj(batch, headers))
            elif len(rest) == 2 and rest[1] == "cancel" and method == "POST":
                self._cancel(batch)
                await self.app._send(send, 200, self._anthropic_obj(batch, headers))
            elif len(rest) == 2 and rest[1] == "results" and method == "GET":
                if time.time() < batch.ended_at():
                    await self._fail(send, 400, f"Batch {batch.id} has not ended yet.", anthropic=True)
                    return
                self.stats["downloads"] += 1
                await self._raw(send, self._results(batch)["jsonl"], f"{batch.id}_results.jsonl")
            elif len(rest) == 1 and method == "DELETE":
                if time.time() < batch.ended_at():
                    await self._fail(send, 400, "Batch is still processing; cancel it first.", anthropic=True)
                    return
                del self.batches[batch.id]
                await self.app._send(send, 200, {"id": batch.id, "type": "message_batch_deleted"})
            else:
                await self._fail(send, 405, f"Method {method} not allowed", anthropic=True)
        else:
            await self._fail(
                send, 404, f"No message batch with id '{rest[0] if rest else ''}'.", anthropic=True
            )

    async def _anthropic_create(self, send: Send, body: bytes, headers: dict[str, str]) -> None:
        cfg = self.config
        if len(body) > cfg.anthropic_max_bytes:
            await self._fail(
                send, 413, "Request exceeds the maximum allowed number of bytes.", anthropic=True
            )
            return
        req = json.loads(body or b"{}")
        requests = req.get("requests") if isinstance(req, dict) else None
        if not isinstance(requests, list) or not requests:
            await self._fail(send, 400, "requests: Field required (1 or more)", anthropic=True)
            return
        if len(requests) > cfg.anthropic_max_requests:
            await self._fail(
                send, 400, f"requests: at most {cfg.anthropic_max_requests} items", anthropic=True
            )
            return
        ids: list[str] = []
        bodies: list[dict[str, Any]] = []
        for n, item in enumerate(requests):
            cid = item.get("custom_id") if isinstance(item, dict) else None
            params = item.get("params") if isinstance(item, dict) else None
            if not valid_custom_id(cid):
                await self._fail(
                    send,
                    400,
                    f"requests.{n}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'",
                    anthropic=True,
                )
                return
            if cid in ids:
                await self._fail(
                    send, 400, f"requests.{n}.custom_id: duplicate custom_id '{cid}'", anthropic=True
                )
                return
            if not isinstance(params, dict) or params.get("stream"):
                await self._fail(
                    send,
                    400,
                    f"requests.{n}.params: a non-streaming Messages request is required",
                    anthropic=True,
                )
                return
            ids.append(str(cid))
            bodies.append(params)
        errors: list[dict[str, Any]] = []
        if cfg.fail_validation > 0:  # Anthropic validates at create: the whole request is refused
            self.config = cfg.replace({"fail_validation": cfg.fail_validation - 1})
            await self._fail(
                send, 400, "requests: the batch failed validation (fake fail_validation)", anthropic=True
            )
            return
        batch = self._new_batch("msgbatch_", True, ids, bodies, errors)
        await self.app._send(send, 200, self._anthropic_obj(batch, headers))

    def _results(self, batch: FakeBatch) -> dict[str, Any]:
        return batch.build_results(self.app.config, self._rng, lambda n, p, d: self._new_file(n, p, d).id)

    def _openai_obj(self, batch: FakeBatch) -> dict[str, Any]:
        now = time.time()
        status = batch.status(now)
        over = status in ("completed", "expired", "cancelled")
        return batch.openai_obj(now, self._results(batch) if over else None)

    def _anthropic_obj(self, batch: FakeBatch, headers: Mapping[str, str]) -> dict[str, Any]:
        host = headers.get("host", "127.0.0.1")
        return batch.anthropic_obj(time.time(), host, lambda: self._results(batch)["counts"])

    def _schedule(self, batch: FakeBatch) -> None:
        """Write the results while the batch finalizes; deliver the end-of-batch event when it ends.

        Like a real provider, the results exist once the status says the batch is over: they are built
        when processing stops (``finalizing``), not on the first download.
        """
        loop = asyncio.get_running_loop()
        if not batch.errors:
            stop = batch.p_end if batch.cancel_at is None else min(batch.p_end, batch.cancel_at)

            def prepare() -> None:
                self._timers.discard(ready)
                if batch.results is None and batch.id in self.batches:
                    self._results(batch)

            ready = loop.call_later(max(0.0, stop - time.time()), prepare)
            self._timers.add(ready)
        if batch.anthropic or self.config.webhook_url is None:
            return
        delay = max(0.0, batch.ended_at() - time.time()) + 0.01
        cfg = self.config

        def fire() -> None:
            self._timers.discard(handle)
            if batch.ended_at() > time.time() + 0.005:  # rescheduled (a cancel moved the end)
                return
            task = loop.create_task(self._deliver(batch, cfg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    async def _deliver(self, batch: FakeBatch, cfg: BatchConfig) -> None:
        import httpx

        status = batch.status(time.time())
        kind = {
            "completed": "batch.completed",
            "failed": "batch.failed",
            "expired": "batch.expired",
            "cancelled": "batch.cancelled",
        }.get(status)
        if kind is None or cfg.webhook_url is None or cfg.webhook_secret is None:
            return
        if any(d["batch"] == batch.id and d["ok"] for d in self.deliveries):
            return
        event = {
            "object": "event",
            "id": "evt_" + uuid.uuid4().hex[:24],
            "type": kind,
            "created_at": int(time.time()),
            "data": {"id": batch.id},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        msg_id = "wh_" + uuid.uuid4().hex[:24]
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=15.0, trust_env=False)
        for attempt in range(cfg.webhook_attempts):
            ts = int(time.time())
            headers = {
                "content-type": "application/json",
                "user-agent": "OpenAI/1.0 (aikit fake)",
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign_webhook(cfg.webhook_secret, msg_id, ts, body),
            }
            try:
                r = await self._http.post(cfg.webhook_url, content=body, headers=headers)
                ok, code = r.status_code < 300, r.status_code
            except httpx.HTTPError as exc:
                ok, code = False, type(exc).__name__
            self.deliveries.append(
                {
                    "batch": batch.id,
                    "type": kind,
                    "attempt": attempt + 1,
                    "status": code,
                    "ok": ok,
                    "at": time.time(),
                }
            )
            self.stats["webhooks"] += 1
            if ok:
                return
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


def configure_batches(fake: Any, **changes: Any) -> dict[str, Any]:
    """Change the batch APIs of a running fake provider (either form), e.g. ``processing_s=5``.

    Takes :class:`~aikit.testing.fake_batch_wire.BatchConfig` fields; returns the new config. The same
    as ``fake.configure_batches(**changes)``.

    >>> from aikit.testing import FakeProvider
    >>> with FakeProvider() as fake:
    ...     configure_batches(fake, processing_s=2.0, drop_rate=0.01)["processing_s"]
    2.0
    """
    result: dict[str, Any] = fake.configure_batches(**changes)
    return result
