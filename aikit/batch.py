"""Run one AI call per prompt over thousands of prompts, at the rate limit, with no prompt lost.

:func:`batch` (sync) and :func:`abatch` (async) take a list of prompts (strings or chat message
lists) and return a :class:`BatchResult` with one :class:`RowResult` per prompt, in order. They are
the engine behind ``df.ai.map``.

How a batch runs:

1. Every prompt gets its cache key; duplicates are grouped, so a prompt repeated in the batch costs
   one call.
2. All keys are looked up in the cache in bulk. Hits are answered at once (a fully cached re-run
   of 10,000 rows takes well under a second); only the misses are scheduled.
3. A bounded pool of workers (not one task per row) feeds the misses to the client, which paces
   them to the provider's RPM/TPM limits, retries 429/5xx/timeouts, and caches every success as it
   arrives. An interrupted or crashed batch therefore resumes where it stopped: the re-run calls
   only the prompts that are not cached yet.
4. A prompt that still fails keeps its error (``"ErrorType: message"``) and the others complete
   (``on_error="keep"``, the default); ``on_error="raise"`` stops at the first failure instead.
   Errors that would fail every row the same way (bad arguments, a missing or rejected key, no
   permission, an unknown model: ConfigError and HTTP 401/403/404) raise at once either way.
5. ``budget_usd`` stops scheduling prompts once spent plus reserved (estimated) cost would exceed
   it; the prompts not run say so in their error.

``ai=None`` uses :func:`default_ai`, which is ``aikit.AI("local")`` (the embedded offline model).

>>> import aikit  # doctest: +SKIP
>>> res = aikit.batch(["Say hi", "Say bye", "Say hi"], ai=aikit.AI("local"))  # doctest: +SKIP
>>> [r.text for r in res], res.summary()["calls"]  # doctest: +SKIP
(['Hi!', 'Bye!', 'Hi!'], 2)
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
import types
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from aikit.exceptions import BudgetExceededError, ConfigError, ProviderHTTPError
from aikit.progress import REFRESH_S, NullView, ProgressState, ProgressView, make_view

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from aikit.client import AI, AsyncAI
    from aikit.response import Response

__all__ = [
    "BatchEstimate",
    "BatchResult",
    "RowResult",
    "abatch",
    "aestimate",
    "batch",
    "default_ai",
    "estimate",
    "set_default_ai",
]

T = TypeVar("T")
Prompt = str | Sequence[Mapping[str, Any]]
OnError = Literal["keep", "raise"]

#: Workers when the client does not say how many requests it may keep in flight.
DEFAULT_CONCURRENCY = 64
#: Never more workers than this, whatever the client says (each worker is one asyncio task).
MAX_CONCURRENCY = 512

_default_lock = threading.Lock()
_default: Any = None


def default_ai() -> AI:
    """The client used when ``ai=None``: ``aikit.AI("local")``, created on first use.

    The embedded offline model needs no key and no network. Replace it with :func:`set_default_ai`.
    """
    global _default
    with _default_lock:
        if _default is None:
            from aikit.client import AI

            _default = AI("local")
        return _default  # type: ignore[no-any-return]


def set_default_ai(ai: AI | AsyncAI | str | None) -> None:
    """Set (or with None, reset) the client used when ``ai=None``."""
    global _default
    with _default_lock:
        _default = _as_client(ai) if ai is not None else None


def _as_client(ai: Any) -> Any:
    if isinstance(ai, str):
        from aikit.client import AI

        return AI(ai)
    return ai


def _async_client(ai: Any) -> AsyncAI:
    """The AsyncAI behind ``ai`` (an AI facade, an AsyncAI, a "provider:model" string or None)."""
    client = default_ai() if ai is None else _as_client(ai)
    aio = getattr(client, "aio", client)
    if not hasattr(aio, "achat") or not hasattr(aio, "cache_key"):
        raise ConfigError(f"ai= must be an aikit.AI, an AsyncAI or a 'provider:model' string, got {ai!r}")
    return cast("AsyncAI", aio)


def _model_name(aio: Any) -> str:
    for attr in ("model_spec", "name"):
        value = getattr(aio, attr, None)
        if isinstance(value, str) and value:
            return value
    provider, model = getattr(aio, "provider_name", None), getattr(aio, "model", None)
    if isinstance(provider, str) and isinstance(model, str):
        return f"{provider}:{model}"
    return str(model) if model is not None else type(aio).__name__


def error_text(exc: BaseException) -> str:
    """How an error is written in ``ai_error``: ``"ErrorType: message"``."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass(slots=True)
