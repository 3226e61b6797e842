"""Batch jobs: a prepared batch that runs either from sync code or awaited, with the same steps.

A :class:`Job` has ``run_sync()`` and ``await run_async()``: what lets every entry point be written
once, as a function that builds a job, and its sync and async forms be generated
(:mod:`aikit._batch.operation`).

- :class:`BatchJob` runs a batch: plan on aikit's loop thread (keys, duplicates, bulk cache lookup),
  start the progress view **on the caller's thread** (ipywidgets output lands in the running cell
  only from there), execute on the loop (:class:`~aikit._batch.run.Run`), then assemble the result.
- :class:`EstimateJob` plans without calling the model and prices the misses.
- :class:`Then` turns a job's result into something else (a DataFrame, say) on the caller's side.

The client is resolved once per job: an ``aikit.AI``, an ``AsyncAI``, a ``"provider:model"``
string, or None for :func:`default_ai` (``aikit.AI("local")``, the embedded offline model).

>>> set_default_ai("ollama:llama3.2")
>>> async_client(None).model_spec
'ollama:llama3.2'
>>> set_default_ai(None)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from aikit._batch.batchmode import BatchModeRun
from aikit._batch.handle import DetachedJob
from aikit._batch.plan import normalise_prompts, plan_batch
from aikit._batch.progress import NullView, ProgressState, make_view
from aikit._batch.result import BatchEstimate, BatchResult
from aikit._batch.run import Run, assemble
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.options import BatchOptions
    from aikit._batch.plan import Plan, Prompt
    from aikit._batch.progress import ProgressView
    from aikit.client import AI, AsyncAI

__all__ = [
    "BatchJob",
    "EstimateJob",
    "Job",
    "Then",
    "async_client",
    "default_ai",
    "on_runtime_loop",
    "set_default_ai",
    "then",
]

T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)


class Job(Protocol[T_co]):
    """A prepared piece of batch work, run from sync code or awaited."""

    def run_sync(self) -> T_co: ...

    async def run_async(self) -> T_co: ...


_default_lock = threading.Lock()
_default: AI | AsyncAI | None = None


def default_ai() -> AI | AsyncAI:
    """The client used when ``ai=None``: ``aikit.AI("local")``, created on first use.

    The embedded offline model needs no key and no network. Replace it with :func:`set_default_ai`.
    """
    global _default
    with _default_lock:
        if _default is None:
            from aikit.client import AI

            _default = AI("local")
        return _default


def set_default_ai(ai: AI | AsyncAI | str | None) -> None:
    """Set (or with None, reset) the client used when ``ai=None``."""
    global _default
    client = None if ai is None else _client(ai)
    with _default_lock:
        _default = client


def _client(ai: object) -> AI | AsyncAI:
    from aikit.client import AI, AsyncAI

    if isinstance(ai, str | list):  # a list is a fallback chain
        return AI(ai)
    if isinstance(ai, AI | AsyncAI):
        return ai
    raise ConfigError(
        f"ai= must be an aikit.AI, an AsyncAI, a 'provider:model' string or a list of them, got {ai!r}"
    )


def async_client(ai: AI | AsyncAI | str | None) -> AsyncAI:
    """The :class:`~aikit.client.AsyncAI` behind ``ai`` (an AI, an AsyncAI, a string or None)."""
    from aikit.client import AI

    client = default_ai() if ai is None else _client(ai)
    return client.aio if isinstance(client, AI) else client


async def on_runtime_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on aikit's loop thread (where the client's connections live)."""
    from aikit._runtime import get_loop, in_runtime_thread

    if in_runtime_thread():
        return await coro
    future = asyncio.run_coroutine_threadsafe(coro, get_loop())
    return await asyncio.wrap_future(future)


def _call_kwargs(schema: Any, options: BatchOptions) -> dict[str, Any]:
    """The keyword arguments of every ``achat`` call; the schema is checked once here, not per row."""
    if schema is not None:
        from aikit.client.schema import OutputSchema

        schema = OutputSchema.of(schema)
    request = options.request
    return {"system": request.pop("system"), "schema": schema, **request}


