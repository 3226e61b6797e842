"""``ddf.ai``: aikit batches over a Dask DataFrame, one aikit client per worker.

Importing this module registers the ``ai`` accessor on :class:`dask.dataframe.DataFrame` (``import
aikit.scale.dask``; it needs ``pip install "aikit[scale]"``). ``ddf.ai.map(...)`` takes the same
arguments as the pandas ``df.ai.map`` and returns a lazy Dask DataFrame with the same columns.
Computing it runs the pandas accessor on every partition on the workers:

- each worker builds its own client from a picklable description of yours
  (:meth:`aikit.client.AsyncAI.describe`); the API key is resolved again from the worker's
  environment and never shipped unless you passed it explicitly;
- with ``cache="redis://..."`` every worker reads and writes one shared response cache, so a second
  run, or a partition recomputed after its worker died, makes no new provider call;
- with a :class:`~aikit.scale.redis_limiter.RedisLimiter` (``limiter="redis://..."``) every worker
  draws from one shared RPM/TPM budget, so together they stay within the provider's limits;
- partitions report their counters to the driver; ``out.ai.compute()`` shows one aggregated
  progress view and ``out.ai.summary()`` the totals (rows ok/cached/failed, calls, tokens, cost).

``budget_usd`` is split evenly across partitions (each stops at its share), so the whole run never
spends more than the budget. Duplicate prompts cost one call within a partition; identical prompts
in different partitions that run at the same moment may each make a call (workers share finished
answers through the cache, not calls in flight). :func:`batch_on` sends each distinct prompt once.

The accessor is registered when this module is imported, not by ``import aikit`` (which never
imports dask): run ``import aikit.scale.dask`` once before using ``ddf.ai``.

>>> import aikit.scale.dask  # doctest: +SKIP
>>> out = ddf.ai.map("Tone of: {content}", ai=ai, schema=TONE)  # doctest: +SKIP
>>> df = out.ai.compute()        # pandas result, live progress  # doctest: +SKIP
>>> out.ai.summary()["calls"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import dask.dataframe as dd
import pandas as pd
from dask.dataframe.extensions import register_dataframe_accessor

from aikit._batch.progress import REFRESH_S, make_view
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

__all__ = ["DaskAIAccessor", "batch_on", "client_description", "summary", "worker_client"]

_OPERATIONS = ("map", "extract", "classify")

# -- clients: described on the driver, rebuilt once per worker process ----------------------------

_clients_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client_description(ai: Any) -> Any:
    """What a worker needs to rebuild ``ai``: a picklable dict, or a ``"provider:model"`` string.

    Uses :meth:`AsyncAI.describe` (no API key unless it was passed explicitly). A Redis cache or a
    Redis limiter travels as its settings (URL, key hash, limits), so every worker shares them.
    """
    if ai is None or isinstance(ai, str):
        return ai
    aio = getattr(ai, "aio", ai)
    describe = getattr(aio, "describe", None)
    if not callable(describe):
        raise ConfigError(f"ai= must be an aikit.AI, an AsyncAI or a 'provider:model' string, got {ai!r}")
    from aikit.scale.redis_cache import RedisCache
    from aikit.scale.redis_limiter import RedisLimiter

    desc: dict[str, Any] = dict(describe())
    cache = getattr(aio, "_cache_spec", None)
    if isinstance(cache, RedisCache):
        desc["cache"] = cache
    elif isinstance(desc.get("cache"), str) and desc["cache"].startswith(("redis://", "rediss://")):
        desc["cache"] = RedisCache(desc["cache"])
    limiter = getattr(aio, "limiter", None)
    if isinstance(limiter, RedisLimiter):
        desc["limiter"] = limiter
    return desc


def worker_client(description: Any) -> Any:
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


# -- the partition function (runs on the workers) ---------------------------------------------------


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
    template: Any,
    args: tuple[Any, ...],
    description: Any,
    options: dict[str, Any],
    run_id: str,
    dtypes: dict[Any, Any],
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    part = int(partition_info["number"]) if partition_info else 0
    reporter = PartitionReporter(run_id, part)
    client = worker_client(description)
    reporter.send({"total": len(pdf), "to_call": 0, "done": 0, "cached": 0})
    method = getattr(pdf.ai, operation)
    out: pd.DataFrame = method(template, *args, ai=client, progress=reporter, **options)
    info = out.attrs.get("aikit")
    if isinstance(info, dict):
        reporter.send(snapshot_from_lineage(info), final=True)
        info["run_id"] = run_id
        info["partition"] = part
    return _conform(out, dtypes)


# -- the accessor -------------------------------------------------------------------------------------


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


@register_dataframe_accessor("ai")  # type: ignore[no-untyped-call]
class DaskAIAccessor:
    """The ``ddf.ai`` namespace on Dask DataFrames: ``map``, ``extract``, ``classify``, plus
    ``compute`` and ``summary`` on their results. Arguments are those of the pandas ``df.ai``.
    """

    def __init__(self, ddf: dd.DataFrame) -> None:
        self._ddf = ddf

    def _lazy(
        self, operation: str, template: Any, args: tuple[Any, ...], ai: Any, options: dict[str, Any]
    ) -> dd.DataFrame:
        ddf: Any = self._ddf
        description = client_description(ai)
        budget = options.get("budget_usd")
        if budget is not None:
            options["budget_usd"] = float(budget) / max(1, ddf.npartitions)
        progress = options.pop("progress", None)
        # The columns (and dtypes) of the result: the pandas accessor on the empty meta frame. This
        # also checks the template against the columns before anything runs.
        empty = getattr(ddf._meta.ai, operation)(template, *args, ai=ai, progress=False, **options)
        meta = empty.iloc[:0]
        run_id = uuid.uuid4().hex[:16]
        meta.attrs["aikit"] = {**dict(empty.attrs.get("aikit") or {}), "run_id": run_id, "scale": "dask"}
        tracker = RunTracker(run_id, ddf.npartitions, title=f"ddf.ai.{operation}")
        tracker.progress = progress  # the default display of out.ai.compute()
        register(tracker)
        _subscribe()
        out: dd.DataFrame = ddf.map_partitions(
            _run_partition,
            operation,
            template,
            args,
            description,
            options,
            run_id,
            dict(meta.dtypes.items()),
            meta=meta,
            align_dataframes=False,
        )
        return out

    def map(
        self,
        template: Any,
        *,
        ai: Any = None,
        schema: Any = None,
        into: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_error: str = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> dd.DataFrame:
        """One AI call per row on the Dask workers; a lazy Dask DataFrame with the pandas columns.

        Same arguments as :meth:`aikit._batch.accessor.AIAccessor.map`. ``progress`` is the display of
        :meth:`compute` on the driver (workers never display); ``budget_usd`` is split evenly across
        partitions.

        Examples
        --------
        >>> out = ddf.ai.map("Summarise: {content}", ai=ai, into="summary")  # doctest: +SKIP
        >>> out.ai.compute()[["summary", "ai_error"]]  # doctest: +SKIP
        """
        options = {
            "schema": schema,
            "into": into,
            "system": system,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "on_error": on_error,
            "budget_usd": budget_usd,
            "with_meta": with_meta,
            "concurrency": concurrency,
            "cache": cache,
            "progress": progress,
            **params,
        }
        return self._lazy("map", template, (), ai, options)

    def extract(self, template: Any, schema: Any, *, ai: Any = None, **options: Any) -> dd.DataFrame:
        """Dask twin of ``df.ai.extract``: one typed column per field of ``schema``."""
        return self._lazy("extract", template, (schema,), ai, options)

    def classify(
        self, template: Any, labels: Sequence[str], *, ai: Any = None, **options: Any
    ) -> dd.DataFrame:
        """Dask twin of ``df.ai.classify``: the label of each row in a categorical column."""
        return self._lazy("classify", template, (list(labels),), ai, options)

    # -- on a result ----------------------------------------------------------------------------
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


# -- batch on a Dask client (what ``aikit._batch.api(prompts, ai=..., client=dask_client)`` calls) --------


def batch_on(
    client: Any,
    prompts: Sequence[Any],
    ai: Any = None,
    *,
    partitions: int | None = None,
    progress: bool | str | None = None,
    **options: Any,
) -> Any:
    """Run :func:`aikit._batch.api` over ``prompts`` on the workers of a ``distributed.Client``.

    Identical prompts are sent once; the unique prompts are cut into ``partitions`` chunks (default:
    two per worker thread), each run by the batch engine on a worker with its own client. Returns
    one :class:`~aikit._batch.api.BatchResult` in input order (row exceptions are kept as text in
    ``error``).

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> res = batch_on(Client(), ["2+2?", "3+3?"], ai=ai, max_tokens=5)  # doctest: +SKIP
    >>> res.texts  # doctest: +SKIP
    """
    import dataclasses

    from aikit._batch.api import BatchResult, _normalise_prompts

    rows = _normalise_prompts(prompts)
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
    n = max(1, min(len(items) or 1, partitions or 2 * threads))
    size = -(-len(items) // n) if items else 0
    chunks = [items[i : i + size] for i in range(0, len(items), size)] if items else []
    run_id = uuid.uuid4().hex[:16]
    tracker = register(RunTracker(run_id, len(chunks), title="aikit._batch.api"))
    if TOPIC not in getattr(client, "_event_handlers", {}):
        client.subscribe_topic(TOPIC, dispatch)
    description = client_description(ai)
    if options.get("budget_usd") is not None and chunks:
        options["budget_usd"] = float(options["budget_usd"]) / len(chunks)
    view = make_view(progress)
    view.start(tracker.state(), f"aikit._batch.api on Dask ({len(chunks)} chunks)")
    started = time.monotonic()
    try:
        futures = [
            client.submit(_run_chunk, chunk, i, description, options, run_id, pure=False)
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
    model = parts[0].model if parts else ""
    calls = sum(p.calls for p in parts)
    return BatchResult(
        rows=[dataclasses.replace(r, exception=None) for r in results],
        model=model,
        calls=calls,
        elapsed_s=time.monotonic() - started,
        state=state,
    )


def _run_chunk(prompts: list[Any], index: int, description: Any, options: dict[str, Any], run_id: str) -> Any:
    import dataclasses

    from aikit._batch.api import batch

    reporter = PartitionReporter(run_id, index)
    reporter.send({"total": len(prompts), "to_call": 0, "done": 0, "cached": 0})
    result = batch(prompts, worker_client(description), progress=reporter, **options)
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
