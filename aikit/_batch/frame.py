"""The DataFrame a batch gives back: the input's columns plus typed answer columns, errors and lineage.

:func:`result_frame` joins a :class:`~aikit._batch.result.BatchResult` onto a copy of the input
(aligned on its index; the input is never changed):

- a schema's fields become typed columns (enum -> categorical, integer -> Int64, number -> float64,
  boolean -> boolean, date strings -> datetime), or one text column ``into`` without a schema;
- ``ai_error`` holds None or ``"ErrorType: message"``; ``with_meta=True`` adds tokens, cost, cached,
  latency and attempts per row;
- ``out.attrs["aikit"]`` records the lineage (operation, template, model, counts, cost, and the
  earlier runs of a chain under ``"history"``).

:func:`label_frame` does the same for ``df.ai.classify`` (the label in one categorical column).

>>> str(_typed([1, None], {"type": "integer"}).dtype), str(_typed(["a", None], {"enum": ["a", "b"]}).dtype)
('Int64', 'category')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from aikit._batch.result import BatchResult, RowResult, meta_columns
from aikit.exceptions import ConfigError

__all__ = ["DEFAULT_INTO", "label_frame", "result_frame"]

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
    if with_meta or " -> " in result.model:  # a fallback chain: which model answered each row
        columns["ai_model"] = pd.Series(
            [r.response.model if r.response else None for r in rows], dtype=object
        )
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


def label_frame(
    df: pd.DataFrame,
    result: BatchResult,
    labels: Sequence[str],
    into: str,
    *,
    with_meta: bool,
    lineage: Mapping[str, Any],
) -> pd.DataFrame:
    """:func:`result_frame` for ``classify``: each answer's label in the categorical column ``into``."""
    schema = {"type": "object", "properties": {into: {"type": "string", "enum": list(labels)}}}
    relabelled = BatchResult(
        rows=[r if not r.ok else _relabel(r, into) for r in result.rows],
        model=result.model,
        calls=result.calls,
        elapsed_s=result.elapsed_s,
        state=result.state,
    )
    return result_frame(df, relabelled, schema=schema, with_meta=with_meta, lineage=lineage)


def _relabel(row: Any, into: str) -> Any:
    data = _as_dict(row.data)
    label = data.get("label") if isinstance(data, Mapping) else None
    response = row.response.replace(data={into: label})
    return RowResult(response=response, error=row.error, exception=row.exception, skipped=row.skipped)