class BatchJob:
    """One batch: plan on the loop, show progress from the caller's thread, execute on the loop."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        ai: AI | AsyncAI | str | None,
        *,
        schema: Any = None,
        options: BatchOptions,
        title: str = "aikit batch",
    ) -> None:
        self.aio = async_client(ai)
        self.prompts = normalise_prompts(prompts)
        self.call_kwargs = _call_kwargs(schema, options)
        self.options = options
        self.view: ProgressView = make_view(options.progress)
        self.title = title
        self.started = time.monotonic()
        self.plan: Plan | None = None
        self.run: Run | BatchModeRun | None = None
        self.state: ProgressState | None = None

    async def prepare(self) -> None:
        """Plan the batch and count the rows the cache already answers (on the loop)."""
        budget = self.options.budget_usd
        need = budget is not None or not isinstance(self.view, NullView)
        plan = await plan_batch(
            self.aio, self.prompts, self.call_kwargs, cache=self.options.cache, need_estimates=need
        )
        if budget is not None and plan.misses and plan.estimated_cost_usd is None:
            raise ConfigError(
                f"budget_usd needs a price for {plan.model}, and it has none; add one with "
                "aikit.client.pricing.set_price(provider, model, input_per_m, output_per_m)"
            )
        self.plan = plan
        state = ProgressState(len(plan.prompts), len(plan.misses), estimated_cost_usd=plan.estimated_cost_usd)
        state.started = self.started
        state.add_cached(plan.rows(plan.hits))
        if plan.hits:
            self.aio.record_hits(plan.hits.values(), (len(plan.groups[k]) for k in plan.hits))
        self.state = state
        if self.options.mode == "batch":  # the provider's batch API (aikit._batch.batchmode)
            self.run = BatchModeRun(plan, state, self.view, options=self.options, title=self.title)
            return
        self.run = Run(
            plan,
            state,
            self.view,
            on_error=self.options.on_error,
            budget_usd=budget,
            concurrency=self.options.concurrency,
            hedge=self.options.hedge,
        )

    def start_view(self) -> None:
        """Show the progress view; called on the caller's thread."""
        assert self.state is not None and self.plan is not None
        self.view.start(self.state, f"{self.title} ({self.plan.model})")

    async def execute(self) -> None:
        """Run the misses (on the loop)."""
        assert self.run is not None
        await self.run.execute()

    def finish(self, outcome: str) -> BatchResult | None:
        """Close the view and assemble the result (None when planning never finished)."""
        if self.state is None or self.plan is None:
            return None
        self.state.finish(outcome)
        with contextlib.suppress(Exception):  # a broken display must not hide the result
            self.view.finish(self.state)
        return assemble(self.plan, self.run, self.state, time.monotonic() - self.started)

    def _detached(self, exc: BaseException) -> None:
        """Batch mode, interrupted while waiting: the provider job keeps running; say how to get it back."""
        run = self.run
        waiting = isinstance(run, BatchModeRun) and run.record is not None and not run.finished
        if waiting and isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            print(  # the caller's thread: the line lands in the interrupted cell
                f"aikit: detached from {run!r}. It keeps running at the provider: re-run this cell to "
                "attach (nothing is submitted again), or pass wait=False for a handle."
            )

    def run_sync(self) -> BatchResult:
        """Run from sync code: each loop step through ``run_sync``, the view on this thread."""
        from aikit._runtime import run_sync

        run_sync(self.prepare())
        self.start_view()
        try:
            run_sync(self.execute())
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            self.finish("failed" if isinstance(exc, Exception) else "interrupted")
            self._detached(exc)
            raise
        result = self.finish("done")
        assert result is not None
        return result

    async def run_async(self) -> BatchResult:
        """Run awaited: each loop step on aikit's loop, the view on the awaiting thread."""
        await on_runtime_loop(self.prepare())
        self.start_view()
        try:
            await on_runtime_loop(self.execute())
        except (Exception, asyncio.CancelledError) as exc:
            self.finish("failed" if isinstance(exc, Exception) else "interrupted")
            self._detached(exc)
            raise
        result = self.finish("done")
        assert result is not None
        return result


class EstimateJob:
    """Rows, cache hits, calls, estimated tokens and cost of a batch, without calling the model."""

    def __init__(
        self,
        prompts: Sequence[Prompt],
        ai: AI | AsyncAI | str | None,
        *,
        schema: Any = None,
        options: BatchOptions,
    ) -> None:
        self.aio = async_client(ai)
        self.prompts = normalise_prompts(prompts)
        self.call_kwargs = _call_kwargs(schema, options)
        self.options = options

    async def work(self) -> BatchEstimate:
        """Plan and price the misses (on the loop)."""
        aio, opts = self.aio, self.options
        plan = await plan_batch(aio, self.prompts, self.call_kwargs, cache=opts.cache, need_estimates=False)
        tin = tout = 0
        for key in plan.misses:
            i, o = aio.estimate_tokens(plan.first[key], system=opts.system, max_tokens=opts.max_tokens)
            tin += int(i)
            tout += int(o)
        if opts.mode == "batch":  # priced at the provider's batch rate
            from aikit.client import pricing

            cost = (
                pricing.price(aio.spec.provider, aio.spec.model, tin, tout, batch=True)
                if plan.misses
                else 0.0
            )
        else:
            cost = aio.price(tin, tout) if plan.misses else 0.0
        cached_rows = plan.rows(plan.hits)
        return BatchEstimate(
            rows=len(plan.prompts),
            unique_prompts=len(plan.groups),
            cached_rows=cached_rows,
            rows_to_call=len(plan.prompts) - cached_rows,
            calls=len(plan.misses),
            input_tokens=tin,
            output_tokens=tout,
            cost_usd=None if cost is None else float(cost),
            model=plan.model,
        )

    def run_sync(self) -> BatchEstimate:
        from aikit._runtime import run_sync

        return run_sync(self.work())

    async def run_async(self) -> BatchEstimate:
        return await on_runtime_loop(self.work())


def then(job: BatchJob, finish: Callable[[BatchResult], U]) -> Job[Any]:
    """``job`` then ``finish``; in batch mode with ``wait=False``, a job that returns a handle instead."""
    if job.options.mode == "batch" and job.options.wait is False:
        return DetachedJob(job, finish)
    return Then(job, finish)


class Then(Generic[T, U]):
    """``job``, then ``finish`` applied to its result on the caller's side (sync or awaited alike)."""

    def __init__(self, job: Job[T], finish: Callable[[T], U]) -> None:
        self.job = job
        self.finish = finish

    def run_sync(self) -> U:
        return self.finish(self.job.run_sync())

    async def run_async(self) -> U:
        return self.finish(await self.job.run_async())