class RowResult:
    """The outcome of one prompt: a response, or an error (and ``skipped`` when never run).

    (Not frozen: a frozen dataclass costs several microseconds per instance, and a cached re-run
    builds one per unique prompt.)
    """

    response: Response | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def text(self) -> str | None:
        return None if self.response is None else self.response.text

    @property
    def data(self) -> Any:
        return None if self.response is None else self.response.data


@dataclass
class BatchResult(Sequence[RowResult]):
    """One :class:`RowResult` per prompt, in input order, plus what the batch did.

    Attributes
    ----------
    rows : list of RowResult
    model : str
        The client's ``provider:model``.
    calls : int
        Unique prompts that needed a call (duplicates and cache hits excluded).
    elapsed_s : float
    state : ProgressState
        The final counters (ok, cached, failed, skipped, tokens, cost, retries).
    """

    rows: list[RowResult]
    model: str
    calls: int
    elapsed_s: float
    state: ProgressState = field(repr=False)

    @overload
    def __getitem__(self, index: int) -> RowResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RowResult]: ...

    def __getitem__(self, index: int | slice) -> RowResult | Sequence[RowResult]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[RowResult]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<BatchResult {self.state.summary_line(self.elapsed_s)}>"

    @property
    def texts(self) -> list[str | None]:
        return [r.text for r in self.rows]

    @property
    def errors(self) -> list[str | None]:
        return [r.error for r in self.rows]

    @property
    def cost_usd(self) -> float | None:
        """What the calls of this run cost (cache hits are free); None when a price is unknown."""
        return self.state.cost_usd

    def summary(self) -> dict[str, Any]:
        """Counts, tokens, cost and time, as a plain dict (also what lineage records)."""
        s = self.state
        return {
            **s.counts(),
            "calls": self.calls,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_usd": s.cost_usd,
            "elapsed_s": round(self.elapsed_s, 3),
            "outcome": s.outcome,
        }

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with ``text``, ``data``, ``ai_error`` and the per-row metadata."""
        import pandas as pd

        return pd.DataFrame(
            {
                "text": self.texts,
                "data": [r.data for r in self.rows],
                "ai_error": self.errors,
                **meta_columns(self.rows),
            }
        )


def meta_columns(rows: Sequence[RowResult]) -> dict[str, list[Any]]:
    """The ``with_meta=True`` columns: tokens, cost, cached, latency, attempts."""
    nan = float("nan")
    tin: list[Any] = []
    tout: list[Any] = []
    cost: list[Any] = []
    cached: list[Any] = []
    latency: list[Any] = []
    attempts: list[Any] = []
    for row in rows:
        r = row.response
        if r is None:
            tin.append(None)
            tout.append(None)
            cost.append(nan)
            cached.append(None)
            latency.append(nan)
            attempts.append(None)
            continue
        tin.append(r.usage.input_tokens)
        tout.append(r.usage.output_tokens)
        cost.append(nan if r.cost_usd is None else r.cost_usd)
        cached.append(r.cached)
        latency.append(r.latency_s)
        attempts.append(r.attempts)
    return {
        "ai_input_tokens": tin,
        "ai_output_tokens": tout,
        "ai_cost_usd": cost,
        "ai_cached": cached,
        "ai_latency_s": latency,
        "ai_attempts": attempts,
    }


@dataclass(frozen=True)
class BatchEstimate:
    """What a batch would do: rows, cache hits, calls, estimated tokens and cost (None if unknown)."""

    rows: int
    unique_prompts: int
    cached_rows: int
    rows_to_call: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    model: str

    def __repr__(self) -> str:
        cost = "unknown (no price for this model)" if self.cost_usd is None else f"${self.cost_usd:,.4f}"
        return (
            f"BatchEstimate({self.model}: {self.rows:,} rows, {self.cached_rows:,} already cached, "
            f"{self.calls:,} calls to make for {self.rows_to_call:,} rows, ~{self.input_tokens:,} input + "
            f"~{self.output_tokens:,} output tokens, ~{cost})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------------------------------
# Planning: keys, duplicates, bulk cache lookup, estimates
# --------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    aio: Any
    prompts: list[Any]
    call_kwargs: dict[str, Any]
    cache: str
    groups: dict[str, list[int]]  # cache key -> row positions, in first-seen order
    first: dict[str, Any]  # cache key -> the prompt to send
    hits: dict[str, Response]
    misses: list[str]
    estimates: dict[str, float]  # miss key -> estimated cost (only with a budget)
    estimated_cost_usd: float | None
    model: str


def _normalise_prompts(prompts: Sequence[Prompt]) -> list[Any]:
    if isinstance(prompts, str | bytes) or not isinstance(prompts, Sequence | Iterator):
        if isinstance(prompts, str):
            raise ConfigError("batch() takes a list of prompts; wrap a single prompt in a list")
        prompts = list(prompts)
    out = list(prompts)
    for i, p in enumerate(out):
        if isinstance(p, str):
            continue
        if isinstance(p, Sequence) and all(isinstance(m, Mapping) for m in p):
            continue
        raise ConfigError(
            f"prompt {i} must be a str or a list of chat messages (dicts with role/content), "
            f"got {type(p).__name__}"
        )
    return out


def _estimate_cost(aio: Any, prompt: Any, system: str | None, max_tokens: int | None) -> float | None:
    tin, tout = aio.estimate_tokens(prompt, system=system, max_tokens=max_tokens)
    cost = aio.price(tin, tout)
    return None if cost is None else float(cost)


async def _plan(
    aio: Any,
    prompts: list[Any],
    call_kwargs: dict[str, Any],
    *,
    cache: str,
    need_estimates: bool,
) -> _Plan:
    key_kwargs = {k: v for k, v in call_kwargs.items() if v is not None}
    cache_key = aio.cache_key
    groups: dict[str, list[int]] = {}
    first: dict[str, Any] = {}
    for i, prompt in enumerate(prompts):
        key = cache_key(prompt, **key_kwargs)
        rows = groups.get(key)
        if rows is None:
            groups[key] = [i]
            first[key] = prompt
        else:
            rows.append(i)
    hits: dict[str, Response] = {}
    if cache in ("use", "read_only") and groups:
        hits = dict(await aio.cached(list(groups)))
    misses = [k for k in groups if k not in hits]
    estimates: dict[str, float] = {}
    total: float | None = 0.0
    if need_estimates and misses:
        system, max_tokens = call_kwargs.get("system"), call_kwargs.get("max_tokens")
        for key in misses:
            cost = _estimate_cost(aio, first[key], system, max_tokens)
            if cost is None:
                total = None
                break
            estimates[key] = cost
            total = (total or 0.0) + cost
    return _Plan(
        aio=aio,
        prompts=prompts,
        call_kwargs=call_kwargs,
        cache=cache,
        groups=groups,
        first=first,
        hits=hits,
        misses=misses,
        estimates=estimates,
        estimated_cost_usd=total if need_estimates else None,
        model=_model_name(aio),
    )


# --------------------------------------------------------------------------------------------------
# Execution: a bounded worker pool over the misses
# --------------------------------------------------------------------------------------------------

_QUEUED, _IN_FLIGHT, _RETRYING = 0, 1, 2


#: HTTP statuses that say nothing about the row: a bad key, no permission, an unknown model.
FATAL_STATUSES = frozenset({401, 403, 404})


def _fails_every_row(exc: BaseException) -> bool:
    """Errors that would fail every row the same way: raise them at once instead of N times."""
    if isinstance(exc, ConfigError):  # bad arguments, a missing key
        return True
    return isinstance(exc, ProviderHTTPError) and exc.status in FATAL_STATUSES


def _client_concurrency(aio: Any) -> int | None:
    """How many requests the client may keep in flight (its adaptive limiter's ceiling)."""
    for owner in (aio, getattr(aio, "limiter", None)):
        value = getattr(owner, "max_concurrency", None)
        if isinstance(value, int) and value > 0:
            return value
    return None


class _Run:
    """One execution of a plan on the runtime loop."""

    def __init__(
        self,
        plan: _Plan,
        state: ProgressState,
        view: ProgressView,
        *,
        on_error: OnError,
        budget_usd: float | None,
        concurrency: int | None,
    ) -> None:
        self.plan = plan
        self.state = state
        self.view = view
        self.on_error = on_error
        self.budget = budget_usd
        self.results: dict[str, RowResult] = {}
        self.spent = 0.0
        self.reserved = 0.0
        self.reserved_n = 0
        self.settled = asyncio.Event()
        self.gate = asyncio.Lock()
        self.keys = iter(plan.misses)
        self.stopped: str | None = None  # why scheduling stopped (budget)
        self.fatal: BaseException | None = None
        self.tasks: list[asyncio.Task[None]] = []
        limit = concurrency or _client_concurrency(plan.aio) or DEFAULT_CONCURRENCY
        self.workers = max(1, min(int(limit), MAX_CONCURRENCY, len(plan.misses)))

    async def _next(self) -> tuple[str, float] | None:
        """The next key to run and its reserved cost, or None when scheduling is over."""
        async with self.gate:
            if self.stopped is not None or self.fatal is not None:
                return None
            key = next(self.keys, None)
            if key is None:
                return None
            if self.budget is None:
                return key, 0.0
            cost = self.plan.estimates.get(key, 0.0)
            while self.spent + self.reserved + cost > self.budget:
                if self.reserved_n == 0:
                    self.stopped = (
                        f"not run: budget_usd={self.budget:g} reached (spent ${self.spent:.4f}; "
                        f"this prompt ~${cost:.4f})"
                    )
                    self._skip(key)
                    return None
                self.settled.clear()
                await self.settled.wait()
            self.reserved += cost
            self.reserved_n += 1
            return key, cost

    def _skip(self, key: str) -> None:
        reason = self.stopped or "not run"
        result = RowResult(error=f"BudgetExceededError: {reason}", skipped=True)
        self.results[key] = result
        self.state.add_skipped(len(self.plan.groups[key]))

    async def _worker(self) -> None:
        plan, state = self.plan, self.state
        achat = plan.aio.achat
        kwargs = {k: v for k, v in plan.call_kwargs.items() if v is not None}
        while True:
            item = await self._next()
            if item is None:
                return
            key, reserved = item
            status = [_QUEUED]

            def observer(kind: str, info: Any, status: list[int] = status) -> None:
                if kind == "start":
                    if status[0] != _IN_FLIGHT:
                        state.request_started(status[0] == _RETRYING)
                        status[0] = _IN_FLIGHT
                elif kind == "retry" and status[0] != _RETRYING:
                    state.request_retrying(status[0] == _IN_FLIGHT)
                    status[0] = _RETRYING

            rows = len(plan.groups[key])
            try:
                response = await achat(plan.first[key], cache=plan.cache, observer=observer, **kwargs)
            except Exception as exc:
                if _fails_every_row(exc):
                    self._fail_fast(exc)
                    return
                self.results[key] = RowResult(error=error_text(exc), exception=exc)
                state.request_finished(
                    rows,
                    ok=False,
                    cached=False,
                    in_flight=status[0] == _IN_FLIGHT,
                    retrying=status[0] == _RETRYING,
                )
                self._settle(reserved, reserved)  # a failed call may still have been billed
                if self.on_error == "raise":
                    self._fail_fast(exc)
                    return
                continue
            self.results[key] = RowResult(response=response)
            cost = response.cost_usd
            state.request_finished(
                rows,
                ok=True,
                cached=response.cached,
                in_flight=status[0] == _IN_FLIGHT,
                retrying=status[0] == _RETRYING,
                input_tokens=0 if response.cached else response.usage.input_tokens,
                output_tokens=0 if response.cached else response.usage.output_tokens,
                cost_usd=cost,
            )
            self._settle(reserved, reserved if cost is None else cost)

    def _settle(self, reserved: float, spent: float) -> None:
        if self.budget is None:
            return
        self.reserved -= reserved
        self.reserved_n -= 1
        self.spent += spent
        self.settled.set()

    def _fail_fast(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    async def _tick(self) -> None:
        view, state = self.view, self.state
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                view.refresh(state)
            except Exception:  # a broken view must never break the batch
                return

    async def execute(self) -> None:
        if not self.plan.misses:
            return
        ticker = asyncio.create_task(self._tick()) if getattr(self.view, "live", True) else None
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        try:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            for task in self.tasks:
                task.cancel()
            if ticker is not None:
                ticker.cancel()
        if self.fatal is not None:
            raise self.fatal
        for key in self.keys:  # left over after a budget stop
            self._skip(key)
        if self.stopped is not None and self.on_error == "raise":
            raise BudgetExceededError(f"{self.state.skipped:,} rows {self.stopped}")


def _assemble(plan: _Plan, run: _Run | None, state: ProgressState, elapsed: float) -> BatchResult:
    rows: list[RowResult | None] = [None] * len(plan.prompts)
    results = run.results if run is not None else {}
    for key, positions in plan.groups.items():
        hit = plan.hits.get(key)
        result = RowResult(response=hit) if hit is not None else results.get(key)
        if result is None:  # pragma: no cover - every key is settled unless interrupted
            result = RowResult(error="BatchError: not run", skipped=True)
        for i in positions:
            rows[i] = result
    return BatchResult(
        rows=rows,  # type: ignore[arg-type]
        model=plan.model,
        calls=len(plan.misses),
        elapsed_s=elapsed,
        state=state,
    )


async def _on_runtime_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on aikit's loop thread (where the client's connections live)."""
    from aikit._runtime import get_loop, in_runtime_thread

    if in_runtime_thread():
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, get_loop())
    return await asyncio.wrap_future(future)


def _check_args(on_error: str, budget_usd: float | None, cache: str) -> None:
    if on_error not in ("keep", "raise"):
        raise ConfigError(f"on_error must be 'keep' or 'raise', got {on_error!r}")
    if budget_usd is not None and not budget_usd >= 0:
        raise ConfigError(f"budget_usd must be a number >= 0, got {budget_usd!r}")
    if cache not in ("use", "refresh", "read_only", "off"):
        raise ConfigError(f"cache must be 'use', 'refresh', 'read_only' or 'off', got {cache!r}")


class _Batch:
    """Shared driver of the sync and async entry points: plan, show progress, execute, assemble."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        ai: Any,
        *,
        system: str | None,
        schema: Any,
        temperature: float | None,
        max_tokens: int | None,
        on_error: OnError,
        budget_usd: float | None,
        progress: bool | str | ProgressView | None,
        concurrency: int | None,
        cache: str,
        params: dict[str, Any],
        title: str = "aikit batch",
    ) -> None:
        _check_args(on_error, budget_usd, cache)
        self.aio = _async_client(ai)
        self.prompts = _normalise_prompts(prompts)
        if schema is not None:  # validate once here, not once per row in cache_key/achat
            from aikit.schema import OutputSchema

            schema = OutputSchema.of(schema)
        self.call_kwargs = {
            "system": system,
            "schema": schema,
            "temperature": temperature,
            "max_tokens": max_tokens,
            **params,
        }
        self.on_error = on_error
        self.budget = budget_usd
        self.view: ProgressView = make_view(progress)
        self.concurrency = concurrency
        self.cache = cache
        self.title = title
        self.started = time.monotonic()
        self.plan: _Plan | None = None
        self.run: _Run | None = None
        self.state: ProgressState | None = None

    async def prepare(self) -> None:
        need = self.budget is not None or not isinstance(self.view, NullView)
        plan = await _plan(self.aio, self.prompts, self.call_kwargs, cache=self.cache, need_estimates=need)
        if self.budget is not None and plan.misses and plan.estimated_cost_usd is None:
            raise ConfigError(
                f"budget_usd needs a price for {plan.model}, and it has none; add one with "
                "aikit.pricing.set_price(provider, model, input_per_m, output_per_m)"
            )
        self.plan = plan
        state = ProgressState(len(plan.prompts), len(plan.misses), estimated_cost_usd=plan.estimated_cost_usd)
        state.started = self.started
        state.add_cached(sum(len(plan.groups[k]) for k in plan.hits))
        self.state = state
        self.run = _Run(
            plan,
            state,
            self.view,
            on_error=self.on_error,
            budget_usd=self.budget,
            concurrency=self.concurrency,
        )

    def start_view(self) -> None:
        assert self.state is not None
        self.view.start(self.state, f"{self.title} ({self.plan.model if self.plan else ''})")

    async def execute(self) -> None:
        assert self.run is not None
        await self.run.execute()

    def finish(self, outcome: str) -> BatchResult | None:
        if self.state is None or self.plan is None:
            return None
        self.state.finish(outcome)
        with contextlib.suppress(Exception):  # a broken display must not hide the result
            self.view.finish(self.state)
        return _assemble(self.plan, self.run, self.state, time.monotonic() - self.started)

    def run_sync(self) -> BatchResult:
        from aikit._runtime import run_sync

        run_sync(self.prepare())
        self.start_view()
        outcome = "interrupted"
        try:
            run_sync(self.execute())
            outcome = "done"
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            outcome = "failed" if isinstance(exc, Exception) else "interrupted"
            self.finish(outcome)
            raise
        result = self.finish(outcome)
        assert result is not None
        return result

    async def run_async(self) -> BatchResult:
        await _on_runtime_loop(self.prepare())
        self.start_view()
        try:
            await _on_runtime_loop(self.execute())
        except (Exception, asyncio.CancelledError) as exc:
            self.finish("failed" if isinstance(exc, Exception) else "interrupted")
            raise
        result = self.finish("done")
        assert result is not None
        return result


