"""Answers that arrive later: a client's side of a provider batch job (OpenAI Batch, Message Batches).

:class:`Deferred` lends a batch job what the client owns, so a batch row is built, sent, priced,
validated, cached and logged exactly like a live one:

- :meth:`Deferred.request` and :meth:`Deferred.line`: the same provider-neutral request ``achat``
  builds (same cache key), written as the provider's batch line with the live body;
- :meth:`Deferred.send`: one HTTP step of the job (upload, create, poll, cancel, download) through
  the client's :class:`~aikit.client.flow.AttemptFlow`: paced (on a small limiter of its own, so a
  job's control calls never compete with live chat calls), retried with the client's ``RetryPolicy``,
  logged with call-log ``mode="job"``;
- :meth:`Deferred.answer`: a result line read by the very parser of the live endpoint, priced at the
  batch rate, validated against the schema, cached under the request's key and logged with
  ``mode="batch"``; :meth:`Deferred.failed` logs a row that ended with the provider's error.

It is the client package's friend of :class:`~aikit.client.ai.AsyncAI` (it reads its private parts);
callers outside ``aikit.client`` use only the methods here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from aikit.client.drive import drive
from aikit.client.flow import AttemptFlow
from aikit.client.providers.batches import BatchAPI, LineResult
from aikit.client.ratelimit import RateLimiter
from aikit.client.response import Response
from aikit.client.schema import OutputSchema
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.secrets import Secret
    from aikit.client.ai import AsyncAI
    from aikit.client.providers.base import ChatRequest, Provider

__all__ = ["JOB_CONCURRENCY", "Deferred", "batch_api"]

T = TypeVar("T")
_log = logging.getLogger("aikit.client")
#: Control calls of one job in flight at once (uploads, polls, downloads).
JOB_CONCURRENCY = 4
#: Timeout floor of an upload or a download (a 200 MB file takes a while).
TRANSFER_TIMEOUT_S = 300.0


class _Answer:
    """A result line's body where a parser expects an ``httpx.Response``: it only asks for ``json()``."""

    __slots__ = ("_body",)

    def __init__(self, body: Any) -> None:
        self._body = body

    def json(self) -> Any:
        return self._body


