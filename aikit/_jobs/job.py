"""``aikit.AsyncJob``: the submit / poll-or-webhook / fetch pattern over any REST job API, recorded.

Slow work behind an API (an export, a report, a provider batch) is started with one call that returns
a job id, then asked about (or announced by a webhook) until it is done, then fetched. An
:class:`AsyncJob` takes the three steps as functions (sync or async) or as ``"METHOD /path/{id}"``
strings sent over a connector session, records the job under ``$AIKIT_HOME`` as soon as it is
submitted, and waits the way :mod:`aikit._jobs.wait` describes. Given a ``key``, the same job
constructed again (a re-run cell, a new kernel) attaches to the recorded one instead of submitting
again.

>>> calls = []
>>> job = AsyncJob(submit=lambda: calls.append("submit") or "exp_1",
...                status=lambda job_id: "done",
...                result=lambda job_id: {"rows": 3, "id": job_id}, key="doc-export")
>>> job.wait()
{'rows': 3, 'id': 'exp_1'}
>>> AsyncJob(submit=lambda: calls.append("submit") or "exp_2", status=lambda job_id: "done",
...          result=lambda job_id: job_id, key="doc-export").wait(), calls
('exp_1', ['submit'])
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aikit._jobs.store import JobRecord, JobStore, job_store
from aikit._jobs.wait import Wait, Waker, event_job_id, until, wake_hub
from aikit.exceptions import ConfigError, JobError, JobPendingError

__all__ = ["DONE_STATES", "FAILED_STATES", "AsyncJob", "JobStatus", "on_runtime_loop"]

#: Status words (case-insensitive) that mean the job finished well.
DONE_STATES = frozenset(
    {"done", "completed", "complete", "succeeded", "success", "finished", "ended", "ready"}
)
#: Status words that mean it finished badly.
FAILED_STATES = frozenset({"failed", "error", "errored", "cancelled", "canceled", "expired", "aborted"})


async def on_runtime_loop(coro: Awaitable[Any]) -> Any:
    """Await ``coro`` on aikit's loop thread (where connector sessions and AI clients live)."""
    from aikit import _runtime

    if _runtime.in_runtime_thread():
        return await coro

    async def run() -> Any:
        return await coro

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), _runtime.get_loop()))


@dataclass(frozen=True)
class JobStatus:
    """What a job's status check said.

    Attributes
    ----------
    status : str
        The API's own status word.
    state : str
        ``running``, ``done`` or ``failed``.
    detail : dict
        The whole status answer (counts, messages) when it was a mapping.
    waited_s : float
        Seconds since the job was submitted.
    """

    status: str
    state: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    waited_s: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state != "running"


def _spec(spec: Any, what: str) -> tuple[str, str] | None:
    if isinstance(spec, str):
        method, _, path = spec.strip().partition(" ")
        if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE") or not path.startswith("/"):
            raise ConfigError(f'{what}= as a string is "METHOD /path/{{id}}", got {spec!r}')
        return method.upper(), path
    if not callable(spec):
        raise ConfigError(f'{what}= must be a function or a "METHOD /path/{{id}}" string, got {spec!r}')
    return None


def _body(response: Any) -> Any:
    """A response's JSON (an httpx.Response), or the value itself."""
    json_of = getattr(response, "json", None)
    if callable(json_of) and hasattr(response, "status_code"):
        try:
            return json_of()
        except ValueError:
            return getattr(response, "text", None)
    return response


