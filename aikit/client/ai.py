"""The async AI client, :class:`AsyncAI`; its sync twin :class:`~aikit.client.sync.AI` is in ``sync``.

One call goes down a straight path, each step in its own module:

1. :mod:`~aikit.client.request` (pure): the provider-neutral request and its cache key;
2. the cache read (:mod:`~aikit.client.cache`, or Redis through :mod:`~aikit.client.backends`) and
   single flight (:mod:`~aikit.client.flight`): identical requests in flight share one HTTP call;
3. :mod:`~aikit.client.flow` (sans-I/O): pacing, sending, retry decisions, validation, the cache write
   and the call-log rows of every attempt, driven by :mod:`~aikit.client.drive` for ``chat`` and for
   ``stream`` alike;
4. :mod:`~aikit.client.ledger`: counters, cost, the call log and the scrubbing of secrets.

>>> AsyncAI("compat:my-model", base_url="http://127.0.0.1:8000/v1", api_key="sk-secret", cache=False)
AsyncAI('compat:my-model', base_url='http://127.0.0.1:8000/v1')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import httpx

from aikit._runtime import LoopLocal
from aikit.auth.secrets import Secret, resolve_key
from aikit.auth.urls import SplitURL, protect_logs, split_url
from aikit.client.backends import is_redis_url
from aikit.client.cache import normalize_base_url
from aikit.client.drive import StreamDriver, drive
from aikit.client.fallback import ALONE, SEPARATOR, achat_chain, members_of, split_chain
from aikit.client.flight import single_flight
from aikit.client.flow import AttemptFlow
from aikit.client.ledger import Ledger, Observer, Scrubber, notify
from aikit.client.providers import ProviderSpec, known_params, make_provider, parse_model
from aikit.client.ratelimit import RateLimiter
from aikit.client.request import RequestBuilder, cache_mode
from aikit.client.response import Response
from aikit.client.retry import RetryPolicy
from aikit.client.schema import OutputSchema
from aikit.client.stream import AsyncStream
from aikit.client.verbs import Verbs
from aikit.exceptions import AIKitError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from aikit.client.cache import ResponseCache
    from aikit.client.calllog import CallLog
    from aikit.client.providers.base import ChatRequest, Provider
    from aikit.client.tail import Tail

__all__ = ["LOCAL_CONCURRENCY", "AsyncAI"]

_log = logging.getLogger("aikit.client")

#: Requests in flight to the embedded local model (one answering, one queued).
LOCAL_CONCURRENCY = 2


class _LoopState:
    """The loop-bound objects of one client on one event loop: its HTTP client, its calls in flight."""

    __slots__ = ("http", "inflight")

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.inflight: dict[str, asyncio.Future[Response]] = {}


async def _close_state(state: _LoopState) -> None:
    await state.http.aclose()


class AsyncAI(Verbs):
    """The async AI client. Methods run on the caller's event loop; loop-bound state is kept per loop.

    Parameters
    ----------
    model : str
        ``"provider:model"``: ``openai:gpt-4o-mini``, ``anthropic:claude-sonnet-4-5``, ``compat:NAME``
        or ``azure:DEPLOYMENT`` (with ``base_url``), ``ollama:NAME``, or ``local`` /
        ``local:/path/model.gguf`` (the embedded model, started at the first call, never here;
        temperature 0 by default). A list is a fallback chain: the first model, then the others.
    fallbacks : list of str or AI, optional
        Models (or configured clients) that answer a call this one cannot: retries exhausted,
        5xx/529, no key, prompt too long (:mod:`aikit.client.fallback`). Model strings share this
        client's cache, timeout and retry options (and its base URL and key if the same provider).
    base_url : str, optional
        Endpoint up to ``/v1``; overrides the provider default. Part of the cache key. A query
        (Azure's ``?api-version=``) stays after the path; credentials in it (``user:password@`` user
        info, sent as HTTP Basic; secret query parameters such as ``?key=``) are masked wherever the
        URL is shown, logged or keyed, like the API key.
    api_key : str or Secret, optional
        Wins over this kernel's session (the login panel, ``aikit.auth.set_secret``), the environment
        (``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` / ``AIKIT_API_KEY``) and ``.env``. Never shown,
        logged or cached; in :meth:`describe` only when asked for.
    rpm, tpm : float, optional
        Requests / tokens per minute to pace to; learned from response headers when not given.
    cache : bool, str, Path or cache object
        True (default): the persistent cache under ``$AIKIT_HOME``; False: none; a directory (a
        relative one is resolved now, against the current directory); a ``redis://`` URL
        (``aikit[scale]``); or an object with ``aget/aget_many/aset``.
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
        model: str | list[str] = "local",
        *,
        fallbacks: list[Any] | None = None,
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
        protect_logs()
        model, chain = split_chain(model, fallbacks)
        self.fallbacks: tuple[AsyncAI, ...] = ()
        self._url: SplitURL | None = split_url(str(base_url)) if base_url and str(base_url).strip() else None
        self.spec: ProviderSpec = parse_model(model, self._url.url if self._url else base_url)
        local = self.spec.provider == "local"
        if max_concurrency is None:
            max_concurrency = LOCAL_CONCURRENCY if local else 64
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self._explicit_base_url = base_url
        self._explicit_key = (
            (api_key if isinstance(api_key, Secret) else Secret(api_key)) if api_key else None
        )
        self._key: Secret | None = None
        self._key_resolved = False
        self._scrub = Scrubber()
        self._scrub.add(self._explicit_key.reveal() if self._explicit_key else None)
        for secret in self._url.secrets if self._url else ():
            self._scrub.add(secret)
        self._options = {"rpm": rpm, "tpm": tpm, "max_concurrency": max_concurrency}
        self._limiter_url = limiter if isinstance(limiter, str) else None
        if isinstance(limiter, str):
            limiter = self._shared_limiter(limiter)
        self.limiter = limiter or RateLimiter(rpm, tpm, max_concurrency=max_concurrency)
        self._transport = transport
        if isinstance(cache, str | os.PathLike) and not is_redis_url(cache) and str(cache).strip():
            cache = os.path.abspath(os.path.expanduser(os.fspath(cache)))  # once: a later chdir moves nothing
        self._cache_spec = cache
        self._cache: ResponseCache | None = None
        self._calllog_spec = calllog
        key_base_url = normalize_base_url(self.spec.base_url) if self.spec.base_url else ""
        defaults = {"temperature": 0} if local else None
        self._requests = RequestBuilder(
            provider=self.spec.provider, model=self.spec.model, base_url=key_base_url, defaults=defaults,
            known=known_params(self.spec),
        )  # fmt: skip
        self._provider: Provider | None = None if local else make_provider(self.spec)
        self._local_base_url: str | None = None
        self._loop_state: LoopLocal[_LoopState] = LoopLocal(self._new_state, close=_close_state)
        #: One id per client object, in the call log's ``session`` column.
        self.session = uuid.uuid4().hex[:12]
        self._ledger = Ledger(
            provider=self.spec.provider, model=self.spec.model, base_url=key_base_url, session=self.session,
            log=None, scrub=self._scrub,
        )  # fmt: skip
        self._log_ready = False
        shared = {"base_url": base_url, "api_key": api_key, "cache": cache, "timeout": timeout,
                  "retry": retry, "transport": transport, "calllog": calllog}  # fmt: skip
        self.fallbacks = members_of(self, chain, shared)

    def _shared_limiter(self, url: str) -> RateLimiter:
        from aikit.client.backends import open_limiter

        key = resolve_key(self.spec.key_variables, self._explicit_key, required=False)
        opts = self._options
        return open_limiter(
            url, provider=self.spec.provider, base_url=self.spec.base_url, model=self.spec.model,
            api_key=key.reveal() if key else None, rpm=opts["rpm"], tpm=opts["tpm"],
            max_concurrency=opts["max_concurrency"],
        )  # fmt: skip

    def __repr__(self) -> str:
        parts = [repr(str(self.spec))]
        if self._explicit_base_url:
            parts.append(f"base_url={self._requests.base_url!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def model_spec(self) -> str:
        """``"provider:model"`` as given (``"openai:gpt-4o-mini"``); a chain's members joined by ``->``."""
        return SEPARATOR.join(str(m.spec) for m in (self, *self.fallbacks))

    def describe(self, *, include_key: bool = False) -> dict[str, Any]:
        """A picklable description; :meth:`from_description` rebuilds an equivalent client.

        The API key is left out unless ``include_key=True`` asks for it; then the key passed to this
        client explicitly (``api_key=``) is included **as plain text**, e.g. to ship it to Dask workers
        inside the task graph. Credentials in ``base_url`` count as the key: without ``include_key``
        the description's ``base_url`` has none (user info dropped, secret query values masked). A
        key from the session, the environment or ``.env`` is never included: the rebuilt client
        resolves its own. An injected transport or limiter object is not included
        (a ``redis://`` limiter URL is).

        >>> AsyncAI.from_description(AsyncAI("ollama:llama3.2", cache=False).describe())
        AsyncAI('ollama:llama3.2')
        >>> AsyncAI("openai:gpt-4o-mini", api_key="sk-x", cache=False).describe()["api_key"] is None
        True
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
        key = self._explicit_key.reveal() if include_key and self._explicit_key else None
        base_url = self._explicit_base_url
        if base_url and self._url is not None and not include_key:
            base_url = self._url.shown
        return {
            "model": str(self.spec),
            "base_url": base_url,
            "api_key": key,
            **self._options,
            "cache": cache,
            "timeout": self.timeout,
            "retry": asdict(self.retry),
            "limiter": self._limiter_url,
            "calllog": bool(self._calllog_spec),
            **(
                {"fallbacks": [m.describe(include_key=include_key) for m in self.fallbacks]}
                if self.fallbacks
                else {}
            ),
        }

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> AsyncAI:
        """Rebuild a client from :meth:`describe` output (in another process or on another machine)."""
        d = dict(description)
        retry = d.pop("retry", None)
        chain = [cls.from_description(f) for f in d.pop("fallbacks", None) or ()]
        return cls(**d, retry=RetryPolicy(**retry) if retry else None, fallbacks=chain or None)

    def _api_key(self) -> Secret | None:
        if not self._key_resolved:
            self._key = resolve_key(
                self.spec.key_variables, self._explicit_key, required=self.spec.key_required,
                provider=str(self.spec),
            )  # fmt: skip
            self._key_resolved = True
            self._scrub.add(self._key.reveal() if self._key else None)
        return self._key

    def _new_state(self) -> _LoopState:
        # no larger than the limiter allows in flight: httpcore scans the pool per request (CPU)
        pool = max(8, int(getattr(self.limiter, "max_concurrency", 64)))
        return _LoopState(
            httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            )
        )

    def _cache_store(self) -> ResponseCache:
        if self._cache is None:
            from aikit.client.backends import open_cache

            self._cache = open_cache(self._cache_spec)
        return self._cache

    def _log(self) -> CallLog | None:
        if not self._log_ready:
            spec = self._calllog_spec
            if spec is not False and spec is not None:
                from aikit.client.calllog import CallLog, calllog

                self._ledger.log = spec if isinstance(spec, CallLog) else calllog()
            self._log_ready = True
        return self._ledger.log

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
            self._scrub.add(endpoint.api_key)
            self._requests.request_model = getattr(endpoint, "model", None) or "local"
            self._provider = OpenAIProvider("local", endpoint.base_url)
        return self._provider, self._key

    async def _store(self, key: str, r: Response) -> None:
        try:
            await self._cache_store().aset(key, r.to_cache())
        except (AIKitError, OSError, ValueError, TypeError) as exc:  # a failed write never fails the call
            _log.warning("could not cache the answer for %s: %s", key, exc)

    def _start(
        self, prompt: Any, system: str | None, schema: Any, temperature: float | None,
        max_tokens: int | None, cache: object, params: dict[str, Any], *, stream: bool = False,
        extra_body: dict[str, Any] | None = None,
    ) -> tuple[ChatRequest, str, str | None]:  # fmt: skip
        """Validate one call's arguments: its request, cache mode and key (None when the cache is off)."""
        mode = cache_mode(cache)
        req = self._requests.build(
            prompt, system, OutputSchema.of(schema), temperature, max_tokens, params, stream=stream,
            extra_body=extra_body,
        )  # fmt: skip
        self._log()
        self._ledger.stats["requests"] += 1
        return req, mode, None if mode == "off" else self._requests.key(req)

    async def _lookup(self, key: str | None, mode: str, req: ChatRequest, t0: float) -> Response | None:
        """The cached answer for ``key`` (schema objects loaded), or None."""
        if key is None or mode == "refresh":
            return None
        hit = await self._cache_store().aget(key)
        if hit is None:
            return None
        r = Response.from_cache(hit, cache_key=key, latency_s=time.perf_counter() - t0)
        if req.schema is not None and req.schema.model is not None:
            r = r.replace(data=req.schema.load(r.data))
        return r

    async def _flow(
        self, req: ChatRequest, key: str | None, mode: str, observer: Observer | None, t0: float,
        tail: Tail | None = None,
    ) -> AttemptFlow:  # fmt: skip
        provider, api_key = await self._ensure_provider()
        request = provider.build_request(req, api_key)
        if self._url is not None:
            self._url.sign(request, what=str(self.spec))
        return AttemptFlow(
            provider, req, request, limiter=self.limiter, ledger=self._ledger,
            timeout_s=self.timeout, key=key, write_cache=mode in ("use", "refresh"), policy=self.retry,
            observer=observer, t0=t0, tail=tail,
        )  # fmt: skip

    def _answered_from_cache(self, r: Response, observer: Observer | None) -> Response:
        self._ledger.hits(r)
        notify(observer, "done", {"response": r})
        return r

    async def achat(
        self,
        prompt: Any,
        *,
        system: str | None = None,
        schema: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: str | bool = "use",
        observer: Observer | None = None,
        extra_body: dict[str, Any] | None = None,
        tail: Tail | None = None,
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
            Sampling parameters; the provider's other request fields (``top_p``, ``seed``, ``stop`` ...)
            go in ``**params``. An unknown name is refused (``ConfigError``, naming the closest known
            one: ``temprature`` -> ``temperature``). Every parameter is part of the cache key.
        cache : {"use", "refresh", "read_only", "off"} or bool
            ``use`` (or True): read and write; ``refresh``: skip the read, write the new answer;
            ``read_only``: read, never write; ``off`` (or False): neither (and no single flight).
        observer : callable, optional
            ``observer(kind, info)``, called on the loop thread: ``"start"`` (an attempt starts; info
            ``attempt``, ``waited_s``), ``"retry"`` (info ``attempt``, ``status`` or None, ``error``,
            ``wait_s``), ``"done"`` (info ``response``; cache hits too), ``"error"`` (info ``error``,
            the exception about to be raised). Exceptions raised by the observer are ignored.
        extra_body : dict, optional
            Fields merged into the request's JSON body as they are (a server's own extensions, such as
            Ollama's ``options``); part of the cache key.
        tail : aikit.client.tail.Tail, optional
            A batch's latencies, shared by its calls: adaptive timeouts and hedging of slow requests.

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

        Examples
        --------
        >>> r = await ai.achat("Classify: the invoice is wrong", schema=TONE)  # doctest: +SKIP
        >>> r.data, r.cached, r.cost_usd  # doctest: +SKIP
        ({'tone': 'negative'}, False, 1.2e-05)
        """
        if self.fallbacks and not ALONE.get():
            args = {"system": system, "schema": schema, "temperature": temperature, "max_tokens": max_tokens,
                    "cache": cache, "observer": observer, "extra_body": extra_body, **params}  # fmt: skip
            return await achat_chain(self, prompt, args)
        t0 = time.perf_counter()
        req, mode, key = self._start(
            prompt, system, schema, temperature, max_tokens, cache, params, extra_body=extra_body
        )
        hit = await self._lookup(key, mode, req, t0)
        if hit is not None:
            return self._answered_from_cache(hit, observer)

        async def call() -> Response:
            flow = await self._flow(req, key, mode, observer, t0, tail)
            return await drive(flow.run(), http=self._loop_state.get().http, store=self._store)

        if key is None:
            return await call()
        r, shared = await single_flight(self._loop_state.get().inflight, key, call)
        if not shared:
            return r
        r = r.replace(
            cached=True, cost_usd=0.0, saved_usd=r.cost_usd, attempts=0, latency_s=time.perf_counter() - t0
        )
        return self._answered_from_cache(r, observer)

    def astream(
        self,
        prompt: Any,
        *,
        system: str | None = None,
        schema: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: str | bool = "use",
        observer: Observer | None = None,
        extra_body: dict[str, Any] | None = None,
        **params: Any,
    ) -> AsyncStream:
        """Stream the answer's text as it arrives (SSE); same arguments as :meth:`achat`.

        Returns an :class:`~aikit.client.stream.AsyncStream`: ``async for chunk in ai.astream(...)``;
        then ``stream.response`` is the assembled :class:`Response`, which is cached. A cache hit
        replays the cached text through the same iterator. Retries happen only before the first chunk;
        output that fails the schema raises at once (a stream cannot take back what it showed).

        >>> async for chunk in ai.astream("Tell a short story", max_tokens=200):  # doctest: +SKIP
        ...     print(chunk, end="")
        """
        t0 = time.perf_counter()
        req, mode, key = self._start(
            prompt, system, schema, temperature, max_tokens, cache, params, stream=True, extra_body=extra_body
        )
        return AsyncStream(self._stream(req, key, mode, observer, t0))

    async def _stream(
        self, req: ChatRequest, key: str | None, mode: str, observer: Observer | None, t0: float
    ) -> Any:
        """The deltas of one streamed call; the last item is its :class:`Response` (see AsyncStream)."""
        hit = await self._lookup(key, mode, req, t0)
        if hit is not None:
            self._answered_from_cache(hit, observer)
            if hit.text:
                yield hit.text
            yield hit
            return
        flow = await self._flow(req, key, mode, observer, t0)
        driver = StreamDriver(flow.run(), http=self._loop_state.get().http, store=self._store)
        try:
            async for delta in driver:
                yield delta
        finally:
            await driver.aclose()
        yield driver.response

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
        gets one ``cache_hit`` row for all of them, whose ``requests`` column says how many.
        """
        self._log()
        self._ledger.bulk_hits(responses, uses)

    def stats(self) -> dict[str, Any]:
        """Counters of this client: requests, cache hits, HTTP calls, retries, errors, tokens, cost.

        ``cost_usd`` sums the calls with a known price; ``cost_unknown`` counts the others;
        ``saved_usd`` is what cache hits would have cost.
        """
        s = self._ledger.snapshot()
        s.update(concurrency=int(self.limiter.limit), rpm=self.limiter.rpm, tpm=self.limiter.tpm)
        return s

    def calls(self, *, all: bool = False) -> pd.DataFrame:
        """This client's call log as a DataFrame: one row per attempt outcome, cache hits included.

        By default only the calls this client object made (its ``session``, so the rows agree with
        :meth:`stats`); ``all=True`` gives the whole log under ``$AIKIT_HOME``: every client, model,
        session and process, oldest first (filter on ``provider``, ``model``, ``session``...).

        Examples
        --------
        >>> ai = AsyncAI("openai:gpt-4o-mini", api_key="sk-test", cache=False)
        >>> len(ai.calls())  # nothing called yet
        0
        """
        from aikit.client.calllog import calllog

        log = self._log() or calllog()
        return log.frame(None if all else {"session": self.session})

    async def aclose(self) -> None:
        """Close this loop's HTTP client (and the cache, when this client opened it). Idempotent."""
        state = self._loop_state.pop()
        if state is not None:
            await state.http.aclose()
        if not len(self._loop_state) and self._cache is not None and not hasattr(self._cache_spec, "aget"):
            cache, self._cache = self._cache, None
            with contextlib.suppress(Exception):
                cache.close()
        log = self._ledger.log
        if log is not None:
            await asyncio.to_thread(log.flush)

    async def __aenter__(self) -> AsyncAI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
