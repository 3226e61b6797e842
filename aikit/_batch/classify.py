"""``df.ai.classify``: one label per row, with a confidence, and optionally taught by labelled rows.

The job builder :func:`classify` is what :mod:`aikit._batch.accessor` turns into ``df.ai.classify``.
Each row becomes one chat (:func:`aikit._batch.labels.classification_messages`); how its label is read
depends on the provider (:func:`aikit._batch.scoring.scoring_mode`):

- the embedded llama.cpp model: the chat ends with the assistant's ``{"label":"`` and one token is
  asked for with ``logprobs``; the label is the most probable one (one short call per row);
- OpenAI and OpenAI-compatible servers: the enum-schema answer, asked with ``logprobs``, and the
  label's probability read at its first token;
- Anthropic: the enum-schema answer; Anthropic returns no token probabilities, so the confidence
  column stays empty (NaN) rather than holding an invented number.

With ``examples=labelled_df`` each row's few-shot turns are its nearest labelled rows
(:mod:`aikit._batch.neighbours`), and their majority vote is reported in ``<into>_vote`` next to the
model's answer, so the vote can be scored too (``df.ai.evaluate`` says when the model adds nothing
over it, and then the vote is the cheaper answer). ``similarity="embed"`` picks those rows by
embedding similarity instead of TF-IDF (the client's ``embed``: the embedded e5 model on ``local``,
whose texts get the ``"query: "`` prefix e5 was trained with), and ``answer="vote"`` makes the vote
the answer: no chat call at all, the vote's share as the confidence.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aikit import _runtime
from aikit._batch.frame import label_frame
from aikit._batch.job import BatchJob, Job, async_client, then
from aikit._batch.labels import classification_messages, classification_schema
from aikit._batch.neighbours import majority_vote, nearest
from aikit._batch.result import BatchResult, RowResult
from aikit._batch.scoring import label_probabilities, prefill_turn, scoring_mode
from aikit._batch.similarity import normalized
from aikit._batch.template import Template
from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit._batch.options import BatchOptions
    from aikit.client import AI, AsyncAI

__all__ = ["classify"]

#: Candidate tokens asked for at the label position (OpenAI's maximum; llama.cpp's default).
TOP_LOGPROBS = 20
#: Retrieved examples are cut to this many characters (at a word): the row itself is sent whole, but
#: on a CPU model every example token costs prompt time (4 whole tickets made a row take 3.6 s).
EXAMPLE_CHARS = 240
#: What e5 models expect before a text compared symmetrically with others (their model card).
E5_PREFIX = "query: "
SIMILARITIES = ("tfidf", "embed")
ANSWERS = ("model", "vote")


def _cut(text: str, limit: int = EXAMPLE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " ..."


def _answer(label: str) -> str:
    return json.dumps({"label": label}, separators=(",", ":"))


def _groups(df: pd.DataFrame, column: str | None, what: str) -> list[Any] | None:
    if column is None:
        return None
    if column not in df.columns:
        raise ConfigError(
            f"example_group={column!r} is not a column of {what} (its columns: {list(df.columns)})"
        )
    return [None if pd.isna(v) else v for v in df[column].tolist()]


def _examples_from_frame(
    labelled: pd.DataFrame, tpl: Template, labels: Sequence[str], label_column: str
) -> tuple[list[str], list[str], list[Any]]:
    if label_column not in labelled.columns:
        raise ConfigError(
            f"examples= has no label column {label_column!r} (its columns: {list(labelled.columns)}); "
            "name it with example_label='...'"
        )
    keep = labelled[label_column].notna()
    rows = labelled[keep]
    values = [str(v) for v in rows[label_column].tolist()]
    unknown = sorted(set(values) - set(labels))
    if unknown:
        raise ConfigError(
            f"examples= column {label_column!r} has labels that are not in labels=: {unknown}; "
            f"map or drop them first (labels: {list(labels)})"
        )
    if not values:
        raise ConfigError(f"examples= has no labelled rows in {label_column!r}")
    return tpl.render_frame(rows), values, list(rows.index)


def _embedding_sims(ai: Any, queries: Sequence[str], pool: Sequence[str]) -> np.ndarray:
    """Cosine similarities (queries x pool) of the client's embeddings; cached per text."""
    aio = async_client(ai)
    prefix = E5_PREFIX if aio.spec.provider == "local" else ""
    texts = [prefix + t for t in [*queries, *pool]]
    m = normalized(_runtime.run_sync(aio.aembed(texts)))
    return np.asarray(m[: len(queries)] @ m[len(queries) :].T, dtype=np.float64)


