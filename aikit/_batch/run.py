"""How a planned batch runs: a bounded pool of workers over the misses, then one result in row order.

:class:`Run` takes a :class:`~aikit._batch.plan.Plan` and runs a fixed number of worker tasks (the
client's concurrency ceiling, not one task per row) that take the next miss, check the budget, call
``achat`` and record the outcome; the client paces, retries and caches each success as it arrives.
The workers share one :class:`~aikit.client.tail.Tail`: this batch's latencies, from which each call
takes its adaptive timeout and, once the queue is empty, the moment to hedge a slow request.
:func:`assemble` turns the plan and the run into a :class:`~aikit._batch.result.BatchResult`. It runs
on aikit's loop thread, driven by :class:`aikit._batch.job.BatchJob`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aikit._batch.progress import REFRESH_S, ProgressState, ProgressView
from aikit._batch.result import BatchResult, RowResult, error_text
from aikit.client.tail import Tail
from aikit.exceptions import BudgetExceededError, ConfigError, ProviderHTTPError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.options import OnError
    from aikit._batch.plan import Plan
    from aikit.client import AsyncAI

__all__ = ["FATAL_STATUSES", "LOCAL_CONCURRENCY", "MAX_CONCURRENCY", "Run", "assemble", "client_concurrency"]

#: Never more workers than this, whatever the client says (each worker is one asyncio task).
MAX_CONCURRENCY = 512

_QUEUED, _IN_FLIGHT, _RETRYING = 0, 1, 2

#: HTTP statuses that say nothing about the row: a bad key, no permission, an unknown model.
FATAL_STATUSES = frozenset({401, 403, 404})


def _fails_every_row(exc: BaseException) -> bool:
    """Errors that would fail every row the same way: raise them at once instead of N times."""
    if isinstance(exc, ConfigError):  # bad arguments, a missing key
        return True
    return isinstance(exc, ProviderHTTPError) and exc.status in FATAL_STATUSES


#: Workers for the embedded local model: its llama.cpp server answers one request at a time, so a
#: deep queue only adds latency (and risks the client's timeout) without adding throughput.
LOCAL_CONCURRENCY = 2


def client_concurrency(aio: AsyncAI) -> int:
    """How many requests to keep going: the client's limiter ceiling (at most 2 for the local model)."""
    ceiling = aio.limiter.max_concurrency
    return min(ceiling, LOCAL_CONCURRENCY) if aio.spec.provider == "local" else ceiling


class Run:
    """One execution of a plan on the runtime loop."""

    def __init__(
        self,
        plan: Plan,
        state: ProgressState,
        view: ProgressView,
        *,
        on_error: OnError,
        budget_usd: float | None,
        concurrency: int | None,
        hedge: bool = True,
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
        self.waiting = len(plan.misses)  # keys not handed to a worker yet
        self.stopped: str | None = None  # why scheduling stopped (budget)
        self.fatal: BaseException | None = None
        self.tasks: list[asyncio.Task[None]] = []
        limit = concurrency or client_concurrency(plan.aio)
        self.workers = max(1, min(int(limit), MAX_CONCURRENCY, len(plan.misses)))
        #: This batch's latencies: adaptive timeouts, and hedging once the queue is empty.
        #: None for the local model: it answers one request at a time, so a copy or an early timeout
        #: would only queue behind the request it means to replace.
        self.tail = Tail(len(plan.misses), hedge=hedge) if plan.aio.spec.provider != "local" else None

    async def _next(self) -> tuple[str, float] | None:
        """The next key to run and its reserved cost, or None when scheduling is over."""
        async with self.gate:
            if self.stopped is not None or self.fatal is not None:
                return None
            key = next(self.keys, None)
            if key is None:
                return None
            self.waiting -= 1
            if self.waiting <= 0 and self.tail is not None:
                self.tail.queue_open = False  # nothing waits to start: the tail may be hedged
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
        # The plan's bulk lookup already missed these keys: "use" need not read each one again. A
        # fallback chain still reads: the plan looked up the first model's keys, not the others'.
        cache = "refresh" if plan.cache == "use" and not plan.aio.fallbacks else plan.cache
        if self.tail is not None:
            kwargs["tail"] = self.tail
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
                response = await achat(plan.first[key], cache=cache, observer=observer, **kwargs)
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
        live = getattr(self.view, "live", True)  # a custom view without the attribute is refreshed
        ticker = asyncio.create_task(self._tick()) if live else None
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


def assemble(plan: Plan, run: Any, state: ProgressState, elapsed: float) -> BatchResult:
    """One :class:`RowResult` per prompt, in input order: the cache hits and what the run settled.

    ``run`` is a :class:`Run`, a batch-mode run (:mod:`aikit._batch.batchmode`) or None; each keeps
    ``results`` by cache key.
    """
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
