"""Batch mode: the rows that miss the cache go through the provider's batch API, every row reconciled.

:class:`BatchModeRun` stands where :class:`~aikit._batch.run.Run` stands in live mode (``mode="batch"``
in :class:`~aikit._batch.options.BatchOptions`), on the same plan (keys, duplicates, cache hits):

1. **Record, then submit.** The job gets a fingerprint (provider, endpoint, model and every request
   hash of the batch). An unfinished job with that fingerprint in the job store (a re-run cell, a new
   kernel) is attached to, never submitted again. Otherwise the requests are recorded (one
   ``custom_id`` per unique prompt, ``row-<first row>``, with its rows and request hash), written as
   the provider's lines with the live request body, split past the provider's limits, and each part
   is recorded before its upload and right after its create returns;
2. **Wait** (:mod:`aikit._jobs.wait`): poll with backoff, or wake on the OpenAI webhook with the poll
   as a safety net; the progress view shows the provider's own counts and the time waited;
3. **Reconcile** each part that is over: a ``succeeded`` line is parsed by the live endpoint's parser,
   priced at the batch rate, validated, cached and logged (call-log ``mode="batch"``); an ``errored``
   line ends its rows with the provider's error (unless retrying can help); lines that are
   **missing** from the output (or unreadable), **expired**, retryable, or whose output failed the
   schema are resubmitted in another batch (``fallback="batch"``, at most :data:`MAX_ROUNDS` batches
   per row) or called live (``fallback="live"``); rows of a cancelled batch that were not processed
   end ``cancelled``. The summary counts each outcome.

:class:`BatchHandle` is what ``wait=False`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from aikit._batch.progress import REFRESH_S
from aikit._batch.progress import _clock as clock
from aikit._batch.result import RowResult, error_text
from aikit._jobs.store import FINISHED, job_store
from aikit._jobs.wait import Wait, Waker, until, wake_hub
from aikit.client import pricing
from aikit.client.deferred import Deferred
from aikit.client.providers.batches import RemoteBatch, split
from aikit.exceptions import BudgetExceededError, ConfigError, JobError, JobPendingError, ProviderHTTPError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from aikit._batch.options import BatchOptions
    from aikit._batch.plan import Plan
    from aikit._batch.progress import ProgressState, ProgressView
    from aikit._jobs.store import JobRecord, Part
    from aikit.auth.secrets import Secret
    from aikit.client.providers.base import ChatRequest
    from aikit.client.providers.batches import LineResult

__all__ = ["MAX_ROUNDS", "BatchModeRun", "fingerprint"]

log = logging.getLogger("aikit.batch")

#: The most provider batches one row goes through (the first and up to two resubmissions).
MAX_ROUNDS = 3
_FINGERPRINT_VERSION = "aikit-batch-1"
#: Statuses that say nothing about the row: a bad key, no permission, an unknown model or endpoint.
_FATAL = frozenset({401, 403, 404})


def fingerprint(provider: str, base_url: str, model: str, keys: list[str]) -> str:
    """The identity of a batch-mode job: provider, endpoint, model and every request hash (any order).

    >>> one = fingerprint("openai", "", "gpt-4o-mini", ["b", "a"])
    >>> one == fingerprint("openai", "", "gpt-4o-mini", ["a", "b"])
    True
    """
    digest = hashlib.sha256()
    for part in (_FINGERPRINT_VERSION, provider, base_url, model, *sorted(keys)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _content(resp: httpx.Response) -> bytes:
    return resp.content


class BatchModeRun:
    """One DataFrame run through a provider's batch API (see the module docstring)."""

    def __init__(
        self, plan: Plan, state: ProgressState, view: ProgressView, *, options: BatchOptions, title: str
    ) -> None:
        check_batch_mode(options)
        self.plan, self.state, self.view, self.options, self.title = plan, state, view, options, title
        self.deferred = Deferred(plan.aio)  # ConfigError for a provider without a batch API
        self.api = self.deferred.api
        self.store = job_store()
        self.results: dict[str, RowResult] = {}
        self.record: JobRecord | None = None
        self.how = Wait.of(options.wait) if options.wait is not False else Wait()
        self.tally: Counter[str] = Counter()
        self.remote: dict[int, RemoteBatch] = {}
        self.key_of: dict[str, str] = {}  # custom_id -> cache key
        self.part_of: dict[str, int] = {}  # custom_id -> the part that carries it now
        self.rows_of: dict[str, tuple[int, ...]] = {}
        self.round_of: dict[str, int] = {}
        self._requests: dict[str, ChatRequest] = {}
        self.submitted_at = time.time()
        self.collected: set[int] = set()
        self.attached: str | None = None  # set when a re-run found the recorded job
        self.part_round: dict[int, int] = {}  # part -> its round (0: the first submission)
        self.cancelled = False
        self.finished = False
        state.batch = self.tally

    def __repr__(self) -> str:
        job = self.record.id if self.record is not None else "not submitted"
        return f"<BatchJob {job} {self.plan.model}: {self.note()}>"

    @property
    def job_id(self) -> str | None:
        return self.record.id if self.record is not None else None

    def _request(self, key: str) -> ChatRequest:
        req = self._requests.get(key)
        if req is None:
            req = self._requests[key] = self.deferred.request(self.plan.first[key], self.plan.call_kwargs)
        return req

    async def submit(self) -> None:
        """Record the job and submit its parts, or attach to the recorded unfinished job."""
        if self.record is not None or not self.plan.misses:
            return
        aio = self.plan.aio
        fp = fingerprint(aio.spec.provider, aio._requests.base_url, aio.spec.model, list(self.plan.groups))
        record = self.store.claim(
            "provider_batch",
            fingerprint=fp,
            name=self.title,
            provider=aio.spec.provider,
            model=aio.spec.model,
            base_url=aio._requests.base_url,
            rows=len(self.plan.prompts),
            detail={"requests": len(self.plan.misses), "api": type(self.api).__name__},
        )
        self.record = record
        if record.attached:
            self._load()
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at))
            self.attached = f"attached to {record.id} (submitted {when}): nothing is sent again"
            for part in self.store.parts(record.id):
                if part.remote_id is None and part.state == "pending":  # died between recording and creating
                    await self._send_part(part.part, part.round, part.input_file_id)
                elif part.remote_id is None:  # refused at create: its rows are a failed batch
                    self.remote[part.part] = RemoteBatch(
                        "", part.status, "failed", errors=("refused at create",)
                    )
            self.submitted_at = record.created_at
            return
        keys = self._within_budget(list(self.plan.misses))
        items = [(f"row-{self.plan.groups[k][0]}", k, self.plan.groups[k]) for k in keys]
        self.store.add_items(record.id, items)
        for cid, key, rows in items:
            self.key_of[cid], self.rows_of[cid], self.round_of[cid] = key, tuple(rows), 0
        try:
            await self._submit_round([cid for cid, _, _ in items], 0)
        except BaseException as exc:
            if not any(p.remote_id for p in self.store.parts(record.id)):
                self.store.finish(record.id, "failed", error=error_text(exc)[:2000])
            raise
        self.store.update(record.id, status="running")

    def _load(self) -> None:
        assert self.record is not None
        for item in self.store.items(self.record.id):
            self.key_of[item.custom_id], self.rows_of[item.custom_id] = item.cache_key, item.rows
            self.round_of[item.custom_id] = item.round
            if item.part is not None:
                self.part_of[item.custom_id] = item.part

    def _within_budget(self, keys: list[str]) -> list[str]:
        """The keys whose estimated batch-rate cost fits ``budget_usd``; the others are skipped."""
        budget = self.options.budget_usd
        if budget is None:
            return keys
        aio, opts = self.plan.aio, self.options
        spent, kept = 0.0, list[str]()
        for i, key in enumerate(keys):
            tin, tout = aio.estimate_tokens(
                self.plan.first[key], system=opts.system, max_tokens=opts.max_tokens
            )
            cost = pricing.price(aio.spec.provider, aio.spec.model, tin, tout, batch=True) or 0.0
            if spent + cost > budget:
                reason = f"not submitted: budget_usd={budget:g} reached (~${spent:.4f} at the batch rate)"
                for skipped in keys[i:]:
                    self.results[skipped] = RowResult(error=f"BudgetExceededError: {reason}", skipped=True)
                    self.state.add_skipped(len(self.plan.groups[skipped]))
                self.tally["skipped"] += len(keys) - i
                if self.options.on_error == "raise":
                    raise BudgetExceededError(f"{len(keys) - i:,} requests {reason}")
                return kept
            spent += cost
            kept.append(key)
        return kept

    async def _submit_round(self, cids: list[str], round_: int) -> None:
        """Split ``cids`` past the provider's limits and submit one part per piece."""
        assert self.record is not None
        if not cids:
            return
        lines = await self.deferred.lines([(cid, self._request(self.key_of[cid])) for cid in cids])
        overhead = getattr(self.api, "overhead", 0)
        for piece in split(lines, self.api.limits, overhead):
            part_cids = [cids[i] for i in piece]
            part = self.store.add_part(self.record.id, round_, part_cids)
            for cid in part_cids:
                self.part_of[cid], self.round_of[cid] = part, round_
            await self._send_part(part, round_, None, [lines[i] for i in piece])

    async def _send_part(
        self, part: int, round_: int, file_id: str | None, lines: list[bytes] | None = None
    ) -> None:
        """Upload (OpenAI) and create one part, recording each step."""
        assert self.record is not None
        self.part_round[part] = round_
        job_id, api, send = self.record.id, self.api, self.deferred.send
        if lines is None:  # attached to a part that was never created: rebuild its lines
            cids = [c for c, p in self.part_of.items() if p == part]
            lines = await self.deferred.lines([(cid, self._request(self.key_of[cid])) for cid in cids])
        metadata = {"aikit_job": job_id, "aikit_part": str(part)}
        if api.uploads and file_id is None:
            name = f"aikit_{job_id}_part{part}.jsonl"
            file_id = await send(lambda k: api.upload(lines, k, name), api.parse_upload, transfer=True)
            self.store.set_part(job_id, part, input_file_id=file_id, status="uploaded", state="pending")
        try:
            remote = await send(
                lambda k: api.create(lines, file_id, metadata, k), api.parse_batch, transfer=True
            )
        except ProviderHTTPError as exc:
            if exc.status in _FATAL or exc.status is None:
                raise
            # refused as a whole (Anthropic validates at create): its rows are a failed batch
            remote = RemoteBatch(id="", status="failed", state="failed", errors=(str(exc),))
            self.store.set_part(job_id, part, status="refused", state="failed")
            self.remote[part] = remote
            return
        self.remote[part] = remote
        self.store.set_part(
            job_id,
            part,
            remote_id=remote.id,
            status=remote.status,
            state=remote.state,
            counts=remote.counts(),
        )
        self.tally["batches"] += 1
        self.tally["resubmitted"] += len(lines) if round_ else 0

    async def execute(self, how: Wait | None = None) -> None:
        """Submit (or attach), wait, reconcile and resubmit until every row is settled."""
        await self.submit()
        if self.record is None or self.finished:
            return
        how = how or self.how
        if self.attached:  # say so at once: the job may be over by the first refresh
            self.state.set_note(self.note())
            with contextlib.suppress(Exception):
                self.view.refresh(self.state)
        live = getattr(self.view, "live", True)
        ticker = asyncio.create_task(self._tick()) if live else None
        try:
            while True:
                await self._wait(how)
                again = await self._collect()
                if not again:
                    break
                round_ = 1 + max(self.round_of[c] for c in again)
                if self.options.fallback == "live" or self.cancelled or round_ >= MAX_ROUNDS:
                    await self._last_resort(again)
                    break
                self.store.update(self.record.id, status="running")
                await self._submit_round(again, round_)
        finally:
            if ticker is not None:
                ticker.cancel()
        self._close()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            self.state.set_note(self.note())
            try:
                self.view.refresh(self.state)
            except Exception:  # a broken view never breaks the job
                return

    def _open_parts(self) -> list[Part]:
        assert self.record is not None
        return [p for p in self.store.parts(self.record.id) if p.remote_id and not self._over(p.part)]

    def _over(self, part: int) -> bool:
        remote = self.remote.get(part)
        return remote is not None and remote.terminal

    async def _wait(self, how: Wait) -> None:
        """Poll (or be woken) until every submitted part is over; JobPendingError past the timeout."""
        assert self.record is not None
        webhook = how.listener is not None and self.api.name != "anthropic"  # Anthropic sends no webhook
        hub = wake_hub(how.listener, how.source) if webhook else None
        deadline = None if how.timeout_s is None else time.monotonic() + how.timeout_s
        open_parts = self._open_parts()
        waker = Waker(hub, [p.remote_id for p in open_parts if p.remote_id])
        delays = how.poll.delays(webhook=hub is not None)
        try:
            while True:
                await asyncio.gather(*(self._poll(p) for p in open_parts))
                self.state.provider_done = self.state.settled + sum(
                    self.remote[p.part].completed + self.remote[p.part].failed for p in open_parts
                )
                open_parts = [p for p in open_parts if not self._over(p.part)]
                self.state.set_note(self.note())
                if not open_parts:
                    return
                left = until(deadline)
                if left <= 0:
                    raise JobPendingError(
                        f"{self!r} is still running; wait() again, or re-run the cell later"
                    )
                await waker.sleep(min(next(delays), left))
        finally:
            waker.close()

    async def _poll(self, part: Part) -> None:
        assert self.record is not None and part.remote_id is not None
        remote_id = part.remote_id
        remote = await self.deferred.send(lambda k: self.api.retrieve(remote_id, k), self.api.parse_batch)
        self.remote[part.part] = remote
        self.part_round.setdefault(part.part, part.round)
        self.store.set_part(
            self.record.id, part.part, status=remote.status, state=remote.state, counts=remote.counts()
        )

    async def _collect(self) -> list[str]:
        """Reconcile every part that is over (once per run); the custom_ids to try again.

        A run that attached to a recorded job collects every part again: the provider keeps the
        results, and a row answered before the kernel died is then answered again from them.
        """
        assert self.record is not None
        self.store.update(self.record.id, status="collecting")
        again: list[str] = []
        for part in self.store.parts(self.record.id):
            remote = self.remote.get(part.part)
            if remote is None or not remote.terminal or part.part in self.collected:
                continue
            again += await self._collect_part(part.part, remote)
            self.collected.add(part.part)
            self.store.set_part(self.record.id, part.part, collected=True)
        return again

    async def _collect_part(self, part: int, remote: RemoteBatch) -> list[str]:
        assert self.record is not None
        mine = {cid for cid, p in self.part_of.items() if p == part}
        seen: set[str] = set()
        again: list[str] = []
        changes: list[tuple[str, str, str | None]] = []
        answered: list[str] = []
        for which in range(len(self.api.downloads(remote, None))):

            def download(key: Secret | None, i: int = which) -> httpx.Request:
                return self.api.downloads(remote, key)[i]

            content = await self.deferred.send(download, _content, transfer=True)
            for line in self.api.parse_results(content):
                if line.kind == "unreadable":
                    self.tally["unreadable"] += 1
                    continue
                cid = line.custom_id
                if cid not in mine or cid in seen:
                    continue
                seen.add(cid)
                outcome = await self._settle(cid, line)
                changes.append((cid, outcome, line.error))
                if outcome == "answered":
                    answered.append(self.key_of[cid])
                if outcome in ("missing", "expired", "retry", "invalid"):
                    again.append(cid)
        for cid in sorted(mine - seen):
            key = self.key_of[cid]
            if remote.state == "failed":
                why = "; ".join(remote.errors) or "the batch failed validation"
                outcome, error = "rejected", f"the provider rejected the batch: {why}"
            elif remote.state == "cancelled" or self.cancelled:
                outcome, error = "cancelled", "cancelled before the provider processed it"
            else:
                outcome, error = "missing", "missing from the provider's output"
            changes.append((cid, outcome, error))
            self.tally[outcome] += 1
            if outcome == "cancelled":
                self._final(cid, JobError(f"cancelled: {error}"))
            elif outcome == "rejected" and self.options.fallback != "live":
                self._final(cid, JobError(error))
            else:
                self.deferred.failed(key, error, status=None, attempt=self.round_of[cid] + 1, final=False)
                again.append(cid)
        fresh = {key: self.results[key].response for key in answered}
        await self.deferred.store({k: r for k, r in fresh.items() if r is not None}, cache=self.plan.cache)
        self.store.set_items(self.record.id, changes)
        return again

    async def _settle(self, cid: str, line: LineResult) -> str:
        """One result line: the row's outcome (``answered``, ``failed``, or one to try again)."""
        key, attempt = self.key_of[cid], self.round_of[cid] + 1
        if line.kind == "succeeded":
            from aikit.client.schema import SchemaMismatch

            try:
                r = await self.deferred.answer(
                    key,
                    self._request(key),
                    line,
                    attempt=attempt,
                    latency_s=time.time() - self.submitted_at,
                )
            except SchemaMismatch:
                self.tally["invalid"] += 1
                return "invalid"
            except (ValueError, KeyError, TypeError):
                self.tally["unreadable"] += 1
                return "missing"
            self.results[key] = RowResult(response=r)
            rows = len(self.rows_of[cid])
            self.state.request_finished(
                rows,
                ok=True,
                cached=False,
                in_flight=False,
                retrying=False,
                input_tokens=r.usage.input_tokens,
                output_tokens=r.usage.output_tokens,
                cost_usd=r.cost_usd,
            )
            self.tally["answered"] += 1
            return "answered"
        if line.kind == "canceled":
            self.tally["cancelled"] += 1
            self._final(cid, JobError(f"cancelled: {line.error}"))
            return "cancelled"
        if line.kind == "expired":
            self.tally["expired"] += 1
            self.deferred.failed(key, f"expired: {line.error}", status=None, attempt=attempt, final=False)
            return "expired"
        if line.retryable:
            self.tally["retryable"] += 1
            self.deferred.failed(key, str(line.error), status=line.status, attempt=attempt, final=False)
            return "retry"
        self.tally["failed"] += 1
        self._final(
            cid,
            ProviderHTTPError(str(line.error), status=line.status, provider=self.api.name, attempts=attempt),
        )
        return "failed"

    def _final(self, cid: str, exc: Exception) -> None:
        """End a row with ``exc`` (logged, counted, kept in its ``ai_error``)."""
        key = self.key_of[cid]
        if key in self.results:
            return
        status = getattr(exc, "status", None)
        self.deferred.failed(key, str(exc), status=status, attempt=self.round_of[cid] + 1, final=True)
        self.results[key] = RowResult(error=error_text(exc), exception=exc)
        self.state.request_finished(
            len(self.rows_of[cid]), ok=False, cached=False, in_flight=False, retrying=False
        )

    async def _last_resort(self, cids: list[str]) -> None:
        """Rows no batch answered: live calls (``fallback="live"``), else their final error."""
        if self.options.fallback == "live" and not self.cancelled:
            from dataclasses import replace

            from aikit._batch.progress import NullView
            from aikit._batch.run import Run

            keys = [self.key_of[c] for c in cids]
            sub = replace(self.plan, misses=keys)
            run = Run(
                sub,
                self.state,
                NullView(),
                on_error=self.options.on_error,
                budget_usd=None,
                concurrency=self.options.concurrency,
            )
            await run.execute()
            self.results.update(run.results)
            self.tally["live"] += len(keys)
            assert self.record is not None
            self.store.set_items(self.record.id, [(c, "live", None) for c in cids])
            return
        rounds = MAX_ROUNDS if not self.cancelled else self.round_of[cids[0]] + 1
        for cid in cids:
            what = "cancelled" if self.cancelled else f"not answered after {rounds} provider batches"
            self._final(cid, JobError(f"{what} (last seen: missing, expired or a retryable error)"))

    def _close(self) -> None:
        assert self.record is not None
        summary = dict(self.tally)
        status = "cancelled" if self.cancelled else "done"
        if self.record.status not in FINISHED:
            self.store.finish(self.record.id, status, summary=summary)
        self.finished = True
        self.state.set_note(self.note())
        failed = [r for r in self.results.values() if r.exception is not None and not r.skipped]
        if failed and self.options.on_error == "raise":
            raise failed[0].exception  # type: ignore[misc]

    async def cancel(self) -> None:
        """Cancel every part still running (the results already produced are kept)."""
        await self.submit()
        self.cancelled = True
        assert self.record is not None
        for part in self._open_parts():
            remote_id = part.remote_id
            assert remote_id is not None

            def cancel(key: Secret | None, rid: str = remote_id) -> httpx.Request:
                return self.api.cancel(rid, key)

            remote = await self.deferred.send(cancel, self.api.parse_batch)
            self.remote[part.part] = remote

    async def refresh(self) -> None:
        """Ask the provider about every open part (for ``status()``)."""
        await self.submit()
        await asyncio.gather(*(self._poll(p) for p in self._open_parts()))
        self.state.set_note(self.note())

    def note(self) -> str:
        """The provider's word on the job: status, counts, parts, the time waited."""
        if self.record is None:
            return f"{self.api.name} not submitted"
        latest = max(self.part_round.values(), default=0)
        remotes = [r for part, r in self.remote.items() if self.part_round.get(part, 0) == latest]
        if not remotes:
            return f"{self.api.name} {self.attached or 'submitting'}"
        states = Counter(r.status for r in remotes)
        word = "/".join(states) if len(states) > 1 else next(iter(states))
        total = sum(r.total for r in remotes) or sum(1 for _ in self.key_of)
        done = sum(r.completed for r in remotes)
        failed = sum(r.failed for r in remotes)
        parts = f" ({len(remotes)} batches)" if len(remotes) > 1 else ""
        if latest:
            parts += f" (resubmission {latest})"
        if self.attached:
            parts += f" | {self.attached}"
        return (
            f"{self.api.name} {word}: {done:,}/{total:,} completed, {failed:,} failed{parts} | "
            f"waited {clock(time.time() - self.submitted_at)}"
        )

    def status(self) -> dict[str, Any]:
        """A plain summary: job id, status, the provider's parts and counts, the time waited."""
        parts = self.store.parts(self.record.id) if self.record is not None else []
        return {
            "job": self.job_id,
            "status": self.store.get(self.record.id).status if self.record is not None else "not submitted",
            "provider": self.api.name,
            "parts": [
                {"remote_id": p.remote_id, "status": p.status, "round": p.round, **p.counts} for p in parts
            ],
            "note": self.note(),
            "waited_s": round(time.time() - self.submitted_at, 1),
            "outcomes": dict(self.tally),
        }


def check_batch_mode(options: BatchOptions, *, dask: bool = False) -> None:
    """Refuse combinations batch mode cannot run (before anything is planned)."""
    if options.mode != "batch":
        return
    if dask or _on_dask_worker():
        raise ConfigError(
            'mode="batch" runs in this kernel, where the job is recorded and awaited: not on Dask workers '
            "(drop client=, or use df.ai on a pandas DataFrame; one provider batch takes 50,000 rows)"
        )


def _on_dask_worker() -> bool:
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True