class Deferred:
    """The client side of one provider batch job (see the module docstring).

    Parameters
    ----------
    aio : AsyncAI
        The client whose provider, key, retries, cache, ledger and call log the job uses.
    """

    def __init__(self, aio: AsyncAI) -> None:
        if aio.spec.provider == "local":
            raise ConfigError(
                'mode="batch" needs a provider with a batch API; the embedded "local" model has none'
            )
        self.aio = aio
        self.api: BatchAPI = batch_api(aio.spec.provider, aio.spec.base_url or "")
        self.limiter = RateLimiter(max_concurrency=JOB_CONCURRENCY, probe_s=0)
        self._provider: Provider | None = None

    def __repr__(self) -> str:
        return f"Deferred({self.aio.model_spec!r}, {self.api!r})"

    async def _ready(self) -> tuple[Provider, Secret | None]:
        provider, key = await self.aio._ensure_provider()
        self._provider = provider
        return provider, key

    def request(self, prompt: Any, call_kwargs: Mapping[str, Any]) -> ChatRequest:
        """The request ``achat(prompt, **call_kwargs)`` would send (its cache key is the same)."""
        kw = {k: v for k, v in call_kwargs.items() if v is not None}
        system, schema = kw.pop("system", None), kw.pop("schema", None)
        temperature, max_tokens = kw.pop("temperature", None), kw.pop("max_tokens", None)
        return self.aio._requests.build(prompt, system, OutputSchema.of(schema), temperature, max_tokens, kw)

    def key(self, req: ChatRequest) -> str:
        """The cache key of ``req``."""
        return self.aio._requests.key(req)

    async def lines(self, items: list[tuple[str, ChatRequest]]) -> list[bytes]:
        """The batch lines of ``(custom_id, request)`` pairs: the provider's line around the live body."""
        provider, _ = await self._ready()
        body = getattr(provider, "body", None)
        if body is None:  # pragma: no cover - both wire formats have one
            raise ConfigError(f"{provider!r} cannot build a batch line")
        return [self.api.line(cid, body(req)) for cid, req in items]

    async def send(
        self,
        build: Callable[[Secret | None], httpx.Request],
        parse: Callable[[httpx.Response], T],
        *,
        transfer: bool = False,
    ) -> T:
        """One HTTP step of the job through the client's flow (paced, retried, logged as ``job``)."""
        provider, key = await self._ready()
        aio = self.aio
        aio._log()
        timeout = max(aio.timeout, TRANSFER_TIMEOUT_S) if transfer else aio.timeout
        flow = AttemptFlow(
            provider,
            None,
            build(key),
            limiter=self.limiter,
            ledger=aio._ledger,
            timeout_s=timeout,
            key=None,
            write_cache=False,
            policy=aio.retry,
            parse=parse,
            mode="job",
        )
        value: Any = await drive(flow.run(), http=aio._loop_state.get().http, store=None)
        return value  # type: ignore[no-any-return]

    async def answer(
        self, key: str, req: ChatRequest, line: LineResult, *, attempt: int, latency_s: float
    ) -> Response:
        """The :class:`Response` of a ``succeeded`` line: parsed as live, batch-priced, logged.

        It is not cached yet: :meth:`store` writes the answers of a batch together.

        Raises
        ------
        aikit.client.schema.SchemaMismatch
            The output does not match the request's schema (it is logged as an error row first).
        ValueError
            The body is not a chat answer.
        """
        provider = self._provider or (await self._ready())[0]
        ledger = self.aio._ledger
        ledger.stats["requests"] += 1
        # the live endpoint's own parser reads the body (it only asks the response for its JSON)
        parsed = provider.parse_response(_Answer(line.body), req)  # type: ignore[arg-type]
        cost = ledger.answered(parsed, batch=True)
        data = None
        if req.schema is not None:
            from aikit.client.schema import SchemaMismatch

            try:
                data = req.schema.parse(parsed.text)
            except SchemaMismatch as exc:
                ledger.record(
                    "error",
                    status=200,
                    attempt=attempt,
                    cache_key=key,
                    mode="batch",
                    latency_s=latency_s,
                    input_tokens=parsed.usage.input_tokens,
                    output_tokens=parsed.usage.output_tokens,
                    cost_usd=cost,
                    error=f"invalid output: {exc}",
                )
                raise
        r = Response(
            text=parsed.text,
            model=parsed.model,
            usage=parsed.usage,
            data=data,
            cache_key=key,
            cost_usd=cost,
            latency_s=latency_s,
            attempts=attempt,
            finish_reason=parsed.finish_reason,
            logprobs=parsed.logprobs,
        )
        ledger.record("ok", status=200, attempt=attempt, cache_key=key, response=r, mode="batch")
        return r

    async def store(self, answers: Mapping[str, Response], *, cache: str) -> None:
        """Cache the answers of a batch: one transaction for the on-disk cache (a failed write never raises).

        Thousands of answers arrive together; per-key commits would dominate the cost of settling them.
        """
        if cache not in ("use", "refresh") or not answers:
            return
        aio = self.aio
        store = aio._cache_store()
        disk = getattr(store, "_disk", None)  # the on-disk cache (DiskResponseCache), a friend here
        if disk is None:
            for key, r in answers.items():
                await aio._store(key, r)
            return
        from aikit.client.cache import encode_value

        blobs = {key: encode_value(r.to_cache()) for key, r in answers.items()}

        def write() -> None:
            with disk.transact():
                for key, blob in blobs.items():
                    disk.set(key, blob)

        try:
            await asyncio.to_thread(write)
        except Exception as exc:  # like every cache write: logged, never failing the batch
            _log.warning("could not cache %d batch answers: %s", len(answers), exc)
            return
        remember = getattr(store, "_remember_many", None)
        if remember is not None:
            remember(blobs)

    def failed(self, key: str, error: str, *, status: int | None, attempt: int, final: bool) -> None:
        """Log a request the batch did not answer (``final``: it ends with this error)."""
        ledger = self.aio._ledger
        if final:
            ledger.stats["requests"] += 1
            ledger.stats["errors"] += 1
        ledger.record(
            "error" if final else "retry",
            status=status,
            attempt=attempt,
            cache_key=key,
            mode="batch",
            error=error,
        )


def batch_api(provider: str, base_url: str) -> BatchAPI:
    """The batch API of a provider (``openai``/``compat`` speak OpenAI's, ``anthropic`` its own).

    Raises
    ------
    ConfigError
        For a provider without a batch API (``ollama``, ``local``).

    Examples
    --------
    >>> batch_api("anthropic", "https://api.anthropic.com/v1")
    AnthropicBatchAPI('https://api.anthropic.com/v1')
    >>> batch_api("ollama", "http://127.0.0.1:11434/v1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aikit.exceptions.ConfigError: mode="batch" needs a provider with a batch API ... use mode="live"
    """
    if provider == "anthropic":
        from aikit.client.providers.anthropic_batch import AnthropicBatchAPI

        return AnthropicBatchAPI(base_url)
    if provider in ("openai", "compat"):
        from aikit.client.providers.openai_batch import OpenAIBatchAPI

        return OpenAIBatchAPI(provider, base_url)
    raise ConfigError(
        'mode="batch" needs a provider with a batch API ("openai:<model>", "anthropic:<model>" or a '
        f'"compat:" server that serves /v1/batches); {provider} has none: use mode="live"'
    )
