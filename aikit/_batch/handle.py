"""The handle of a batch-mode job started with ``wait=False``, and the job that returns it.

``job = df.ai.map(..., mode="batch", wait=False)`` submits (or attaches to the recorded job) and
returns a :class:`BatchHandle` at once:

- ``job.status()``: asks the provider; the job id, its provider batches and their own counts, the
  outcomes so far and the time waited;
- ``job.wait(timeout=None)``: waits (poll or webhook, as ``wait=``: ``aikit.jobs.Wait``),
  reconciles every row and returns what the call would have returned (the DataFrame);
- ``job.result()``: the same, without waiting: ``JobPendingError`` while a batch is still running;
- ``job.cancel()``: cancels what is still running, keeps the results already produced and returns
  the status; ``job.result()`` then has them (the other rows end ``cancelled``).

Each has an async twin (``astatus``, ``aresult``, ``acancel``), and ``await job`` waits.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from aikit._jobs.wait import Wait
from aikit.exceptions import JobPendingError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.batchmode import BatchModeRun
    from aikit._batch.result import BatchResult

__all__ = ["BatchHandle", "DetachedJob"]

T = TypeVar("T")


def _on_loop(coro: Any) -> Any:
    from aikit._jobs.job import on_runtime_loop

    return on_runtime_loop(coro)


class BatchJob(Protocol):
    """What a handle uses of :class:`aikit._batch.job.BatchJob` (prepared in batch mode)."""

    run: Any
    title: str

    async def prepare(self) -> None: ...

    def start_view(self) -> None: ...

    def finish(self, outcome: str) -> BatchResult | None: ...


class BatchHandle(Generic[T]):
    """A provider batch job running in the background (see the module docstring)."""

    def __init__(self, job: BatchJob, finish: Callable[[BatchResult], T]) -> None:
        self._job, self._finish = job, finish
        self._value: T | None = None
        self._done = False
        self._shown = False  # the progress view is started once, however often wait() is called

    @property
    def run(self) -> BatchModeRun:
        from aikit._batch.batchmode import BatchModeRun

        run = self._job.run
        assert isinstance(run, BatchModeRun)
        return run

    @property
    def id(self) -> str | None:
        """The job's id in ``aikit.jobs()``."""
        return self.run.job_id

    def __repr__(self) -> str:
        run = self.run
        if run.record is None:
            return f"<BatchJob {self._job.title}: nothing to submit (every row is cached)>"
        state = "done" if self._done else run.note()
        return f"<BatchJob {run.record.id} {self._job.title} ({run.plan.model}): {state}>"

    async def astatus(self) -> dict[str, Any]:
        """Ask the provider; return the job's status (see the module docstring)."""
        if self.run.record is None:
            return {"job": None, "status": "done", "note": "every row was already cached"}
        await _on_loop(self.run.refresh())
        return self.run.status()

    async def aresult(self, timeout: float | None = None, *, wait: Any = None) -> T:
        """Wait until every row is settled; return the call's result (the DataFrame)."""
        if self._done:
            return self._value  # type: ignore[return-value]
        job, run = self._job, self.run
        how = Wait.of(wait) if wait is not None else run.how
        if timeout is not None:
            how = how.replace(timeout_s=timeout)
        if not self._shown:
            job.start_view()
            self._shown = True
        try:
            await _on_loop(run.execute(how))
        except JobPendingError:
            raise
        except BaseException:
            job.finish("failed")
            raise
        result = job.finish("cancelled" if run.cancelled else "done")
        assert result is not None
        self._value, self._done = self._finish(result), True
        return self._value

    async def acancel(self) -> dict[str, Any]:
        """Cancel what is still running (results already produced are kept); return the status."""
        if self.run.record is None:
            return {"job": None, "status": "done"}
        await _on_loop(self.run.cancel())
        return self.run.status()

    def status(self) -> dict[str, Any]:
        """Sync form of :meth:`astatus`."""
        from aikit._runtime import run_sync

        return run_sync(self.astatus())

    def wait(self, timeout: float | None = None, *, wait: Any = None) -> T:
        """Sync form of :meth:`aresult`."""
        from aikit._runtime import run_sync

        return run_sync(self.aresult(timeout, wait=wait))

    def result(self) -> T:
        """The result if every batch is over (reconciled now), else ``JobPendingError``; never waits long."""
        return self.wait(timeout=0.001)

    def cancel(self) -> dict[str, Any]:
        """Sync form of :meth:`acancel`."""
        from aikit._runtime import run_sync

        return run_sync(self.acancel())

    def __await__(self) -> Generator[Any, None, T]:
        return self.aresult().__await__()


class DetachedJob(Generic[T]):
    """A batch-mode job with ``wait=False``: it submits, then returns a :class:`BatchHandle`."""

    def __init__(self, job: BatchJob, finish: Callable[[BatchResult], T]) -> None:
        self.job, self.finish = job, finish

    def _handle(self) -> BatchHandle[T]:
        return BatchHandle(self.job, self.finish)

    def run_sync(self) -> BatchHandle[T]:
        from aikit._runtime import run_sync

        run_sync(self.job.prepare())
        run_sync(self._handle().run.submit())
        return self._handle()

    async def run_async(self) -> BatchHandle[T]:
        await _on_loop(self.job.prepare())
        await _on_loop(self._handle().run.submit())
        return self._handle()
