"""``ddf.ai``: aikit batches over a Dask DataFrame, one aikit client per worker.

The ``ai`` accessor is registered on :class:`dask.dataframe.DataFrame` as soon as ``dask.dataframe``
is imported, before or after ``import aikit`` (:mod:`aikit._hooks`; it needs ``pip install
"aikit[scale]"``). ``ddf.ai.map``, ``extract`` and ``classify`` are the pandas operations of
:mod:`aikit._batch.accessor`, with the same signature and the same
:class:`~aikit._batch.options.BatchOptions`, and return a lazy Dask DataFrame with the same columns.
Computing it runs the operation on every partition on the workers:

- each worker builds its own client from a picklable description of yours
  (:func:`client_description`): a key from the environment is never shipped (each worker resolves
  its own), a key you passed explicitly travels to the workers inside the task;
- with ``cache="redis://..."`` every worker reads and writes one shared response cache, so a second
  run, or a partition recomputed after its worker died, makes no new provider call;
- with a :class:`~aikit.scale.redis_limiter.RedisLimiter` (``limiter="redis://..."``) every worker
  draws from one shared RPM/TPM budget, so together they stay within the provider's limits;
- partitions report their counters to the driver; ``out.ai.compute()`` shows one aggregated
  progress view and ``out.ai.summary()`` the totals (rows ok/cached/failed, calls, tokens, cost).

``budget_usd`` is split evenly across partitions (each stops at its share), so the whole run never
spends more than the budget. Duplicate prompts cost one call within a partition; identical prompts
in different partitions that run at the same moment may each make a call (workers share finished
answers through the cache, not calls in flight). :func:`batch_on` (what ``aikit.batch(...,
client=dask_client)`` runs) sends each distinct prompt once.

>>> import aikit, dask.dataframe as dd  # doctest: +SKIP
>>> out = ddf.ai.map("Tone of: {content}", ai=ai, schema=TONE)  # doctest: +SKIP
>>> df = out.ai.compute()        # pandas result, live progress  # doctest: +SKIP
>>> out.ai.summary()["calls"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dask.dataframe as dd
import pandas as pd
from dask.dataframe.extensions import register_dataframe_accessor

from aikit._batch.accessor import FRAME_OPERATIONS
from aikit._batch.api import batch
from aikit._batch.operation import Operation
from aikit._batch.options import REQUEST_OPTIONS, RUN_OPTIONS, BatchOptions
from aikit._batch.plan import normalise_prompts
from aikit._batch.progress import REFRESH_S, make_view
from aikit._batch.result import BatchResult
from aikit.exceptions import ConfigError
from aikit.scale.progress import (
    TOPIC,
    PartitionReporter,
    RunTracker,
    dispatch,
    register,
    snapshot_from_lineage,
    tracker_for,
)

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.job import Job
    from aikit._batch.plan import Prompt
    from aikit.client import AI, AsyncAI

__all__ = ["DaskAIAccessor", "batch_on", "client_description", "summary", "worker_client"]

_clients_lock = threading.Lock()
_clients: dict[str, AsyncAI] = {}


def client_description(ai: AI | AsyncAI | str | None) -> dict[str, Any] | str | None:
    """What a worker needs to rebuild ``ai``: a picklable dict, or a ``"provider:model"`` string.

    Built by :meth:`AsyncAI.describe` with ``include_key=True``: an API key passed explicitly to the
    client comes as plain text and is shipped to the workers inside the task (a worker cannot get
    it otherwise); a key the client found in the environment or ``.env`` is never included, and
    each worker resolves its own. A Redis cache or a Redis limiter travels as its settings (URL, key
    hash, limits), so every worker shares them.
    """
    if ai is None or isinstance(ai, str):
        return ai
    from aikit.client import AI, AsyncAI

    aio = ai.aio if isinstance(ai, AI) else ai
    if not isinstance(aio, AsyncAI):
        raise ConfigError(f"ai= must be an aikit.AI, an AsyncAI or a 'provider:model' string, got {ai!r}")
    from aikit.scale.redis_cache import RedisCache
    from aikit.scale.redis_limiter import RedisLimiter

    desc: dict[str, Any] = dict(aio.describe(include_key=True))
    cache = getattr(aio, "_cache_spec", None)  # the cache object as given, with its own settings
    if isinstance(cache, RedisCache):
        desc["cache"] = cache
    elif isinstance(desc.get("cache"), str) and desc["cache"].startswith(("redis://", "rediss://")):
        desc["cache"] = RedisCache(desc["cache"])
    if isinstance(aio.limiter, RedisLimiter):
        desc["limiter"] = aio.limiter
    return desc


def worker_client(description: dict[str, Any] | str | None) -> AsyncAI | str | None:
    """The client for ``description`` in this process, built on first use and then reused.

    Reuse matters: the client owns the connection pool, the adaptive concurrency and the
    single-flight table, which every partition on this worker should share.
    """
    if description is None or isinstance(description, str):
        return description
    token = hashlib.sha256(pickle.dumps(description)).hexdigest()
    with _clients_lock:
        client = _clients.get(token)
        if client is None:
            from aikit.client import AsyncAI

            client = AsyncAI.from_description(dict(description))
            _clients[token] = client
        return client


def _conform(out: pd.DataFrame, dtypes: dict[Any, Any]) -> pd.DataFrame:
    """Give a partition the dtypes of the meta frame where they differ and can be converted."""
    for name, dtype in dtypes.items():
        if name in out.columns and out[name].dtype != dtype:
            with contextlib.suppress(TypeError, ValueError):
                out[name] = out[name].astype(dtype)
    return out


def _run_partition(
    pdf: pd.DataFrame,
    operation: str,
    own: dict[str, Any],
    description: dict[str, Any] | str | None,
    options: BatchOptions,
    run_id: str,
    dtypes: dict[Any, Any],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """On a worker: the pandas operation on one partition, reporting to the driver as it goes."""
    part = int(partition_info["number"]) if partition_info else 0
    reporter = PartitionReporter(run_id, part)
    client = worker_client(description)
    reporter.send({"total": len(pdf), "to_call": 0, "done": 0, "cached": 0})
    job = FRAME_OPERATIONS[operation].build(pdf, **own, ai=client, options=options.replace(progress=reporter))
    out: pd.DataFrame = job.run_sync()
    info = out.attrs.get("aikit")
    if isinstance(info, dict):
        reporter.send(snapshot_from_lineage(info), final=True)
        info["run_id"] = run_id
        info["partition"] = part
    return _conform(out, dtypes)


def _subscribe() -> Any:
    """Route worker reports to trackers on the current distributed client, if there is one."""
    try:
        import distributed

        client: Any = distributed.default_client()  # type: ignore[no-untyped-call]
    except (ImportError, ValueError):
        return None
    if TOPIC not in getattr(client, "_event_handlers", {}):
        client.subscribe_topic(TOPIC, dispatch)
    return client


def _run_id_of(ddf: Any) -> str | None:
    info = getattr(getattr(ddf, "_meta", None), "attrs", {}).get("aikit")
    return info.get("run_id") if isinstance(info, dict) else None


def _parameters_section(doc: str) -> str:
    """The ``Parameters`` section of a numpy-style docstring (header included)."""
    lines = doc.splitlines()
    start = lines.index("Parameters")
    end = next(
        (i for i in range(start + 2, len(lines) - 1) if lines[i] and set(lines[i + 1]) == {"-"}), len(lines)
    )
    return "\n".join(lines[start:end]).rstrip()


def _lazy_method(op: Operation[pd.DataFrame]) -> Callable[..., dd.DataFrame]:
    """``ddf.ai.<op>``: the pandas operation's signature, run lazily on every partition."""

    def method(self: DaskAIAccessor, *args: Any, **kwargs: Any) -> dd.DataFrame:
        own, options = op.bind(args, kwargs)
        return self._lazy(op, own, options)

    doc = (
        f"Lazy ``df.ai.{op.name}`` on every partition, on the Dask workers: a Dask DataFrame with the "
        "pandas result's columns.\n\n"
        "The arguments are those of the pandas operation. ``progress`` is the display of\n"
        ":meth:`compute` on the driver (workers never display); ``budget_usd`` is split evenly across\n"
        "partitions. The template is checked against the columns at once, before anything runs.\n\n"
        f"{_parameters_section(op.doc)}\n\n"
        "Returns\n-------\ndask.dataframe.DataFrame\n"
        "    Lazy; ``out.ai.compute()`` computes it with aggregated progress, ``out.ai.summary()``\n"
        "    gives the totals.\n\n"
        "Examples\n--------\n"
        f'>>> out = ddf.ai.{op.name}("{{content}}", ..., ai=ai)  # doctest: +SKIP\n'
        ">>> out.ai.compute().head()  # doctest: +SKIP"
    )
    return op.dress(method, owner="DaskAIAccessor", doc=doc, returns="dd.DataFrame")


