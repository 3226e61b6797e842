"""``df.ai``: one AI call per row of a pandas DataFrame, results as typed columns.

Importing this module registers the ``ai`` accessor on :class:`pandas.DataFrame`; ``import aikit``
arranges for that as soon as pandas is imported (:mod:`aikit._hooks`). Every method renders a
``{column}`` template per row (:class:`~aikit._batch.template.Template`), runs the prompts through the
batch engine (:class:`~aikit._batch.job.BatchJob`: bulk cache lookup, one call per unique prompt,
paced, retried, cached as each answer arrives) and returns a **new** DataFrame aligned on the input's
index (:mod:`aikit._batch.frame`: typed columns, ``ai_error``, optional meta columns, lineage in
``out.attrs["aikit"]``).

Each operation (``map``, ``classify``, ``extract``, ``estimate``) is written once below, as a builder
of its job; the methods and their async twins (``amap`` ...) are generated from it with their full
signature and docstring (:mod:`aikit._batch.operation`), and ``ddf.ai`` (:mod:`aikit.scale.dask`)
runs the same builders on every partition. ``ai=None`` uses ``aikit.AI("local")`` (see
:func:`aikit._batch.job.default_ai`).

>>> import aikit, pandas as pd  # doctest: +SKIP
>>> df = pd.DataFrame({"subject": ["Refund please"], "content": ["I was charged twice"]})  # doctest: +SKIP
>>> out = df.ai.map("Classify the tone: {subject}\\n{content}", ai=ai,  # doctest: +SKIP
...                 schema={"type": "object", "properties": {"tone": {"enum": ["pos", "neu", "neg"]}},
...                         "required": ["tone"]})
>>> out[["subject", "tone", "ai_error"]]  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from aikit._batch import similarity
from aikit._batch.classify import classify as _classify
from aikit._batch.frame import result_frame
from aikit._batch.job import BatchJob, EstimateJob, Job, then
from aikit._batch.operation import Operation
from aikit._batch.options import FRAME_OPTIONS, REQUEST_OPTIONS, RUN_OPTIONS, BatchOptions
from aikit._batch.result import BatchEstimate
from aikit._batch.template import Template
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client import AI, AsyncAI

__all__ = ["FRAME_OPERATIONS", "AIAccessor"]

#: The system prompt of ``extract`` when none is given.
EXTRACT_SYSTEM = "Extract the requested fields from the text. Use null when a field is absent."
_ALL_OPTIONS = (*REQUEST_OPTIONS, *RUN_OPTIONS, *FRAME_OPTIONS)


def _prompts(df: pd.DataFrame, template: str | Template) -> tuple[Template, list[Any]]:
    tpl = template if isinstance(template, Template) else Template(template)
    return tpl, tpl.render_frame(df)  # raises before any call on a missing column


def _map(
    df: pd.DataFrame,
    template: str | Template,
    *,
    ai: AI | AsyncAI | str | None = None,
    schema: Any = None,
    into: str | None = None,
    options: BatchOptions,
) -> Job[pd.DataFrame]:
    """One AI call per row; the answers as new columns of a copy of the DataFrame.

    Parameters
    ----------
    template : str or Template
        The prompt, with ``{column}`` placeholders (``{{``/``}}`` for literal braces).
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses ``aikit.AI("local")``, the embedded offline model.
    schema : dict or pydantic model class, optional
        Structured output: each field becomes a typed column (enum -> categorical, integer ->
        Int64, number -> float64, boolean -> boolean). Without a schema the text goes to ``into``.
    into : str, optional
        The output column for text (default ``"ai_output"``); with a schema, the column that holds
        the whole parsed object instead of one column per field.

    Returns
    -------
    pandas.DataFrame
        The input's columns and index, plus the outputs and ``ai_error`` (None, or
        ``"ErrorType: message"`` for a row that failed after retries or was skipped by the budget).

    Examples
    --------
    >>> out = df.ai.map("Summarise: {content}", ai=ai, into="summary")  # doctest: +SKIP
    >>> out[["summary", "ai_error"]].head()  # doctest: +SKIP
    """
    tpl, prompts = _prompts(df, template)
    job = BatchJob(prompts, ai, schema=schema, options=options, title="df.ai.map")
    lineage = {"operation": "map", "template": tpl.text, "system": options.system}
    finish = functools.partial(
        result_frame, df, schema=schema, into=into, with_meta=options.with_meta, lineage=lineage
    )
    return then(job, finish)


def _extract(
    df: pd.DataFrame,
    template: str | Template,
    schema: Any,
    *,
    ai: AI | AsyncAI | str | None = None,
    options: BatchOptions,
) -> Job[pd.DataFrame]:
    """Extract structured fields from each row: one typed column per field of ``schema``.

    Without ``system=`` the model is told to extract the requested fields and use null for the absent
    ones.

    Parameters
    ----------
    template : str or Template
        The text to extract from, with ``{column}`` placeholders.
    schema : dict or pydantic model class
        The fields to extract (a JSON Schema dict or a pydantic model).
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses ``aikit.AI("local")``, the embedded offline model.

    Returns
    -------
    pandas.DataFrame
        The input's columns and index, plus one typed column per field and ``ai_error``.

    Examples
    --------
    >>> class Order(pydantic.BaseModel):  # doctest: +SKIP
    ...     order_id: str
    ...     amount: float | None
    >>> out = df.ai.extract("{content}", schema=Order, ai=ai)  # doctest: +SKIP
    """
    if schema is None:
        raise ConfigError("extract() needs schema= (a pydantic model class or a JSON Schema dict)")
    options = options.replace(system=options.system or EXTRACT_SYSTEM)
    tpl, prompts = _prompts(df, template)
    job = BatchJob(prompts, ai, schema=schema, options=options, title="df.ai.extract")
    lineage = {"operation": "extract", "template": tpl.text, "system": options.system}
    finish = functools.partial(result_frame, df, schema=schema, with_meta=options.with_meta, lineage=lineage)
    return then(job, finish)


def _estimate(
    df: pd.DataFrame,
    template: str | Template,
    *,
    ai: AI | AsyncAI | str | None = None,
    schema: Any = None,
    options: BatchOptions,
) -> Job[BatchEstimate]:
    """Rows, rows already cached, calls to make, estimated tokens and cost; makes no call.

    Pass the same arguments as the ``map`` you plan (or its ``options``), so the cache keys match.

    Parameters
    ----------
    template : str or Template
        The planned prompt, with ``{column}`` placeholders.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses ``aikit.AI("local")``, the embedded offline model.
    schema : dict or pydantic model class, optional
        The planned output schema (part of the cache key).

    Returns
    -------
    aikit._batch.result.BatchEstimate

    Examples
    --------
    >>> df.ai.estimate("Summarise: {content}", ai=ai, max_tokens=60)  # doctest: +SKIP
    BatchEstimate(openai:gpt-4o-mini: 600 rows, 0 already cached, 600 calls to make, ...)
    """
    _, prompts = _prompts(df, template)
    return EstimateJob(prompts, ai, schema=schema, options=options)


def _frame_operation(build: Any, name: str, **kwargs: Any) -> Operation[Any]:
    return Operation(build, name=name, subject=True, where="df.ai", **kwargs)


MAP: Operation[pd.DataFrame] = _frame_operation(_map, "map", options=_ALL_OPTIONS, returns="pd.DataFrame")
CLASSIFY: Operation[pd.DataFrame] = _frame_operation(
    _classify, "classify", options=_ALL_OPTIONS, defaults={"temperature": 0}, returns="pd.DataFrame"
)
EXTRACT: Operation[pd.DataFrame] = _frame_operation(
    _extract, "extract", options=_ALL_OPTIONS, defaults={"temperature": 0}, returns="pd.DataFrame"
)
ESTIMATE: Operation[BatchEstimate] = _frame_operation(
    _estimate, "estimate", options=(*REQUEST_OPTIONS, "cache", "mode"), returns="BatchEstimate"
)
#: The operations that give a DataFrame, by name (``ddf.ai`` runs them on each partition).
FRAME_OPERATIONS: dict[str, Operation[pd.DataFrame]] = {"map": MAP, "classify": CLASSIFY, "extract": EXTRACT}


@pd.api.extensions.register_dataframe_accessor("ai")
class AIAccessor:
    """The ``df.ai`` namespace: ``map``, ``classify``, ``extract``, ``estimate`` and their async twins;
    ``embed``, ``similar``, ``dedupe`` and ``join`` (:mod:`aikit._batch.similarity`).

    Every method takes ``ai=`` (an ``aikit.AI``, an ``AsyncAI``, a ``"provider:model"`` string, or None
    for ``aikit.AI("local")``) and the batch options (:class:`~aikit._batch.options.BatchOptions`, as
    ``options=`` or as keywords); ``help(df.ai.map)`` lists them all.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    map, amap = MAP.methods("AIAccessor", "_df")
    classify, aclassify = CLASSIFY.methods("AIAccessor", "_df")
    extract, aextract = EXTRACT.methods("AIAccessor", "_df")
    estimate, aestimate = ESTIMATE.methods("AIAccessor", "_df")

    def evaluate(self, pred: str, gold: Any, **kwargs: Any) -> Any:
        """Score the label column ``pred`` against known labels ``gold`` (see ``evaluate.evaluate``)."""
        from aikit._batch.evaluate import evaluate

        return evaluate(self._df, pred, gold, **kwargs)

    def review(self, pred: str, **kwargs: Any) -> Any:
        """Doubtful rows of ``pred`` for a person to check: see :func:`aikit._batch.review.review`."""
        from aikit._batch.review import review

        return review(self._df, pred, **kwargs)

    @functools.wraps(similarity.embed)
    def embed(self, template: str, **kwargs: Any) -> pd.DataFrame:
        return similarity.embed(self._df, template, **kwargs)

    @functools.wraps(similarity.similar)
    def similar(self, query: str, **kwargs: Any) -> pd.DataFrame:
        return similarity.similar(self._df, query, **kwargs)

    @functools.wraps(similarity.dedupe)
    def dedupe(self, template: str | None = None, **kwargs: Any) -> pd.DataFrame:
        return similarity.dedupe(self._df, template, **kwargs)

    @functools.wraps(similarity.join)
    def join(self, other: pd.DataFrame, on_similarity: str | Sequence[str], **kwargs: Any) -> pd.DataFrame:
        return similarity.join(self._df, other, on_similarity, **kwargs)
