"""The AI client: :class:`AsyncAI` (cache -> rate limit -> retry -> send) and :class:`AI`, its sync facade.

One logical call goes through, in order:

1. **cache**: the request's canonical key (``aikit.client.cache.cache_key``) is looked up; a hit returns at
   once (``r.cached``). Identical requests already in flight share one HTTP call (single flight).
2. **pacing**: a :class:`~aikit.client.ratelimit.RateLimiter` slot and RPM/TPM reservation, per attempt.
3. **send** through a provider (sans-I/O, ``aikit.client.providers``) on a shared ``httpx.AsyncClient``, with
   a per-request timeout (default 60 s).
4. **retry** (``aikit.client.attempts``) 408/409/429/5xx, timeouts and connection errors with full jitter,
   honouring ``retry-after(-ms)`` plus jitter, until ``RetryPolicy.max_attempts`` or ``deadline_s``;
   400/401/403/404/422 fail at once with the provider's message. Output that fails the schema is
   retried once.
5. **record**: validated successes are cached; every attempt goes to the call log (``ai.calls()``).

:class:`AI` runs the same coroutines on aikit's loop thread (``aikit._runtime``), so ``ai.chat()`` works
in Jupyter, scripts and across ``asyncio.run`` calls; a KeyboardInterrupt cancels the request.

>>> AI("compat:my-model", base_url="http://127.0.0.1:8000/v1", api_key="sk-secret", cache=False)
AI('compat:my-model', base_url='http://127.0.0.1:8000/v1')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import httpx

from aikit import _runtime
from aikit.auth.secrets import Secret, resolve_key
from aikit.client.attempts import Observer, call, notify
from aikit.client.providers import ProviderSpec, make_provider, parse_model
from aikit.client.providers.base import ChatRequest, Parsed
from aikit.client.ratelimit import RateLimiter
from aikit.client.response import Response
from aikit.client.retry import RetryPolicy
from aikit.client.schema import OutputSchema
from aikit.exceptions import AIKitError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from aikit.client.cache import ResponseCache
    from aikit.client.calllog import CallLog, CallRecord
    from aikit.client.providers.base import Provider
    from aikit.client.stream import AsyncStream, Stream

__all__ = ["AI", "CACHE_MODES", "AsyncAI", "Observer"]

_log = logging.getLogger("aikit.client")

CACHE_MODES = ("use", "refresh", "read_only", "off")
#: Output tokens assumed for pacing and estimates when ``max_tokens`` is not given.
DEFAULT_OUTPUT_ESTIMATE = 256
#: Requests in flight to the embedded local model (one answering, one queued).
LOCAL_CONCURRENCY = 2


class _LoopState:
    """Loop-bound objects of one client: its httpx client, in-flight futures, the local-start lock."""

    __slots__ = ("http", "inflight", "start_lock")

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.inflight: dict[str, asyncio.Future[Response]] = {}
        self.start_lock = asyncio.Lock()


class AsyncAI:
    """The async AI client. Methods run on the caller's event loop; loop-bound state is kept per loop.

    Parameters
    ----------
    model : str
        ``"provider:model"``: ``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``, ``compat:NAME``
        (with ``base_url``), ``ollama:NAME``, or ``local`` / ``local:/path/model.gguf`` (the embedded
        model, started at the first call, never here; temperature 0 by default).
    base_url : str, optional
        Endpoint up to ``/v1``; overrides the provider default. Part of the cache key.
    api_key : str or Secret, optional
        Wins over the environment (``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` / ``AIKIT_API_KEY``) and
        ``.env``. Never shown, logged or cached; in :meth:`describe` only when passed here.
    rpm, tpm : float, optional
        Requests / tokens per minute to pace to; learned from response headers when not given.
    cache : bool, str, Path or cache object
        True (default): the persistent cache under ``$AIKIT_HOME``; False: none; a directory; a
        ``redis://`` URL (``aikit[scale]``); or an object with ``aget/aget_many/aset``.
    timeout : float
        Seconds per HTTP request (default 60).
    retry : RetryPolicy, optional
        Attempts and total deadline (default ``RetryPolicy()``: 8 attempts within 300 s).
    max_concurrency : int, optional
        Ceiling of requests in flight (adaptive below it). Default 64, or 2 for ``local``: its
        llama.cpp server answers one request at a time, so a deeper queue only adds latency.
    limiter : RateLimiter or str, optional
        A limiter shared between clients, or a ``redis://`` URL for one shared across processes.
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests, proxies).
    calllog : bool or CallLog
        Record every attempt (default True: ``$AIKIT_HOME/calls.sqlite``).

    Examples
    --------
    >>> ai = AsyncAI("openai:gpt-4o-mini", api_key="sk-test", cache=False)
    >>> r = await ai.achat("Say hi", temperature=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str = "local",
        *,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        cache: Any = True,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        limiter: RateLimiter | str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        calllog: Any = True,
    ) -> None:
        from aikit.client.cache import normalize_base_url

        self.spec: ProviderSpec = parse_model(model, base_url)
        if max_concurrency is None:
            max_concurrency = LOCAL_CONCURRENCY if self.spec.provider == "local" else 64
        self._explicit_base_url = base_url
        self._explicit_key = (
            (api_key if isinstance(api_key, Secret) else Secret(api_key)) if api_key else None
        )
        self._key: Secret | None = None
        self._key_resolved = False
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self._options = {"rpm": rpm, "tpm": tpm, "max_concurrency": max_concurrency}
        self._limiter_url = limiter if isinstance(limiter, str) else None
        if isinstance(limiter, str):
            limiter = self._redis_limiter(limiter)
        self.limiter = limiter or RateLimiter(rpm, tpm, max_concurrency=max_concurrency)
        self._transport = transport
        self._cache_spec = cache
        self._cache: ResponseCache | None = None
        self._calllog_spec = calllog
        self._calllog: CallLog | None = None
        self._key_base_url = normalize_base_url(self.spec.base_url) if self.spec.base_url else ""
        self._defaults: dict[str, Any] = {"temperature": 0} if self.spec.provider == "local" else {}
        self._provider: Provider | None = None if self.spec.provider == "local" else make_provider(self.spec)
        self._request_model = self.spec.model
        self._local_base_url: str | None = None
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]
        self._states = weakref.WeakKeyDictionary()
        self._last: tuple[asyncio.AbstractEventLoop | None, _LoopState | None] = (None, None)
        self._stats: dict[str, Any] = dict.fromkeys(
            ("requests", "cache_hits", "http_calls", "retries", "errors", "input_tokens", "output_tokens"), 0
        )
        self._stats.update(cost_usd=0.0, cost_unknown=0, saved_usd=0.0)
        #: One id per client object, in the call log's ``session`` column.
        self.session = uuid.uuid4().hex[:12]

    def _redis_limiter(self, url: str) -> RateLimiter:
        from aikit.client.backends import open_limiter

        key = resolve_key(self.spec.key_variables, self._explicit_key, required=False)
        opts = self._options
        return open_limiter(
            url, provider=self.spec.provider, base_url=self.spec.base_url, model=self.spec.model,
            api_key=key.reveal() if key else None, rpm=opts["rpm"], tpm=opts["tpm"],
            max_concurrency=opts["max_concurrency"],
        )  # fmt: skip

    # -- description ----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        parts = [repr(str(self.spec))]
        if self._explicit_base_url:
            parts.append(f"base_url={self._key_base_url!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def model_spec(self) -> str:
        """``"provider:model"`` as given (``"openai:gpt-4o-mini"``)."""
        return str(self.spec)

    def describe(self) -> dict[str, Any]:
        """A picklable description; :meth:`from_description` rebuilds an equivalent client.

        The API key is included only if it was passed explicitly (as a masked :class:`Secret`);
        otherwise the rebuilt client resolves it again from its own environment. An injected
        transport or limiter object is not included (a ``redis://`` limiter URL is).

        >>> AsyncAI.from_description(AsyncAI("ollama:llama3.2", cache=False).describe())
        AsyncAI('ollama:llama3.2')
        """
        spec = self._cache_spec
        cache: bool | str
        if spec is None or isinstance(spec, bool):
            cache = bool(spec)
        elif isinstance(spec, str | os.PathLike):
            cache = os.fspath(spec)
        else:  # a cache object: its directory or URL, else the default cache on the other side
            where = getattr(spec, "directory", None) or getattr(spec, "url", None)
            cache = str(where) if where is not None else True
        return {
            "model": str(self.spec),
            "base_url": self._explicit_base_url,
            "api_key": self._explicit_key,
            **self._options,
            "cache": cache,
            "timeout": self.timeout,
            "retry": asdict(self.retry),
            "limiter": self._limiter_url,
            "calllog": bool(self._calllog_spec),
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> AsyncAI:
        """Rebuild a client from :meth:`describe` output (in another process or on another machine)."""
        d = dict(description)
        retry = d.pop("retry", None)
        return cls(**d, retry=RetryPolicy(**retry) if retry else None)

    # -- requests, keys, state ------------------------------------------------------------------------
    def _request(
        self,
        prompt: Any,
        system: str | None,
        schema: OutputSchema | None,
        temperature: float | None,
        max_tokens: int | None,
        params: dict[str, Any],
        stream: bool = False,
    ) -> ChatRequest:
        if isinstance(prompt, str):
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list | tuple) and prompt:
            if not all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
                raise ConfigError('prompt messages must be dicts with "role" and "content"')
            messages = [dict(m) for m in prompt]
        else:
            raise ConfigError(f"prompt must be a string or a list of messages, got {type(prompt).__name__}")
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens <= 0):
            raise ConfigError(f"max_tokens must be a positive int, got {max_tokens!r}")
        merged = dict(self._defaults)
        if temperature is not None:
            merged["temperature"] = temperature
        if max_tokens is not None:
            merged["max_tokens"] = max_tokens
        merged.update((k, v) for k, v in params.items() if v is not None)
        return ChatRequest(self._request_model, messages, merged, schema, stream)

    def _cache_key_of(self, req: ChatRequest) -> str:
        from aikit.client.cache import cache_key

        return cache_key(
            {
                "provider": self.spec.provider,
                "base_url": self._key_base_url,
                "model": self.spec.model,
                "messages": req.messages,
                "params": req.params,
                "schema": req.schema.json_schema if req.schema is not None else None,
            }
        )

    def cache_key(self, prompt: Any, *, system: str | None = None, schema: Any = None, **params: Any) -> str:
        """The cache key :meth:`achat` uses for these arguments (pure: no I/O).

        ``params`` are the sampling parameters (``temperature``, ``max_tokens``, ``top_p`` ...); the
        ``cache`` and ``observer`` arguments of ``achat`` are accepted and ignored.

        >>> ai = AsyncAI("openai:gpt-4o-mini", cache=False)
        >>> ai.cache_key("hi", temperature=0) == ai.cache_key("hi", temperature=0.0)
        True
        """
        temperature, max_tokens = params.pop("temperature", None), params.pop("max_tokens", None)
        params.pop("cache", None)
        params.pop("observer", None)
        req = self._request(prompt, system, OutputSchema.of(schema), temperature, max_tokens, params)
        return self._cache_key_of(req)

    def _api_key(self) -> Secret | None:
        if not self._key_resolved:
            self._key = resolve_key(
                self.spec.key_variables, self._explicit_key, required=self.spec.key_required,
                provider=str(self.spec),
            )  # fmt: skip
            self._key_resolved = True
        return self._key

    def _scrub(self, text: str) -> str:
        for secret in (self._explicit_key, self._key):
            if secret:
                text = text.replace(secret.reveal(), "********")
        return text

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        last_loop, last_state = self._last
        if last_loop is loop and last_state is not None:
            return last_state
        state = self._states.get(loop)
        if state is None:
            http = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=512),
            )
            state = self._states[loop] = _LoopState(http)
            if _runtime.in_runtime_thread():
                _runtime.on_shutdown(_closer(weakref.ref(self)))
        self._last = (loop, state)
        return state

    def _cache_store(self) -> ResponseCache:
        if self._cache is None:
            from aikit.client.backends import open_cache

            self._cache = open_cache(self._cache_spec)
        return self._cache

    def _log(self) -> CallLog | None:
        spec = self._calllog_spec
        if spec is False or spec is None:
            return None
        if self._calllog is None:
            from aikit.client.calllog import CallLog, calllog

            self._calllog = spec if isinstance(spec, CallLog) else calllog()
        return self._calllog

    async def _ensure_provider(self) -> tuple[Provider, Secret | None]:
        if self.spec.provider != "local":
            assert self._provider is not None
            return self._provider, self._api_key()
        from aikit.client.backends import local_endpoint
        from aikit.client.providers.openai import OpenAIProvider

        # Asked on every call (cheap when the server is up): a server that died or was replaced on
        # another port is restarted/rediscovered here instead of failing every later call.
        endpoint = await local_endpoint(self.spec.model or None)
        if self._provider is None or self._local_base_url != endpoint.base_url:
            self._local_base_url = endpoint.base_url
            self._key = Secret(endpoint.api_key) if endpoint.api_key else None
            self._key_resolved = True
            self._request_model = getattr(endpoint, "model", None) or "local"
            self._provider = OpenAIProvider("local", endpoint.base_url)
        return self._provider, self._key

    # -- the call -------------------------------------------------------------------------------------
    async def achat(
        self,
        prompt: Any,
        *,
        system: str | None = None,
        schema: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: str = "use",
        observer: Observer | None = None,
        **params: Any,
    ) -> Response:
        """Ask the model; return a :class:`~aikit.client.response.Response`.

        Parameters
        ----------
        prompt : str or list of dict
            A user message, or chat messages (``{"role": ..., "content": ...}``).
        system : str, optional
            A system prompt (sent natively per provider).
        schema : dict or pydantic class, optional
            Structured output: sent as the provider's native structured output, validated, parsed into
            ``r.data``; invalid output is retried once, then :class:`InvalidOutputError`.
        temperature, max_tokens : optional
            Sampling parameters; others (``top_p``, ``seed``, ``stop`` ...) go in ``**params``. Every
            parameter is part of the cache key.
        cache : {"use", "refresh", "read_only", "off"}
            ``use``: read and write; ``refresh``: skip the read, write the new answer; ``read_only``:
            read, never write; ``off``: neither (and no single flight).
        observer : callable, optional
            ``observer(kind, info)``, called on the loop thread: ``"start"`` (an attempt starts; info
            ``attempt``, ``waited_s``), ``"retry"`` (info ``attempt``, ``status`` or None, ``error``,
            ``wait_s``), ``"done"`` (info ``response``; cache hits too), ``"error"`` (info ``error``,
            the exception about to be raised). Exceptions raised by the observer are ignored.

        Raises
        ------
        ProviderHTTPError
            400/401/403/404/422 and other non-retryable statuses, with the provider's message.
        RetryExhaustedError
            Retryable failures (429, 5xx, timeouts, connection errors) past ``retry.max_attempts`` or
            ``retry.deadline_s``; the message says what happened last.
        InvalidOutputError
            The output failed the schema twice.
        MissingCredentialError
            No API key (raised at the first uncached call, naming the variable to set).
        """
        t0 = time.perf_counter()
        if cache not in CACHE_MODES:
            raise ConfigError(f"cache= must be one of {CACHE_MODES}, got {cache!r}")
        req = self._request(prompt, system, OutputSchema.of(schema), temperature, max_tokens, params)
        self._stats["requests"] += 1
        if cache == "off":
            return await call(self, req, None, cache, observer, t0)
        key = self._cache_key_of(req)
        if cache != "refresh":
            hit = await self._cache_store().aget(key)
            if hit is not None:
                r = Response.from_cache(hit, cache_key=key, latency_s=time.perf_counter() - t0)
                return self._hit(r, req.schema, observer)
        inflight = self._state().inflight
        while (fut := inflight.get(key)) is not None:  # single flight: share the leader's answer
            try:
                shared = await asyncio.shield(fut)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                continue  # the leader was cancelled, not us: try again, maybe as the leader
            r = shared.replace(cached=True, cost_usd=0.0, saved_usd=shared.cost_usd, attempts=0,
                               latency_s=time.perf_counter() - t0)  # fmt: skip
            return self._hit(r, None, observer)
        fut = asyncio.get_running_loop().create_future()
        inflight[key] = fut
        try:
            r = await call(self, req, key, cache, observer, t0)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: there may be no follower
            raise
        finally:
            if inflight.get(key) is fut:
                del inflight[key]
        fut.set_result(r)
        return r

    def _hit(self, r: Response, schema: OutputSchema | None, observer: Observer | None) -> Response:
        if schema is not None and schema.model is not None:
            r = r.replace(data=schema.load(r.data))
        self._stats["cache_hits"] += 1
        self._stats["saved_usd"] += r.saved_usd or 0.0
        log = self._log()
        if log is not None:
            log.record(self._record("cache_hit", attempt=0, r=r, cache_key=r.cache_key, cache_hit=True))
        notify(observer, "done", {"response": r})
        return r

    def _record(self, outcome: str, **kw: Any) -> CallRecord:
        from aikit.client.calllog import CallRecord

        r: Response | None = kw.pop("r", None)
        if r is not None:
            kw.setdefault("input_tokens", r.usage.input_tokens)
            kw.setdefault("output_tokens", r.usage.output_tokens)
            kw.setdefault("cost_usd", r.cost_usd)
            kw.setdefault("latency_s", r.latency_s)
        if kw.get("error"):
            kw["error"] = self._scrub(str(kw["error"]))[:2000]
        return CallRecord(
            provider=self.spec.provider, model=self.spec.model, base_url=self._key_base_url, outcome=outcome,
            session=self.session, **kw,
        )  # fmt: skip

    def _cost(self, parsed: Parsed) -> float | None:
        from aikit.client import pricing

        family, usage = self.spec.provider, parsed.usage  # compat/ollama: not in the table, cost None
        cost = pricing.price(family, self.spec.model, usage.input_tokens, usage.output_tokens)
        if cost is None and parsed.model != self.spec.model:
            cost = pricing.price(family, parsed.model, usage.input_tokens, usage.output_tokens)
        return cost

    def _account(self, parsed: Parsed, cost: float | None) -> None:
        s = self._stats
        s["input_tokens"] += parsed.usage.input_tokens
        s["output_tokens"] += parsed.usage.output_tokens
        if cost is None:
            s["cost_unknown"] += 1
        else:
            s["cost_usd"] += cost

    async def _store(self, key: str, r: Response) -> None:
        try:
            await self._cache_store().aset(key, r.to_cache())
        except (AIKitError, OSError, ValueError, TypeError) as exc:  # a failed write never fails the call
            _log.warning("could not cache the answer for %s: %s", key, exc)

    def astream(self, prompt: Any, **kwargs: Any) -> AsyncStream:
        """Stream the answer's text as it arrives (SSE); same arguments as :meth:`achat`.

        Returns an :class:`~aikit.client.stream.AsyncStream`: ``async for chunk in ai.astream(...)``; then
        ``stream.response`` is the assembled :class:`Response`, which is cached. A cache hit replays
        the cached text through the same iterator. Retries happen only before the first chunk.
        """
        from aikit.client.stream import AsyncStream

        return AsyncStream(self, prompt, **kwargs)

    # -- estimates, reporting, closing ----------------------------------------------------------------
    def estimate_tokens(
        self, prompt: Any, system: str | None = None, max_tokens: int | None = None
    ) -> tuple[int, int]:
        """``(input_tokens_est, output_tokens_est)``: characters/4 plus 4 per message, and ``max_tokens``
        (else 256). A rough guess for pacing and budgets, not a tokenizer.

        >>> AsyncAI("openai:gpt-4o-mini", cache=False).estimate_tokens("x" * 400, max_tokens=20)
        (104, 20)
        """
        if isinstance(prompt, str):
            chars, n = len(prompt), 1
        else:
            chars, n = sum(len(str(m.get("content", ""))) for m in prompt), len(prompt)
        if system:
            chars, n = chars + len(system), n + 1
        return chars // 4 + 4 * n, max_tokens if max_tokens is not None else DEFAULT_OUTPUT_ESTIMATE

    def price(self, input_tokens: int, output_tokens: int) -> float | None:
        """USD for these tokens on this model, or None when its price is unknown (never a guess).

        >>> AsyncAI("openai:gpt-4o-mini", cache=False).price(1_000_000, 0)
        0.15
        """
        from aikit.client import pricing

        return pricing.price(self.spec.provider, self.spec.model, input_tokens, output_tokens)

    async def cached(self, keys: list[str]) -> dict[str, Response]:
        """Bulk cache lookup: the cached :class:`Response` of each key that has one (``data`` as JSON).

        A lookup is not a use: it counts nowhere. Callers that answer requests from it (a batch
        resuming) report those answers with :meth:`record_hits`.
        """
        found = await self._cache_store().aget_many(list(keys))
        return {k: Response.from_cache(v, cache_key=k) for k, v in found.items()}

    def record_hits(self, responses: Iterable[Response], uses: Iterable[int] | None = None) -> None:
        """Count answers served from a bulk :meth:`cached` lookup in ``stats()`` and the call log.

        ``uses`` gives how many requests each response answered (default one each); the call log
        gets one ``cache_hit`` row per response.
        """
        log = self._log()
        counts = iter(uses) if uses is not None else None
        for r in responses:
            n = next(counts, 1) if counts is not None else 1
            self._stats["requests"] += n
            self._stats["cache_hits"] += n
            self._stats["saved_usd"] += (r.saved_usd or 0.0) * n
            if log is not None:
                log.record(self._record("cache_hit", attempt=0, r=r, cache_key=r.cache_key, cache_hit=True))

    def stats(self) -> dict[str, Any]:
        """Counters of this client: requests, cache hits, HTTP calls, retries, errors, tokens, cost.

        ``cost_usd`` sums the calls with a known price; ``cost_unknown`` counts the others;
        ``saved_usd`` is what cache hits would have cost.
        """
        s = dict(self._stats)
        s["cost_usd"], s["saved_usd"] = round(s["cost_usd"], 10), round(s["saved_usd"], 10)
        s.update(concurrency=int(self.limiter.limit), rpm=self.limiter.rpm, tpm=self.limiter.tpm)
        return s

    def calls(self, *, all: bool = False) -> pd.DataFrame:
        """The call log as a DataFrame: one row per attempt outcome, cache hits included.

        By default the rows of this provider, model and base URL (across sessions and processes);
        ``all=True`` gives every row. ``df[df.session == ai.session]`` keeps this object's calls.
        """
        from aikit.client.calllog import calllog

        log = self._log() or calllog()
        where = {"provider": self.spec.provider, "model": self.spec.model, "base_url": self._key_base_url}
        return log.frame(None if all else where)

    async def aclose(self) -> None:
        """Close this loop's HTTP client (and the cache, when this client opened it). Idempotent."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        self._last = (None, None)
        if state is not None:
            await state.http.aclose()
        if not self._states and self._cache is not None and not hasattr(self._cache_spec, "aget"):
            cache, self._cache = self._cache, None
            with contextlib.suppress(Exception):
                cache.close()
        if self._calllog is not None:
            await asyncio.to_thread(self._calllog.flush)

    async def __aenter__(self) -> AsyncAI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _closer(ref: weakref.ref[AsyncAI]) -> Callable[[], Any]:
    async def close() -> None:
        client = ref()
        if client is not None:
            await client.aclose()

    return close


class AI:
    """The sync AI client: :class:`AsyncAI` run on aikit's loop thread. Same constructor arguments.

    ``ai.aio`` is the :class:`AsyncAI`; ``await ai.achat(...)`` works as well.

    Examples
    --------
    >>> ai = AI("openai:gpt-4o-mini")                                    # doctest: +SKIP
    >>> r = ai.chat("Classify: the invoice is wrong", schema={"type": "object",
    ...             "properties": {"tone": {"enum": ["pos", "neg"]}}})  # doctest: +SKIP
    >>> r.data, r.cached, r.cost_usd                                    # doctest: +SKIP
    ({'tone': 'neg'}, False, 1.2e-05)
    >>> for chunk in ai.stream("Tell a short story"):                  # doctest: +SKIP
    ...     print(chunk, end="")
    """

    def __init__(self, model: str = "local", **kwargs: Any) -> None:
        self.aio: AsyncAI = kwargs.pop("_aio", None) or AsyncAI(model, **kwargs)

    def __repr__(self) -> str:
        return "AI" + repr(self.aio)[len("AsyncAI") :]

    @property
    def spec(self) -> ProviderSpec:
        return self.aio.spec

    @property
    def model_spec(self) -> str:
        return self.aio.model_spec

    @property
    def session(self) -> str:
        return self.aio.session

    def chat(self, prompt: Any, **kwargs: Any) -> Response:
        """:meth:`AsyncAI.achat`, run on aikit's loop thread (same arguments)."""
        return _runtime.run_sync(self.aio.achat(prompt, **kwargs))

    async def achat(self, prompt: Any, **kwargs: Any) -> Response:
        """:meth:`AsyncAI.achat`, awaited on the caller's loop."""
        return await self.aio.achat(prompt, **kwargs)

    def stream(self, prompt: Any, **kwargs: Any) -> Stream:
        """:meth:`AsyncAI.astream` as a sync iterator: ``for chunk in ai.stream(...)``."""
        from aikit.client.stream import Stream

        return Stream(self.aio.astream(prompt, **kwargs))

    def astream(self, prompt: Any, **kwargs: Any) -> AsyncStream:
        """:meth:`AsyncAI.astream`."""
        return self.aio.astream(prompt, **kwargs)

    def cache_key(self, prompt: Any, **kwargs: Any) -> str:
        """:meth:`AsyncAI.cache_key`."""
        return self.aio.cache_key(prompt, **kwargs)

    def cached(self, keys: list[str]) -> dict[str, Response]:
        """:meth:`AsyncAI.cached`, run on aikit's loop thread."""
        return _runtime.run_sync(self.aio.cached(keys))

    def estimate_tokens(
        self, prompt: Any, system: str | None = None, max_tokens: int | None = None
    ) -> tuple[int, int]:
        """:meth:`AsyncAI.estimate_tokens`."""
        return self.aio.estimate_tokens(prompt, system, max_tokens)

    def price(self, input_tokens: int, output_tokens: int) -> float | None:
        """:meth:`AsyncAI.price`."""
        return self.aio.price(input_tokens, output_tokens)

    def stats(self) -> dict[str, Any]:
        """:meth:`AsyncAI.stats`."""
        return self.aio.stats()

    def calls(self, *, all: bool = False) -> pd.DataFrame:
        """:meth:`AsyncAI.calls`."""
        return self.aio.calls(all=all)

    def describe(self) -> dict[str, Any]:
        """:meth:`AsyncAI.describe`."""
        return self.aio.describe()

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> AI:
        """Rebuild from :meth:`describe` output."""
        return cls(_aio=AsyncAI.from_description(description))

    def close(self) -> None:
        """Close the HTTP client on aikit's loop."""
        _runtime.run_sync(self.aio.aclose())

    def __enter__(self) -> AI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
