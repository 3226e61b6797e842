"""The nearest labelled rows of each row (TF-IDF cosine in numpy) and their majority vote.

``df.ai.classify(..., examples=labelled_df)`` teaches the model with the business's own past labels:
each row's few-shot examples are its ``k`` most similar labelled rows. Similarity is lexical (TF-IDF
with scikit-learn's smoothed idf ``log((1+n)/(1+df)) + 1``, rows L2-normalised, cosine), which needs no
model, is deterministic and suits tickets whose labels follow their words.

Two rules keep the examples honest (``shared/reference/labels.md`` §3, §6):

- a row never gets **itself** as an example (same index label, or the very same text), and
- never a labelled row with the **same subject line** (its first line): on templated data those are
  near-copies, and copying them scores well without understanding anything.

The examples' own majority vote is returned next to them, because it is the baseline the model must
beat: on the demo CRM's tickets the vote alone scored as well as the model with those examples.

>>> pool = ["refund my invoice", "invoice charged twice", "app crashes when saving", "crash report"]
>>> nearest(["invoice charged twice again"], pool, k=2)  # the nearest last
[[0, 1]]
>>> majority_vote([["a", "b", "a"]])
[('a', 0.6666666666666666)]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["majority_vote", "nearest", "subject_line", "tfidf"]

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if len(t) > 1]


def subject_line(text: str) -> str:
    """The first non-empty line, lower-cased, without a ``Subject:`` prefix or extra spaces.

    >>> subject_line("Subject:  Charged TWICE \\nbody")
    'charged twice'
    """
    for line in text.splitlines():
        line = line.strip()
        if line:
            line = re.sub(r"^subject\s*:\s*", "", line, flags=re.IGNORECASE)
            return " ".join(line.lower().split())
    return ""


def tfidf(docs: Sequence[str], vocabulary: dict[str, int] | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """L2-normalised TF-IDF rows of ``docs`` (the vocabulary and idf come from ``docs`` when not given)."""
    toks = [_tokens(d) for d in docs]
    vocab = vocabulary if vocabulary is not None else {}
    if vocabulary is None:
        for words in toks:
            for w in words:
                vocab.setdefault(w, len(vocab))
    counts = np.zeros((len(docs), max(1, len(vocab))), dtype=np.float64)
    for i, words in enumerate(toks):
        for w, c in Counter(words).items():
            j = vocab.get(w)
            if j is not None:
                counts[i, j] = c
    return counts, vocab


def _normalised(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def nearest(
    queries: Sequence[str],
    pool: Sequence[str],
    *,
    k: int = 4,
    query_ids: Sequence[Hashable] | None = None,
    pool_ids: Sequence[Hashable] | None = None,
    query_groups: Sequence[Hashable] | None = None,
    pool_groups: Sequence[Hashable] | None = None,
    sims: np.ndarray | None = None,
) -> list[list[int]]:
    """Per query, the indices of its ``k`` nearest pool texts, **least similar first, nearest last**.

    Excluded for each query: pool entries with the same id (``query_ids``/``pool_ids``), the same text,
    the same :func:`subject_line`, or the same group (``query_groups``/``pool_groups``: a thread, a
    customer, a template; missing groups match nothing). Ties keep the pool's order. Fewer than ``k``
    when the pool runs out. ``sims`` (queries x pool) replaces the TF-IDF cosine similarities, e.g. with
    embedding similarities: the exclusion rules stay the same.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    n = len(pool)
    if sims is None:
        pool_counts, vocab = tfidf(pool)
        doc_freq = (pool_counts > 0).sum(axis=0)
        idf = np.log((1 + n) / (1 + doc_freq)) + 1.0
        pool_m = _normalised(pool_counts * idf)
        query_m = _normalised(tfidf(queries, vocab)[0] * idf)
        sims = query_m @ pool_m.T if n else np.zeros((len(queries), 0))
    elif sims.shape != (len(queries), n):
        raise ValueError(f"sims has shape {sims.shape}, expected {(len(queries), n)}")
    pool_subjects = [subject_line(t) for t in pool]
    out: list[list[int]] = []
    for qi, text in enumerate(queries):
        subject = subject_line(text)
        qid = query_ids[qi] if query_ids is not None else None
        group = query_groups[qi] if query_groups is not None else None
        order = np.argsort(-sims[qi], kind="stable")
        chosen: list[int] = []
        for j in order.tolist():
            if pool[j] == text or (subject and pool_subjects[j] == subject):
                continue
            if qid is not None and pool_ids is not None and pool_ids[j] == qid:
                continue
            if group is not None and pool_groups is not None and pool_groups[j] == group:
                continue
            chosen.append(j)
            if len(chosen) == k:
                break
        out.append(chosen[::-1])
    return out


def majority_vote(neighbour_labels: Sequence[Sequence[str]]) -> list[tuple[str | None, float]]:
    """Per row, the most common label among its neighbours and the share that gave it.

    Ties go to the label of the nearer example (the lists are ordered nearest last).
    """
    out: list[tuple[str | None, float]] = []
    for labels in neighbour_labels:
        if not labels:
            out.append((None, math.nan))
            continue
        counts = Counter(labels)
        top = max(counts.values())
        winner = next(lab for lab in reversed(labels) if counts[lab] == top)
        out.append((winner, top / len(labels)))
    return out
