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
The planning and the worker pool live in :mod:`aikit._batch.run`, the result types in
:mod:`aikit._batch.result`.

>>> import aikit  # doctest: +SKIP
>>> res = aikit._batch.api(["Say hi", "Say bye", "Say hi"], ai=aikit.AI("local"))  # doctest: +SKIP
>>> [r.text for r in res], res.summary()["calls"]  # doctest: +SKIP
(['Hi!', 'Bye!', 'Hi!'], 2)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aikit._batch.progress import NullView, ProgressState, ProgressView, make_view
from aikit._batch.result import BatchEstimate, BatchResult, RowResult, error_text, meta_columns
from aikit._batch.run import OnError, Prompt, Run, assemble, normalise_prompts, plan_batch
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.run import Plan
    from aikit.client import AI, AsyncAI

__all__ = [
    "BatchEstimate",
    "BatchResult",
    "RowResult",
    "abatch",
    "aestimate",
    "batch",
    "default_ai",
    "error_text",
    "estimate",
    "meta_columns",
    "set_default_ai",
]

T = TypeVar("T")
#: Kept for aikit.scale.dask, which splits prompts the same way.
_normalise_prompts = normalise_prompts


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
        self.prompts = normalise_prompts(prompts)
        if schema is not None:  # validate once here, not once per row in cache_key/achat
            from aikit.client.schema import OutputSchema

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
        self.plan: Plan | None = None
        self.run: Run | None = None
        self.state: ProgressState | None = None

    async def prepare(self) -> None:
        need = self.budget is not None or not isinstance(self.view, NullView)
        plan = await plan_batch(
            self.aio, self.prompts, self.call_kwargs, cache=self.cache, need_estimates=need
        )
        if self.budget is not None and plan.misses and plan.estimated_cost_usd is None:
            raise ConfigError(
                f"budget_usd needs a price for {plan.model}, and it has none; add one with "
                "aikit.client.pricing.set_price(provider, model, input_per_m, output_per_m)"
            )
        self.plan = plan
        state = ProgressState(len(plan.prompts), len(plan.misses), estimated_cost_usd=plan.estimated_cost_usd)
        state.started = self.started
        state.add_cached(sum(len(plan.groups[k]) for k in plan.hits))
        if plan.hits and hasattr(self.aio, "record_hits"):
            self.aio.record_hits(plan.hits.values(), (len(plan.groups[k]) for k in plan.hits))
        self.state = state
        self.run = Run(
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
        return assemble(self.plan, self.run, self.state, time.monotonic() - self.started)

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
        None: a widget in a live kernel, a few log lines headless. See :mod:`aikit._batch.progress`.
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
        from aikit.client.backends import run_on_dask

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
        result: BatchResult = run_on_dask(client, prompts, ai, progress=progress, **options, **params)
        return result
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
    items = normalise_prompts(prompts)
    if schema is not None:
        from aikit.client.schema import OutputSchema

        schema = OutputSchema.of(schema)
    call_kwargs = {"system": system, "schema": schema, "temperature": temperature, "max_tokens": max_tokens}
    call_kwargs.update(params)

    async def work() -> BatchEstimate:
        plan = await plan_batch(aio, items, call_kwargs, cache="use", need_estimates=False)
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