def _vote_frame(
    df: pd.DataFrame, votes: list[tuple[str | None, float]], *, labels: list[str], into: str,
    lineage: dict[str, Any],
) -> pd.DataFrame:  # fmt: skip
    """``answer="vote"``: the examples' vote is the label, its share the confidence; no model call."""
    out = df.copy()
    label = pd.Categorical([v for v, _ in votes], categories=labels)
    share = pd.Series([s for _, s in votes], index=df.index, dtype="float64")
    out[into] = pd.Series(label, index=df.index)
    out[f"{into}_confidence"] = share
    out[f"{into}_vote"] = pd.Series(label, index=df.index)
    out[f"{into}_vote_share"] = share
    out["ai_error"] = pd.Series(
        [None if v is not None else "no labelled example to vote" for v, _ in votes], index=df.index,
        dtype=object,
    )  # fmt: skip
    columns = [into, f"{into}_confidence", f"{into}_vote", f"{into}_vote_share", "ai_error"]
    out.attrs["aikit"] = {
        **lineage, "model": None, "calls": 0, "cost_usd": 0.0, "columns": columns, "scoring": "vote",
        "median_label_mass": None, "vote_agreement": 1.0,
    }  # fmt: skip
    return out


class _Ready:
    """A job whose value is already computed (``answer="vote"``), sync or awaited alike."""

    def __init__(self, value: pd.DataFrame) -> None:
        self.value = value

    def run_sync(self) -> pd.DataFrame:
        return self.value

    async def run_async(self) -> pd.DataFrame:
        return self.value


def _labelled_rows(labelled: pd.DataFrame, label_column: str) -> pd.DataFrame:
    return labelled[labelled[label_column].notna()] if label_column in labelled.columns else labelled


def _confidence_frame(
    df: pd.DataFrame,
    result: BatchResult,
    *,
    labels: list[str],
    into: str,
    mode: str,
    with_meta: bool,
    lineage: dict[str, Any],
    votes: list[tuple[str | None, float]] | None,
) -> pd.DataFrame:
    rows: list[RowResult] = []
    confidence: list[float] = []
    masses: list[float] = []
    for row in result.rows:
        if not row.ok or row.response is None:
            rows.append(row)
            confidence.append(math.nan)
            masses.append(math.nan)
            continue
        probs, mass = label_probabilities(row.response.logprobs, labels, prefilled=mode == "prefill")
        if mode == "prefill":
            label = labels[max(range(len(labels)), key=lambda i: probs[i])] if probs else None
        else:
            data = row.response.data
            label = data.get("label") if isinstance(data, Mapping) else None
        conf = probs[labels.index(label)] if probs is not None and label in labels else math.nan
        confidence.append(conf)
        masses.append(mass if probs is not None else math.nan)
        response = row.response.replace(data={"label": label})
        rows.append(
            RowResult(response=response, error=row.error, exception=row.exception, skipped=row.skipped)
        )
    scored = BatchResult(
        rows=rows, model=result.model, calls=result.calls, elapsed_s=result.elapsed_s, state=result.state
    )
    out = label_frame(df, scored, labels=labels, into=into, with_meta=with_meta, lineage=lineage)
    extra = {f"{into}_confidence": pd.Series(confidence, index=df.index, dtype="float64")}
    if votes is not None:
        extra[f"{into}_vote"] = pd.Series(
            pd.Categorical([v for v, _ in votes], categories=labels), index=df.index
        )
        extra[f"{into}_vote_share"] = pd.Series([s for _, s in votes], index=df.index, dtype="float64")
    position = list(out.columns).index(into) + 1
    for offset, (name, series) in enumerate(extra.items()):
        out.insert(position + offset, name, series)
    info = out.attrs["aikit"]
    info["columns"] = [*info["columns"], *extra]
    info["scoring"] = mode
    known = [m for m in masses if not math.isnan(m)]
    info["median_label_mass"] = float(pd.Series(known).median()) if known else None
    if votes is not None:
        agree = sum(1 for (v, _), lab in zip(votes, out[into].tolist(), strict=True) if v == lab)
        info["vote_agreement"] = agree / len(votes) if votes else None
    return out


