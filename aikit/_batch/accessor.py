"""``df.ai``: one AI call per row of a pandas DataFrame, results as typed columns.

Importing this module registers the ``ai`` accessor on :class:`pandas.DataFrame`; ``import aikit``
does that as soon as pandas is imported. Every method renders a ``{column}`` template per row
(:class:`~aikit._batch.template.Template`), runs the prompts through the batch engine
(:func:`aikit._batch.api.batch`: bulk cache lookup, one call per unique prompt, paced, retried, cached as
each answer arrives) and returns a **new** DataFrame aligned on the input's index (the input is never
changed) holding the input's columns plus:

- the schema's fields as typed columns (``map(schema=...)``, ``extract``), or one text column
  ``into`` (``map`` without a schema; default ``"ai_output"``), or the label column (``classify``);
- ``ai_error``: None on success, else ``"ErrorType: message"`` (a row that fails after retries, or
  was skipped by the budget);
- with ``with_meta=True``: ``ai_input_tokens``, ``ai_output_tokens``, ``ai_cost_usd``, ``ai_cached``,
  ``ai_latency_s``, ``ai_attempts``.

``out.attrs["aikit"]`` records the lineage: operation, template, system prompt, model, cache-key
version, counts, cost, and the earlier runs of a chain under ``"history"``. ``ai=None`` uses
``aikit.AI("local")`` (see :func:`aikit._batch.api.default_ai`).

>>> import aikit, pandas as pd  # doctest: +SKIP
>>> df = pd.DataFrame({"subject": ["Refund please"], "content": ["I was charged twice"]})  # doctest: +SKIP
>>> out = df.ai.map("Classify the tone: {subject}\\n{content}", ai=ai,  # doctest: +SKIP
...                 schema={"type": "object", "properties": {"tone": {"enum": ["pos", "neu", "neg"]}},
...                         "required": ["tone"]})
>>> out[["subject", "tone", "ai_error"]]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from aikit._batch.api import _Batch, aestimate
from aikit._batch.progress import ProgressView
from aikit._batch.result import BatchEstimate, BatchResult, RowResult, meta_columns
from aikit._batch.run import OnError
from aikit._batch.template import Template
from aikit.exceptions import ConfigError

__all__ = ["DEFAULT_INTO", "AIAccessor", "result_frame"]

#: The text column written by ``map`` without a schema.
DEFAULT_INTO = "ai_output"


def _json_schema(schema: Any) -> dict[str, Any] | None:
    if schema is None:
        return None
    if isinstance(schema, Mapping):
        return dict(schema)
    inner = getattr(schema, "json_schema", None)  # an aikit.client.schema.OutputSchema
    if isinstance(inner, Mapping):
        return dict(inner)
    to_schema = getattr(schema, "model_json_schema", None)
    if callable(to_schema):
        result: dict[str, Any] = to_schema()
        return result
    raise ConfigError(f"schema must be a JSON Schema dict or a pydantic model class, got {schema!r}")


def _resolve(prop: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` and unwrap ``anyOf [X, null]`` (pydantic's Optional)."""
    for _ in range(8):
        ref = prop.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            node: Any = root
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, Mapping) else {}
            prop = node if isinstance(node, Mapping) else {}
            continue
        options = prop.get("anyOf") or prop.get("oneOf")
        if isinstance(options, list):
            real = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            if len(real) == 1:
                prop = real[0]
                continue
        break
    return prop


def _typed(values: list[Any], prop: Mapping[str, Any]) -> pd.Series | list[Any]:
    """Give a schema field's column the dtype its schema says; fall back to object on surprises."""
    enum = prop.get("enum")
    kind = prop.get("type")
    try:
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            return pd.Series(pd.Categorical(values, categories=list(dict.fromkeys(enum))))
        if kind == "integer":
            return pd.Series(values, dtype="Int64")
        if kind == "number":
            return pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
        if kind == "boolean":
            return pd.Series(values, dtype="boolean")
        if kind == "string" and prop.get("format") in ("date", "date-time"):
            return pd.Series(pd.to_datetime(values, errors="coerce"))
    except (TypeError, ValueError):
        pass
    return pd.Series(values, dtype=object)


def _as_dict(data: Any) -> Any:
    dump = getattr(data, "model_dump", None)
    return dump() if callable(dump) else data