def batch(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    system: str | None = None,
    schema: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    on_error: OnError = "keep",
    budget_usd: float | None = None,
    progress: bool | str | ProgressView | None = None,
    concurrency: int | None = None,
    cache: str = "use",
    client: Any = None,
    **params: Any,
) -> BatchResult:
    """Run one AI call per prompt, paced to the provider's limits, keeping every row.

    Parameters
    ----------
    prompts : list of str or list of message lists
        One entry per row. Identical prompts (same cache key) cost one call.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses :func:`default_ai` (``aikit.AI("local")``).
    system, schema, temperature, max_tokens, **params
        Passed to every ``achat`` call. ``schema`` is a JSON Schema dict or a pydantic model.
    on_error : {"keep", "raise"}
        "keep" (default) records a failed row's error and finishes the rest; "raise" stops at the
        first row that still fails after retries and raises its error. Successes are cached either way.
    budget_usd : float, optional
        Stop scheduling once spent plus reserved (estimated) cost would exceed this. Needs a known price.
    progress : None, bool or "widget"/"log"/"off"
        None: a widget in a live kernel, a few log lines headless. See :mod:`aikit.progress`.
    concurrency : int, optional
        Worker count; default the client's ``max_concurrency`` (the client still paces to its limits).
    cache : {"use", "refresh", "read_only", "off"}
        Per-call cache mode.
    client : distributed.Client, optional
        Run the batch on the workers of this Dask client instead (``aikit[scale]``, see
        :func:`aikit.scale.dask.batch_on`): chunks of prompts, one aikit client per worker.

    Returns
    -------
    BatchResult
        One RowResult per prompt, in order: ``.response`` or ``.error``.

    Examples
    --------
    >>> res = batch(["2+2?", "3+3?"], ai=ai, max_tokens=5)  # doctest: +SKIP
    >>> res.texts, res.errors  # doctest: +SKIP
    (['4', '6'], [None, None])
    """
    if client is not None:
        from aikit.scale.dask import batch_on

        options = {
            "system": system,
            "schema": schema,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "on_error": on_error,
            "budget_usd": budget_usd,
            "concurrency": concurrency,
            "cache": cache,
        }
        return cast(
            BatchResult, batch_on(client, prompts, ai, progress=cast(Any, progress), **options, **params)
        )
    return _Batch(
        prompts,
        ai,
        system=system,
        schema=schema,
        temperature=temperature,
        max_tokens=max_tokens,
        on_error=on_error,
        budget_usd=budget_usd,
        progress=progress,
        concurrency=concurrency,
        cache=cache,
        params=params,
    ).run_sync()