@register_dataframe_accessor("ai")  # type: ignore[no-untyped-call]
class DaskAIAccessor:
    """The ``ddf.ai`` namespace on Dask DataFrames: ``map``, ``extract``, ``classify``, plus
    ``compute`` and ``summary`` on their results. Arguments are those of the pandas ``df.ai``.
    """

    def __init__(self, ddf: dd.DataFrame) -> None:
        self._ddf = ddf

    map = _lazy_method(FRAME_OPERATIONS["map"])
    extract = _lazy_method(FRAME_OPERATIONS["extract"])
    classify = _lazy_method(FRAME_OPERATIONS["classify"])

    def _lazy(self, op: Operation[pd.DataFrame], own: dict[str, Any], options: BatchOptions) -> dd.DataFrame:
        ddf: Any = self._ddf
        ai = own.pop("ai", None)
        description = client_description(ai)
        if options.budget_usd is not None:
            options = options.replace(budget_usd=options.budget_usd / max(1, ddf.npartitions))
        progress, options = options.progress, options.replace(progress=None)  # views stay on the driver
        # The columns (and dtypes) of the result: the pandas operation on the empty meta frame. This
        # also checks the template against the columns before anything runs.
        empty = op.build(ddf._meta, **own, ai=ai, options=options.replace(progress=False)).run_sync()
        meta = empty.iloc[:0]
        run_id = uuid.uuid4().hex[:16]
        meta.attrs["aikit"] = {**dict(empty.attrs.get("aikit") or {}), "run_id": run_id, "scale": "dask"}
        tracker = RunTracker(run_id, ddf.npartitions, title=f"ddf.ai.{op.name}")
        tracker.progress = progress  # the default display of out.ai.compute()
        register(tracker)
        _subscribe()
        out: dd.DataFrame = ddf.map_partitions(
            _run_partition,
            op.name,
            own,
            description,
            options,
            run_id,
            dict(meta.dtypes.items()),
            meta=meta,
            align_dataframes=False,
        )
        return out

    def tracker(self) -> RunTracker:
        """The progress tracker of this result (raises if it did not come from ``ddf.ai``)."""
        run_id = _run_id_of(self._ddf)
        tracker = tracker_for(run_id) if run_id else None
        if tracker is None:
            raise ConfigError(
                "this Dask DataFrame did not come from ddf.ai.map/extract/classify in this process"
            )
        return tracker

    def summary(self) -> dict[str, Any]:
        """Totals over all workers: rows ok/cached/failed/skipped, calls, tokens, cost, partitions.

        Reports that arrived while no Dask client was listening are read back from the scheduler.
        """
        tracker = self.tracker()
        if not tracker.finished:
            client = _subscribe()
            if client is not None:
                for event in client.get_events(TOPIC):
                    dispatch(event)
        return tracker.summary()

    def compute(self, progress: Any = ..., **kwargs: Any) -> pd.DataFrame:
        """Compute on the current Dask client, showing aggregated progress; return the pandas result.

        ``progress`` as for ``df.ai.map`` (None: a widget in a live kernel, log lines headless);
        default: what was given to ``ddf.ai.map``. A KeyboardInterrupt cancels the computation
        (finished rows are already cached).
        """
        tracker = self.tracker()
        client = _subscribe()
        tracker.restart_clock()
        view = make_view(tracker.progress if progress is ... else progress)
        view.start(tracker.state(), f"{tracker.title} on Dask ({tracker.npartitions} partitions)")
        try:
            if client is None:
                frame: Any = self._ddf
                result: pd.DataFrame = frame.compute(**kwargs)
            else:
                future = client.compute(self._ddf, **kwargs)
                try:
                    while not future.done():
                        time.sleep(REFRESH_S)
                        view.refresh(tracker.state())
                    result = future.result()
                except KeyboardInterrupt:
                    future.cancel()
                    raise
            _wait_for_final(tracker)
        finally:
            view.finish(tracker.state())
        return result