def classify(
    df: pd.DataFrame,
    template: str | Template,
    labels: Sequence[str],
    *,
    ai: AI | AsyncAI | str | None = None,
    into: str = "ai_label",
    examples: Mapping[str, str | Sequence[str]] | pd.DataFrame | None = None,
    example_label: str | None = None,
    example_group: str | None = None,
    k: int = 4,
    similarity: str = "tfidf",
    answer: str = "model",
    task: str | None = None,
    options: BatchOptions,
) -> Job[pd.DataFrame]:
    """Put each row in exactly one of ``labels``, with the model's confidence in that label.

    Each row is sent as a chat (:func:`aikit._batch.labels.classification_messages`): a system prompt
    listing the labels (``system=`` replaces it; ``task=`` says what is classified, e.g. "the
    customer's sentiment"), few-shot turns, then the row's text. The confidence is the label's
    probability from the model's token log-probabilities, renormalised over the labels: on the
    embedded model and on OpenAI-compatible servers that return logprobs. **Anthropic returns no
    token probabilities**: there the confidence column is left empty (NaN), never invented.

    A small model's confidence ranks rows but is usually overconfident; pick a threshold on rows whose
    right label you know (``df.ai.evaluate(...).by_confidence()``), and no calibration is applied
    behind your back (on the embedded model every calibration tried made accuracy worse).

    Parameters
    ----------
    template : str or Template
        The text to classify, with ``{column}`` placeholders.
    labels : list of str
        Two or more distinct labels; the column's categories, in this order.
    ai : aikit.AI, AsyncAI, "provider:model" or None
        The client; None uses ``aikit.AI("local")``, the embedded offline model.
    into : str
        The label column; ``<into>_confidence`` (0-1, NaN when unknown) is added next to it.
    examples : dict or DataFrame, optional
        A dict ``{label: text or [texts]}`` replaces the built-in few-shot texts. A DataFrame of
        labelled rows (the template's columns plus a label column) gives each row its ``k`` most
        similar labelled rows as examples (TF-IDF; never the row itself, never a row with the same
        subject line; each cut to its first 240 characters), and adds ``<into>_vote`` /
        ``<into>_vote_share``: those examples' majority vote.
    example_label : str, optional
        The label column of an ``examples`` DataFrame (default: ``into``).
    example_group : str, optional
        A column of both frames (a thread, a customer, a template id): a row never gets an example
        from its own group, so a measured accuracy is not inflated by near-copies.
    k : int
        Examples per row with an ``examples`` DataFrame.
    similarity : "tfidf" or "embed"
        How an ``examples`` DataFrame's rows are matched: TF-IDF over words (free, instant), or the
        client's embeddings (``ai.embed``; on ``local`` the embedded e5 model, about 0.1-0.2 s per
        text once, then cached): paraphrases that share few words are still found. The vectors are
        fetched when the job is built, blocking as ``df.ai.similar`` does, even under ``aclassify``.
    answer : "model" or "vote"
        ``"vote"`` (needs an ``examples`` DataFrame): the examples' majority vote is the label and
        its share the confidence, with no chat call; the cheaper answer when ``df.ai.evaluate`` says
        the model adds nothing over its examples' vote.
    task : str, optional
        What is classified, for the system prompt ("the customer's sentiment").

    Returns
    -------
    pandas.DataFrame
        The input's columns and index, plus ``into`` (categorical over ``labels``),
        ``<into>_confidence`` and ``ai_error`` (and the vote columns with an examples DataFrame).

    Examples
    --------
    >>> out = df.ai.classify("{content}", labels=["billing", "bug", "other"], ai=ai,  # doctest: +SKIP
    ...                      into="category", examples=history, example_label="category")
    >>> out[["category", "category_confidence", "category_vote"]].head()  # doctest: +SKIP
    """
    names = [str(label) for label in labels] if not isinstance(labels, str) else []
    if similarity not in SIMILARITIES:
        raise ConfigError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    if answer not in ANSWERS:
        raise ConfigError(f"answer must be one of {ANSWERS}, got {answer!r}")
    if answer == "vote" and not isinstance(examples, pd.DataFrame):
        raise ConfigError('answer="vote" needs examples= as a DataFrame of labelled rows to vote')
    schema = classification_schema(labels)
    tpl = template if isinstance(template, Template) else Template(template)
    texts = tpl.render_frame(df)
    mode = scoring_mode(async_client(ai).spec.provider)
    votes: list[tuple[str | None, float]] | None = None
    per_row: list[list[dict[str, str]] | None] = [None] * len(texts)
    mapping: Mapping[str, str | Sequence[str]] | None = None
    if isinstance(examples, pd.DataFrame):
        label_column = example_label or into
        pool, pool_labels, pool_ids = _examples_from_frame(examples, tpl, names, label_column)
        sims = _embedding_sims(ai, texts, pool) if similarity == "embed" and texts and pool else None
        near = nearest(
            texts, pool, k=k, query_ids=list(df.index), pool_ids=pool_ids,
            query_groups=_groups(df, example_group, "the rows"),
            pool_groups=_groups(_labelled_rows(examples, label_column), example_group, "examples="),
            sims=sims,
        )  # fmt: skip
        votes = majority_vote([[pool_labels[j] for j in idx] for idx in near])
        if answer == "vote":
            lineage = {"operation": "classify", "template": tpl.text, "system": None, "labels": names,
                       "examples": "frame", "similarity": similarity, "answer": "vote"}  # fmt: skip
            return _Ready(_vote_frame(df, votes, labels=names, into=into, lineage=lineage))
        for i, idx in enumerate(near):
            per_row[i] = [
                turn
                for j in idx
                for turn in (
                    {"role": "user", "content": f"Message: {_cut(pool[j])}"},
                    {"role": "assistant", "content": _answer(pool_labels[j])},
                )
            ]
    elif examples is not None:
        mapping = examples
    system = options.system
    prompts: list[Any] = []
    for i, text in enumerate(texts):
        own = per_row[i]
        messages = classification_messages(text, names, task=task, examples=mapping, few_shot=own is None)
        if own is not None:
            messages[1:1] = own
        if system is not None:
            messages[0] = {"role": "system", "content": system}
        if mode == "prefill":
            messages.append(prefill_turn())
        prompts.append(messages)
    params = dict(options.params)
    if mode != "none":
        params.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
    # The system prompt travels inside each chat, so the batch itself has none.
    opts = options.replace(system=None, params=params)
    if mode == "prefill":
        opts = opts.replace(max_tokens=1)
    job = BatchJob(
        prompts, ai, schema=None if mode == "prefill" else schema, options=opts, title="df.ai.classify"
    )
    source = "frame" if votes is not None else ("given" if mapping else "built-in")
    lineage = {
        "operation": "classify",
        "template": tpl.text,
        "system": None,
        "labels": names,
        "examples": source,
        "similarity": similarity,
    }
    finish = functools.partial(
        _confidence_frame,
        df,
        labels=names,
        into=into,
        mode=mode,
        with_meta=options.with_meta,
        lineage=lineage,
        votes=votes,
    )
    return then(job, finish)