async def abatch(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    system: str | None = None,
    schema: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    on_error: OnError = "keep",
    budget_usd: float | None = None,
    progress: bool | str | ProgressView | None = None,
    concurrency: int | None = None,
    cache: str = "use",
    **params: Any,
) -> BatchResult:
    """Async :func:`batch`: same arguments, same result. Runs its calls on aikit's loop thread.

    >>> res = await abatch(["2+2?"], ai=ai)  # doctest: +SKIP
    """
    return await _Batch(
        prompts,
        ai,
        system=system,
        schema=schema,
        temperature=temperature,
        max_tokens=max_tokens,
        on_error=on_error,
        budget_usd=budget_usd,
        progress=progress,
        concurrency=concurrency,
        cache=cache,
        params=params,
    ).run_async()


async def aestimate(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    system: str | None = None,
    schema: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    **params: Any,
) -> BatchEstimate:
    """Async :func:`estimate`."""
    aio = _async_client(ai)
    items = _normalise_prompts(prompts)
    if schema is not None:
        from aikit.schema import OutputSchema

        schema = OutputSchema.of(schema)
    call_kwargs = {"system": system, "schema": schema, "temperature": temperature, "max_tokens": max_tokens}
    call_kwargs.update(params)

    async def work() -> BatchEstimate:
        plan = await _plan(aio, items, call_kwargs, cache="use", need_estimates=False)
        tin = tout = 0
        for key in plan.misses:
            i, o = aio.estimate_tokens(plan.first[key], system=system, max_tokens=max_tokens)
            tin += int(i)
            tout += int(o)
        cost = aio.price(tin, tout) if plan.misses else 0.0
        cached_rows = sum(len(plan.groups[k]) for k in plan.hits)
        return BatchEstimate(
            rows=len(items),
            unique_prompts=len(plan.groups),
            cached_rows=cached_rows,
            rows_to_call=len(items) - cached_rows,
            calls=len(plan.misses),
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=None if cost is None else float(cost),
            model=plan.model,
        )

    return await _on_runtime_loop(work())


def estimate(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    system: str | None = None,
    schema: Any = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    **params: Any,
) -> BatchEstimate:
    """Rows, rows already cached, calls to make, estimated tokens and cost, without calling the model.

    >>> estimate(["Classify: ...", "Classify: ..."], ai=ai, max_tokens=20)  # doctest: +SKIP
    BatchEstimate(openai:gpt-4o-mini: 2 rows, 0 already cached, 1 calls to make for 2 rows, ...)
    """
    from aikit._runtime import run_sync

    return run_sync(
        aestimate(
            prompts,
            ai,
            system=system,
            schema=schema,
            temperature=temperature,
            max_tokens=max_tokens,
            **params,
        )
    )


class _CallableModule(types.ModuleType):
    """Lets ``aikit.batch(...)`` work once this module is imported.

    ``aikit.batch`` is exported as the function, but importing the submodule ``aikit.batch`` (which
    ``df.ai`` does) makes the import system bind the package attribute ``aikit.batch`` to this
    module. Calling the module therefore calls :func:`batch`, so both spellings keep working.
    """

    def __call__(self, prompts: Sequence[Prompt], ai: Any = None, **kwargs: Any) -> BatchResult:
        return batch(prompts, ai, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