class AsyncJob:
    """A job behind an API: submit once, wait (poll or webhook), fetch the result; recorded on disk.

    Parameters
    ----------
    submit : callable or str
        ``submit()`` starts the job and returns its id (a str, or a mapping with ``id``); or
        ``"POST /exports"`` sent over ``session`` with ``json``.
    status : callable or str
        ``status(job_id)`` returns the job's status word, or a mapping with ``status`` (or ``state``);
        or ``"GET /exports/{id}"``.
    result : callable or str
        ``result(job_id)`` returns what the job made; or ``"GET /exports/{id}/rows"`` (its JSON).
    cancel : callable or str, optional
        ``cancel(job_id)``; or ``"POST /exports/{id}/cancel"``.
    session : connector or ApiSession, optional
        For string steps: an ``aikit.RestSource`` / ``aikit.HubSpot`` (its ``.session``) or an
        ``ApiSession``, which paces, retries and authenticates the calls.
    json : dict, optional
        The body of a string ``submit``.
    key : str, optional
        Identifies the job across re-runs and kernels: constructing it again with the same key attaches
        to the recorded job, running or done (``submit`` is not called again; a done job's result is
        fetched again); a failed or cancelled one is submitted anew. Without a key, every start submits.
    name : str, optional
        Shown in :func:`aikit.jobs`.
    done, failed : set of str
        Status words meaning finished well / badly (case-insensitive).
    wait : bool, number, WebhookListener or Wait
        How :meth:`wait` waits by default (see ``aikit.jobs.Wait``).
    match : callable, optional
        ``match(payload) -> job id`` for webhook events (default: ``data.id``, then ``id``-like fields).
    store : JobStore, optional
        Where the record goes (default ``$AIKIT_HOME/jobs.sqlite``).

    Examples
    --------
    >>> crm = aikit.RestSource("https://api.example.com", token=token)          # doctest: +SKIP
    >>> job = aikit.AsyncJob(submit="POST /exports", status="GET /exports/{id}",  # doctest: +SKIP
    ...                      result="GET /exports/{id}/rows", session=crm, json={"object": "deals"})
    >>> rows = job.wait()                                                      # doctest: +SKIP
    """

    def __init__(
        self,
        submit: Callable[[], Any] | str,
        status: Callable[[str], Any] | str,
        result: Callable[[str], Any] | str,
        *,
        cancel: Callable[[str], Any] | str | None = None,
        session: Any = None,
        json: Any = None,
        key: str | None = None,
        name: str | None = None,
        done: frozenset[str] | set[str] = DONE_STATES,
        failed: frozenset[str] | set[str] = FAILED_STATES,
        wait: Any = True,
        match: Callable[[Any], str | None] | None = None,
        store: JobStore | None = None,
    ) -> None:
        self._steps = {"submit": submit, "status": status, "result": result, "cancel": cancel}
        specs = {k: _spec(v, k) for k, v in self._steps.items() if v is not None}
        self._specs = specs
        self.session = getattr(session, "session", session)
        if any(specs.values()) and self.session is None:
            raise ConfigError("string steps are sent over a connector: pass session=aikit.RestSource(...)")
        self.json, self.key, self.name = json, key, name
        self.done = frozenset(s.lower() for s in done)
        self.failed = frozenset(s.lower() for s in failed)
        self.waiting = Wait.of(wait) if wait is not False else Wait()
        self.match = match or event_job_id
        self.store = store or job_store()
        self.record: JobRecord | None = None
        self.remote_id: str | None = None
        self.last: JobStatus | None = None
        self._result: Any = None
        self._has_result = False
        self._submitted_at: float | None = None

    def __repr__(self) -> str:
        name = self.name or self.key or "job"
        if self.record is None:
            return f"<AsyncJob {name}: not started>"
        status = self.last.status if self.last is not None else self.record.status
        return f"<AsyncJob {name} {self.record.id} remote={self.remote_id} {status}>"

    @property
    def id(self) -> str | None:
        """The record's id in :func:`aikit.jobs` (None before :meth:`start`)."""
        return self.record.id if self.record is not None else None

    async def _call(self, step: str, *args: Any) -> Any:
        fn, spec = self._steps[step], self._specs.get(step)
        if spec is not None:
            method, path = spec
            url = path.replace("{id}", str(args[0])) if args else path
            body = self.json if step == "submit" else None
            response = await self.session.request(
                method, url, what=f"{self.name or 'job'} {step}", json_body=body
            )
            return _body(response)
        assert callable(fn)
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        value = await asyncio.to_thread(fn, *args)  # a blocking function must not hold aikit's loop
        return await value if inspect.isawaitable(value) else value

    async def astart(self) -> AsyncJob:
        """Submit the job, or attach to the recorded unfinished one with the same ``key``."""
        if self.record is not None:
            return self
        record = self.store.claim(
            "rest", fingerprint=self.key, name=self.name or self.key, detail={}, reuse_done=True
        )
        parts = self.store.parts(record.id) if record.attached else []
        if parts and parts[0].remote_id:
            self.record, self.remote_id = record, parts[0].remote_id
            self._submitted_at = parts[0].submitted_at
            return self
        part = parts[0].part if parts else self.store.add_part(record.id, 0, [])
        try:
            answer = await on_runtime_loop(self._call("submit"))
        except BaseException as exc:
            self.store.finish(record.id, "failed", error=f"submit failed: {type(exc).__name__}: {exc}"[:2000])
            raise
        remote = answer.get("id") if isinstance(answer, Mapping) else answer
        if not isinstance(remote, str | int) or remote == "":
            self.store.finish(record.id, "failed", error=f"submit returned no job id: {answer!r}"[:500])
            raise JobError(f"submit() must return the job id (or a mapping with 'id'), got {answer!r}"[:500])
        self.store.set_part(record.id, part, remote_id=str(remote), status="submitted", state="running")
        self.store.update(record.id, status="running")
        self.record, self.remote_id, self._submitted_at = record, str(remote), time.time()
        return self

    def _read_status(self, answer: Any) -> JobStatus:
        detail = dict(answer) if isinstance(answer, Mapping) else {}
        word = detail.get("status", detail.get("state")) if detail else answer
        word = str(word if word is not None else "")
        state = (
            "done" if word.lower() in self.done else "failed" if word.lower() in self.failed else "running"
        )
        waited = time.time() - self._submitted_at if self._submitted_at else 0.0
        return JobStatus(word, state, detail, waited)

    async def astatus(self) -> JobStatus:
        """Ask the API how the job is doing (and record it)."""
        await self.astart()
        assert self.record is not None and self.remote_id is not None
        status = self._read_status(await on_runtime_loop(self._call("status", self.remote_id)))
        self.last = status
        self.store.set_part(self.record.id, 0, status=status.status, state=status.state)
        return status

    async def aresult(self, timeout: float | None = None, *, wait: Any = None) -> Any:
        """Wait until the job is finished, then fetch its result (``JobError`` if it failed)."""
        if self._has_result:
            return self._result
        await self.astart()
        assert self.record is not None and self.remote_id is not None
        how = self.waiting if wait is None else Wait.of(wait)
        if timeout is not None:
            how = how.replace(timeout_s=timeout)
        status = await self._wait(how)
        if status.state == "failed":
            self.store.finish(self.record.id, "failed", error=f"the job ended {status.status}")
            raise JobError(f"{self!r} ended {status.status!r}: {dict(status.detail) or ''}")
        value = await on_runtime_loop(self._call("result", self.remote_id))
        value = _body(value)
        self._result, self._has_result = value, True
        self.store.finish(self.record.id, "done", summary={"status": status.status})
        return value

    async def _wait(self, how: Wait) -> JobStatus:
        assert self.remote_id is not None
        hub = wake_hub(how.listener, how.source, "*") if how.listener is not None else None
        if hub is not None:
            hub.match = self.match
        deadline = None if how.timeout_s is None else time.monotonic() + how.timeout_s
        waker = Waker(hub, [self.remote_id])
        delays = how.poll.delays(webhook=hub is not None)
        try:
            while True:
                status = await self.astatus()
                if status.finished:
                    return status
                left = until(deadline)
                if left <= 0:
                    raise JobPendingError(f"{self!r} is still {status.status!r} after {how.timeout_s:g} s")
                await waker.sleep(min(next(delays), left))
        finally:
            waker.close()

    async def acancel(self) -> JobStatus | None:
        """Ask the API to cancel (needs ``cancel=``); returns the status after it."""
        if self._steps["cancel"] is None:
            raise ConfigError("this AsyncJob has no cancel= step")
        await self.astart()
        assert self.record is not None and self.remote_id is not None
        await on_runtime_loop(self._call("cancel", self.remote_id))
        self.store.finish(self.record.id, "cancelled")
        return await self.astatus()

    def start(self) -> AsyncJob:
        """Sync form of :meth:`astart`."""
        from aikit._runtime import run_sync

        return run_sync(self.astart())

    def status(self) -> JobStatus:
        """Sync form of :meth:`astatus`."""
        from aikit._runtime import run_sync

        return run_sync(self.astatus())

    def wait(self, timeout: float | None = None, *, wait: Any = None) -> Any:
        """Sync form of :meth:`aresult`: block until finished, return the result."""
        from aikit._runtime import run_sync

        return run_sync(self.aresult(timeout, wait=wait))

    def result(self) -> Any:
        """The result if the job has finished (fetched once), else ``JobPendingError`` (no waiting)."""
        if self._has_result:
            return self._result
        status = self.status()
        if not status.finished:
            raise JobPendingError(f"{self!r} is still {status.status!r}: call job.wait()")
        return self.wait()

    def cancel(self) -> JobStatus | None:
        """Sync form of :meth:`acancel`."""
        from aikit._runtime import run_sync

        return run_sync(self.acancel())

    def __await__(self) -> Generator[Any, None, Any]:
        return self.aresult().__await__()