def _wait_for_final(tracker: RunTracker, timeout_s: float = 2.0) -> None:
    """Worker reports travel separately from results: give the last ones a moment to arrive."""
    deadline = time.monotonic() + timeout_s
    while not tracker.finished and time.monotonic() < deadline:
        time.sleep(0.02)


def summary(ddf: dd.DataFrame) -> dict[str, Any]:
    """``ddf.ai.summary()`` as a function."""
    return DaskAIAccessor(ddf).summary()


class _OnDask:
    """A batch cut into chunks of unique prompts, each run by the batch engine on a Dask worker."""

    def __init__(
        self,
        client: Any,
        prompts: Sequence[Prompt],
        ai: AI | AsyncAI | str | None,
        partitions: int | None,
        schema: Any,
        options: BatchOptions,
    ) -> None:
        self.client, self.ai, self.partitions, self.schema = client, ai, partitions, schema
        self.rows = normalise_prompts(prompts)
        self.options = options

    def run_sync(self) -> BatchResult:
        client, rows, options = self.client, self.rows, self.options
        # Identical prompts run once, whichever chunk they would have landed in (workers cannot share
        # an in-flight call, only finished answers).
        seen: dict[str, int] = {}
        first: list[int] = []  # row of each unique prompt
        slots: list[int] = []  # unique prompt of each row
        for i, prompt in enumerate(rows):
            token = json.dumps(prompt, sort_keys=True, default=str)
            slot = seen.get(token)
            if slot is None:
                slot = seen[token] = len(first)
                first.append(i)
            slots.append(slot)
        items = [rows[i] for i in first]
        threads = sum(client.nthreads().values()) or 1
        n = max(1, min(len(items) or 1, self.partitions or 2 * threads))
        size = -(-len(items) // n) if items else 0
        chunks = [items[i : i + size] for i in range(0, len(items), size)] if items else []
        run_id = uuid.uuid4().hex[:16]
        tracker = register(RunTracker(run_id, len(chunks), title="aikit.batch"))
        if TOPIC not in getattr(client, "_event_handlers", {}):
            client.subscribe_topic(TOPIC, dispatch)
        description = client_description(self.ai)
        if options.budget_usd is not None and chunks:
            options = options.replace(budget_usd=options.budget_usd / len(chunks))
        view = make_view(options.progress)
        options = options.replace(progress=None)  # views stay on the driver
        view.start(tracker.state(), f"aikit.batch on Dask ({len(chunks)} chunks)")
        started = time.monotonic()
        try:
            futures = [
                client.submit(_run_chunk, chunk, i, description, self.schema, options, run_id, pure=False)
                for i, chunk in enumerate(chunks)
            ]
            try:
                while not all(f.done() for f in futures):
                    time.sleep(REFRESH_S)
                    view.refresh(tracker.state())
                parts = client.gather(futures)
            except KeyboardInterrupt:
                client.cancel(futures)
                raise
            _wait_for_final(tracker)
        finally:
            view.finish(tracker.state())
        unique = [row for part in parts for row in part.rows]
        state = tracker.state()  # tokens, cost, calls; the row counts are redone for every row below
        results = [unique[i] for i in slots]
        state.total = len(results)
        state.done = sum(1 for r in results if r.ok)
        state.cached = sum(1 for r in results if r.response is not None and r.response.cached)
        state.skipped = sum(1 for r in results if r.skipped)
        state.failed = state.total - state.done - state.skipped
        return BatchResult(
            rows=[dataclasses.replace(r, exception=None) for r in results],
            model=parts[0].model if parts else "",
            calls=sum(p.calls for p in parts),
            elapsed_s=time.monotonic() - started,
            state=state,
        )

    async def run_async(self) -> BatchResult:
        import asyncio

        return await asyncio.to_thread(self.run_sync)  # the Dask client blocks while it waits


def _batch_on(
    client: Any,
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    partitions: int | None = None,
    schema: Any = None,
    options: BatchOptions,
) -> Job[BatchResult]:
    """Run :func:`aikit.batch` over ``prompts`` on the workers of a ``distributed.Client``.

    Identical prompts are sent once; the unique prompts are cut into ``partitions`` chunks (default:
    two per worker thread), each run by the batch engine on a worker with its own client. Returns
    one :class:`~aikit._batch.result.BatchResult` in input order (row exceptions are kept as text in
    ``error``).

    Parameters
    ----------
    client : distributed.Client
        The cluster to run on.
    prompts : list of str or list of message lists
        One entry per row.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client each worker rebuilds (see :func:`client_description`).
    partitions : int, optional
        How many chunks to cut the unique prompts into.
    schema : dict or pydantic model class, optional
        Structured output for every row.

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> res = batch_on(Client(), ["2+2?", "3+3?"], ai=ai, max_tokens=5)  # doctest: +SKIP
    >>> res.texts  # doctest: +SKIP
    """
    return _OnDask(client, prompts, ai, partitions, schema, options)


batch_on = Operation(
    _batch_on, name="batch_on", options=(*REQUEST_OPTIONS, *RUN_OPTIONS), returns="BatchResult",
    where="aikit.scale.dask",
).functions()[0]  # fmt: skip


def _run_chunk(
    prompts: list[Any],
    index: int,
    description: dict[str, Any] | str | None,
    schema: Any,
    options: BatchOptions,
    run_id: str,
) -> BatchResult:
    """On a worker: one chunk through the batch engine, reporting to the driver as it goes."""
    reporter = PartitionReporter(run_id, index)
    reporter.send({"total": len(prompts), "to_call": 0, "done": 0, "cached": 0})
    result: BatchResult = batch(
        prompts, worker_client(description), schema=schema, options=options.replace(progress=reporter)
    )
    reporter.send(
        snapshot_from_lineage(
            {
                "counts": result.state.counts(),
                "calls": result.calls,
                "input_tokens": result.state.input_tokens,
                "output_tokens": result.state.output_tokens,
                "cost_usd": result.state.cost_usd,
            }
        ),
        final=True,
    )
    result.rows = [dataclasses.replace(r, exception=None) for r in result.rows]
    return result