def result_frame(
    df: pd.DataFrame,
    result: BatchResult,
    *,
    schema: Any = None,
    into: str | None = None,
    with_meta: bool = False,
    lineage: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Join a batch result onto a copy of ``df``: output columns, ``ai_error``, meta, lineage."""
    out = df.copy()
    rows = result.rows
    columns: dict[str, Any] = {}
    json_schema = _json_schema(schema)
    props = json_schema.get("properties") if json_schema is not None else None
    if json_schema is not None and into is None and isinstance(props, Mapping) and props:
        datas = [_as_dict(r.data) if r.ok else None for r in rows]
        for name, prop in props.items():
            values = [d.get(name) if isinstance(d, Mapping) else None for d in datas]
            spec = _resolve(prop, json_schema) if isinstance(prop, Mapping) else {}
            columns[str(name)] = _typed(values, spec)
    elif json_schema is not None:
        columns[into or DEFAULT_INTO] = pd.Series([_as_dict(r.data) for r in rows], dtype=object)
    else:
        columns[into or DEFAULT_INTO] = pd.Series([r.text for r in rows], dtype=object)
    columns["ai_error"] = pd.Series(result.errors, dtype=object)
    if with_meta:
        meta = meta_columns(rows)
        for name, values in meta.items():
            dtype = (
                "float64"
                if name in ("ai_cost_usd", "ai_latency_s")
                else ("boolean" if name == "ai_cached" else "Int64")
            )
            columns[name] = pd.Series(values, dtype=dtype)
    for name, series in columns.items():
        if isinstance(series, pd.Series):  # keep the dtype (pandas 3 would infer str from object)
            out[name] = pd.Series(series.array, index=df.index, name=name, dtype=series.dtype)
        else:
            out[name] = pd.Series(series, index=df.index, name=name, dtype=object)
    info = dict(lineage or {})
    info.update(
        {
            "model": result.model,
            "cache_key_version": _key_version(),
            "counts": result.state.counts(),
            "calls": result.calls,
            "cost_usd": result.cost_usd,
            "input_tokens": result.state.input_tokens,
            "output_tokens": result.state.output_tokens,
            "elapsed_s": round(result.elapsed_s, 3),
            "columns": list(columns),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    previous = df.attrs.get("aikit")
    history: list[Any] = []
    if isinstance(previous, Mapping):
        history = [*previous.get("history", []), {k: v for k, v in previous.items() if k != "history"}]
    info["history"] = history
    out.attrs["aikit"] = info
    return out


def _key_version() -> int | None:
    try:
        from aikit.client.cache import CACHE_KEY_VERSION
    except ImportError:  # pragma: no cover
        return None
    return CACHE_KEY_VERSION


@pd.api.extensions.register_dataframe_accessor("ai")
class AIAccessor:
    """The ``df.ai`` namespace: ``map``, ``classify``, ``extract``, ``estimate`` and their async twins.

    Every method takes ``ai=`` (an ``aikit.AI``, an ``AsyncAI``, a ``"provider:model"`` string, or None
    for ``aikit.AI("local")``). Batch options shared by all: ``system``, ``temperature``,
    ``max_tokens``, ``on_error`` ("keep" or "raise"), ``budget_usd``, ``with_meta``, ``progress``
    (None auto, True, False), ``concurrency``, ``cache`` ("use", "refresh", "read_only", "off") and any
    extra sampling parameter.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    # -- the shared driver ---------------------------------------------------------------------
    def _job(
        self,
        template: str | Template,
        *,
        operation: str,
        ai: Any,
        schema: Any,
        into: str | None,
        system: str | None,
        temperature: float | None,
        max_tokens: int | None,
        on_error: OnError,
        budget_usd: float | None,
        with_meta: bool,
        progress: bool | str | ProgressView | None,
        concurrency: int | None,
        cache: str,
        params: dict[str, Any],
        wrap: Any = None,
    ) -> tuple[_Batch, dict[str, Any]]:
        tpl = template if isinstance(template, Template) else Template(template)
        prompts: list[Any] = tpl.render_frame(self._df)  # raises before any call on a missing column
        if wrap is not None:
            prompts = [wrap(p) for p in prompts]
        job = _Batch(
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
            title=f"df.ai.{operation}",
        )
        lineage = {"operation": operation, "template": tpl.text, "system": system}
        return job, lineage

    def map(
        self,
        template: str | Template,
        *,
        ai: Any = None,
        schema: Any = None,
        into: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """One AI call per row; the answers as new columns of a copy of the DataFrame.

        Parameters
        ----------
        template : str
            The prompt, with ``{column}`` placeholders (``{{``/``}}`` for literal braces).
        schema : dict or pydantic model class, optional
            Structured output: each field becomes a typed column (enum -> categorical, integer ->
            Int64, number -> float64, boolean -> boolean). Without a schema the text goes to ``into``.
        into : str, optional
            The output column for text (default ``"ai_output"``); with a schema, the column that holds
            the whole parsed object instead of one column per field.

        Returns
        -------
        pandas.DataFrame
            The input's columns and index, plus the outputs and ``ai_error``.

        Examples
        --------
        >>> out = df.ai.map("Summarise: {content}", ai=ai, into="summary")  # doctest: +SKIP
        >>> out[["summary", "ai_error"]].head()  # doctest: +SKIP
        """
        job, lineage = self._job(
            template,
            operation="map",
            ai=ai,
            schema=schema,
            into=into,
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
            on_error=on_error,
            budget_usd=budget_usd,
            with_meta=with_meta,
            progress=progress,
            concurrency=concurrency,
            cache=cache,
            params=params,
        )
        result = job.run_sync()
        return result_frame(self._df, result, schema=schema, into=into, with_meta=with_meta, lineage=lineage)

    async def amap(
        self,
        template: str | Template,
        *,
        ai: Any = None,
        schema: Any = None,
        into: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """Async :meth:`map` (``out = await df.ai.amap(...)``), same arguments and result."""
        job, lineage = self._job(
            template,
            operation="map",
            ai=ai,
            schema=schema,
            into=into,
            system=system,
            temperature=temperature,
            max_tokens=max_tokens,
            on_error=on_error,
            budget_usd=budget_usd,
            with_meta=with_meta,
            progress=progress,
            concurrency=concurrency,
            cache=cache,
            params=params,
        )
        result = await job.run_async()
        return result_frame(self._df, result, schema=schema, into=into, with_meta=with_meta, lineage=lineage)

    @staticmethod
    def _classifier(
        labels: Sequence[str], examples: Any, task: str | None, system: str | None
    ) -> tuple[dict[str, Any], Any]:
        """The enum schema and a prompt -> messages function (few-shot turns from aikit._batch.labels)."""
        from aikit._batch.labels import classification_messages, classification_schema

        schema = classification_schema(labels)
        names = list(labels)

        def wrap(text: str) -> list[dict[str, str]]:
            messages = classification_messages(text, names, task=task, examples=examples)
            if system is not None:
                messages[0] = {"role": "system", "content": system}
            return messages

        return schema, wrap

    def classify(
        self,
        template: str | Template,
        labels: Sequence[str],
        *,
        ai: Any = None,
        into: str = "ai_label",
        examples: Mapping[str, str | Sequence[str]] | None = None,
        task: str | None = None,
        system: str | None = None,
        temperature: float | None = 0,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """Put each row in exactly one of ``labels``; the label goes to the categorical column ``into``.

        Each row is sent as a chat (:func:`aikit._batch.labels.classification_messages`): a system prompt
        listing the labels (``system=`` replaces it; ``task=`` says what is classified, e.g. "the
        customer's sentiment"), one few-shot turn per label (built-in examples for common labels, or
        ``examples={label: text or [texts]}``), then the row's text; the answer is constrained by an
        enum schema over the labels.

        >>> out = df.ai.classify("{content}", labels=["billing", "bug", "other"], ai=ai,  # doctest: +SKIP
        ...                      into="category")
        >>> out["category"].value_counts()  # doctest: +SKIP
        """
        job, lineage = self._classify_job(
            template, labels, ai, examples, task, system, temperature, max_tokens, on_error,
            budget_usd, with_meta, progress, concurrency, cache, params,
        )  # fmt: skip
        result = job.run_sync()
        return self._label_frame(result, labels, into, with_meta, lineage)

    async def aclassify(
        self,
        template: str | Template,
        labels: Sequence[str],
        *,
        ai: Any = None,
        into: str = "ai_label",
        examples: Mapping[str, str | Sequence[str]] | None = None,
        task: str | None = None,
        system: str | None = None,
        temperature: float | None = 0,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """Async :meth:`classify`."""
        job, lineage = self._classify_job(
            template, labels, ai, examples, task, system, temperature, max_tokens, on_error,
            budget_usd, with_meta, progress, concurrency, cache, params,
        )  # fmt: skip
        result = await job.run_async()
        return self._label_frame(result, labels, into, with_meta, lineage)

    def _classify_job(
        self,
        template: str | Template,
        labels: Sequence[str],
        ai: Any,
        examples: Mapping[str, str | Sequence[str]] | None,
        task: str | None,
        system: str | None,
        temperature: float | None,
        max_tokens: int | None,
        on_error: OnError,
        budget_usd: float | None,
        with_meta: bool,
        progress: bool | str | ProgressView | None,
        concurrency: int | None,
        cache: str,
        params: dict[str, Any],
    ) -> tuple[_Batch, dict[str, Any]]:
        """The batch job and lineage of :meth:`classify` / :meth:`aclassify` (one place for both)."""
        schema, wrap = self._classifier(labels, examples, task, system)
        job, lineage = self._job(
            template,
            operation="classify",
            ai=ai,
            schema=schema,
            into=None,
            system=None,
            temperature=temperature,
            max_tokens=max_tokens,
            on_error=on_error,
            budget_usd=budget_usd,
            with_meta=with_meta,
            progress=progress,
            concurrency=concurrency,
            cache=cache,
            params=params,
            wrap=wrap,
        )
        lineage["labels"] = list(labels)
        return job, lineage

    def _label_frame(
        self,
        result: BatchResult,
        labels: Sequence[str],
        into: str,
        with_meta: bool,
        lineage: dict[str, Any],
    ) -> pd.DataFrame:
        schema = {"type": "object", "properties": {into: {"type": "string", "enum": list(labels)}}}
        relabelled = BatchResult(
            rows=[r if not r.ok else _relabel(r, into) for r in result.rows],
            model=result.model,
            calls=result.calls,
            elapsed_s=result.elapsed_s,
            state=result.state,
        )
        return result_frame(self._df, relabelled, schema=schema, with_meta=with_meta, lineage=lineage)

    def extract(
        self,
        template: str | Template,
        schema: Any,
        *,
        ai: Any = None,
        system: str | None = None,
        temperature: float | None = 0,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """Extract structured fields from each row: one typed column per field of ``schema``.

        >>> class Order(pydantic.BaseModel):  # doctest: +SKIP
        ...     order_id: str
        ...     amount: float | None
        >>> out = df.ai.extract("{content}", schema=Order, ai=ai)  # doctest: +SKIP
        """
        if schema is None:
            raise ConfigError("extract() needs schema= (a pydantic model class or a JSON Schema dict)")
        return self.map(
            template,
            ai=ai,
            schema=schema,
            system=system or "Extract the requested fields from the text. Use null when a field is absent.",
            temperature=temperature,
            max_tokens=max_tokens,
            on_error=on_error,
            budget_usd=budget_usd,
            with_meta=with_meta,
            progress=progress,
            concurrency=concurrency,
            cache=cache,
            **params,
        )

    async def aextract(
        self,
        template: str | Template,
        schema: Any,
        *,
        ai: Any = None,
        system: str | None = None,
        temperature: float | None = 0,
        max_tokens: int | None = None,
        on_error: OnError = "keep",
        budget_usd: float | None = None,
        with_meta: bool = False,
        progress: bool | str | ProgressView | None = None,
        concurrency: int | None = None,
        cache: str = "use",
        **params: Any,
    ) -> pd.DataFrame:
        """Async :meth:`extract`."""
        if schema is None:
            raise ConfigError("aextract() needs schema= (a pydantic model class or a JSON Schema dict)")
        return await self.amap(
            template,
            ai=ai,
            schema=schema,
            system=system or "Extract the requested fields from the text. Use null when a field is absent.",
            temperature=temperature,
            max_tokens=max_tokens,
            on_error=on_error,
            budget_usd=budget_usd,
            with_meta=with_meta,
            progress=progress,
            concurrency=concurrency,
            cache=cache,
            **params,
        )

    def estimate(
        self,
        template: str | Template,
        *,
        ai: Any = None,
        schema: Any = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **params: Any,
    ) -> BatchEstimate:
        """Rows, rows already cached, calls to make, estimated tokens and cost; makes no call.

        Pass the same arguments as the ``map`` you plan, so the cache keys match.

        >>> df.ai.estimate("Summarise: {content}", ai=ai, max_tokens=60)  # doctest: +SKIP
        BatchEstimate(openai:gpt-4o-mini: 600 rows, 0 already cached, 600 calls to make, ...)
        """
        from aikit._runtime import run_sync

        return run_sync(
            self.aestimate(
                template,
                ai=ai,
                schema=schema,
                system=system,
                temperature=temperature,
                max_tokens=max_tokens,
                **params,
            )
        )

    async def aestimate(
        self,
        template: str | Template,
        *,
        ai: Any = None,
        schema: Any = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **params: Any,
    ) -> BatchEstimate:
        """Async :meth:`estimate`."""
        tpl = template if isinstance(template, Template) else Template(template)
        prompts = tpl.render_frame(self._df)
        return await aestimate(
            prompts,
            ai,
            system=system,
            schema=schema,
            temperature=temperature,
            max_tokens=max_tokens,
            **params,
        )


def _relabel(row: Any, into: str) -> Any:
    data = _as_dict(row.data)
    label = data.get("label") if isinstance(data, Mapping) else None
    response = row.response.replace(data={into: label})
    return RowResult(response=response, error=row.error, exception=row.exception, skipped=row.skipped)
