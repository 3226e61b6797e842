"""Run one AI call per prompt over thousands of prompts, at the rate limit, with no prompt lost.

:func:`batch` (sync) and :func:`abatch` (async) take a list of prompts (strings or chat message
lists) and return a :class:`BatchResult` with one :class:`RowResult` per prompt, in order. They are
the engine behind ``df.ai.map``; :func:`estimate` / :func:`aestimate` say what a batch would do.

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

The options are one :class:`~aikit._batch.options.BatchOptions` (``options=``) or the same names as
keywords. Each entry point is written once, as a job builder below; the sync and async forms are
generated from it (:mod:`aikit._batch.operation`). Planning lives in :mod:`aikit._batch.plan`, the
worker pool in :mod:`aikit._batch.run`, the jobs and the default client in :mod:`aikit._batch.job`,
the result types in :mod:`aikit._batch.result`.

>>> import aikit  # doctest: +SKIP
>>> res = aikit.batch(["Say hi", "Say bye", "Say hi"], ai=aikit.AI("local"))  # doctest: +SKIP
>>> [r.text for r in res], res.summary()["calls"]  # doctest: +SKIP
(['Hi!', 'Bye!', 'Hi!'], 2)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aikit._batch.batchmode import check_batch_mode
from aikit._batch.job import BatchJob, EstimateJob, Job, default_ai, set_default_ai, then
from aikit._batch.operation import Operation
from aikit._batch.options import REQUEST_OPTIONS, RUN_OPTIONS, BatchOptions
from aikit._batch.result import BatchEstimate, BatchResult, RowResult, error_text, meta_columns

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.plan import Prompt
    from aikit.client import AI, AsyncAI

__all__ = [
    "BatchEstimate",
    "BatchOptions",
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


class _DaskJob:
    """``batch(..., client=dask_client)``: the batch on the workers of a ``distributed.Client``."""

    def __init__(
        self,
        client: Any,
        prompts: Sequence[Prompt],
        ai: AI | AsyncAI | str | None,
        schema: Any,
        options: BatchOptions,
    ) -> None:
        self.client, self.prompts, self.ai, self.schema, self.options = client, prompts, ai, schema, options

    def run_sync(self) -> BatchResult:
        from aikit.client.backends import run_on_dask

        result: BatchResult = run_on_dask(
            self.client, self.prompts, self.ai, schema=self.schema, options=self.options
        )
        return result

    async def run_async(self) -> BatchResult:
        # The Dask client blocks while it waits for the workers: wait in a thread, not on the loop.
        return await asyncio.to_thread(self.run_sync)


def _batch(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    schema: Any = None,
    client: Any = None,
    options: BatchOptions,
) -> Job[BatchResult]:
    """Run one AI call per prompt, paced to the provider's limits, keeping every row.

    Parameters
    ----------
    prompts : list of str or list of message lists
        One entry per row. Identical prompts (same cache key) cost one call.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses :func:`default_ai` (``aikit.AI("local")``).
    schema : dict or pydantic model class, optional
        Structured output for every row (a JSON Schema dict or a pydantic model): the answers are
        validated and parsed into ``row.data``.
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
    >>> res = batch(prompts, ai=ai, options=aikit.BatchOptions(cache=False, concurrency=4))  # doctest: +SKIP
    """
    if client is not None:
        check_batch_mode(options, dask=True)
        return _DaskJob(client, prompts, ai, schema, options)
    job = BatchJob(prompts, ai, schema=schema, options=options)
    if options.mode == "batch" and options.wait is False:
        return then(job, lambda result: result)
    return job


def _estimate(
    prompts: Sequence[Prompt],
    ai: AI | AsyncAI | str | None = None,
    *,
    schema: Any = None,
    options: BatchOptions,
) -> Job[BatchEstimate]:
    """Rows, rows already cached, calls to make, estimated tokens and cost, without calling the model.

    Pass the arguments of the batch you plan (or its ``options``), so the cache keys match.

    Parameters
    ----------
    prompts : list of str or list of message lists
        The prompts of the planned batch.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses :func:`default_ai` (``aikit.AI("local")``).
    schema : dict or pydantic model class, optional
        The planned batch's output schema (part of the cache key).

    Returns
    -------
    BatchEstimate
        Token counts are estimates (characters/4, and ``max_tokens`` or 256 per answer); the cost is
        None when the model has no known price.

    Examples
    --------
    >>> estimate(["Classify: ...", "Classify: ..."], ai=ai, max_tokens=20)  # doctest: +SKIP
    BatchEstimate(openai:gpt-4o-mini: 2 rows, 0 already cached, 1 calls to make for 2 rows, ...)
    """
    return EstimateJob(prompts, ai, schema=schema, options=options)


BATCH = Operation(_batch, name="batch", options=(*REQUEST_OPTIONS, *RUN_OPTIONS), returns="BatchResult")
ESTIMATE = Operation(
    _estimate, name="estimate", options=(*REQUEST_OPTIONS, "cache", "mode"), returns="BatchEstimate",
    where="aikit._batch.api",
)  # fmt: skip

batch, abatch = BATCH.functions()
estimate, aestimate = ESTIMATE.functions()
