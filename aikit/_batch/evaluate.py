"""``df.ai.evaluate(pred=, gold=)``: how far to trust a label column, measured against known labels.

:func:`evaluate` compares a predicted label column with the labels the business already has (an
agent's category, say) on the rows that have both, and returns an :class:`Evaluation`: accuracy and
macro-F1 with bootstrap 95 % intervals, per-label precision/recall/support, the confusion matrix as a
DataFrame, the majority-class baseline, and, when a confidence column is given, a coverage/accuracy
table (:meth:`Evaluation.by_confidence`) to pick the threshold above which rows are pushed unreviewed.
With a vote column (``<pred>_vote`` from ``classify(examples=...)``) it also scores the vote and says
when the model adds nothing over it.

Gold labels outside the label set are reported (``unknown_gold``), not silently dropped; rows with no
gold are counted (``missing_gold``) and left out; a misaligned or missing column is a ``ConfigError``
naming it.

>>> import pandas as pd
>>> df = pd.DataFrame({"p": ["a", "a", "b", "b"], "g": ["a", "b", "b", "b"], "c": [.9, .6, .8, .7]})
>>> ev = evaluate(df, pred="p", gold="g", confidence="c", resamples=200)
>>> ev.accuracy, ev.n, ev.baseline
(0.75, 4, 0.75)
>>> int(ev.confusion.loc["b", "a"])
1
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aikit.exceptions import ConfigError

__all__ = ["Evaluation", "evaluate", "macro_f1"]


def macro_f1(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    """Mean F1 over the labels present in gold or predictions (label indices ``0..n_labels-1``)."""
    scores = []
    for k in range(n_labels):
        tp = int(np.sum((pred == k) & (gold == k)))
        fp = int(np.sum((pred == k) & (gold != k)))
        fn = int(np.sum((pred != k) & (gold == k)))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else math.nan


def _interval(values: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass
class Evaluation:
    """The agreement of ``pred`` with ``gold`` (see :func:`evaluate`); a rich HTML view in Jupyter."""

    pred: str
    gold: str
    labels: list[str]
    n: int
    accuracy: float
    accuracy_ci: tuple[float, float]
    macro_f1: float
    macro_f1_ci: tuple[float, float]
    baseline: float
    baseline_label: str | None
    per_label: pd.DataFrame
    confusion: pd.DataFrame
    missing_gold: int = 0
    unknown_gold: dict[str, int] = field(default_factory=dict)
    vote_accuracy: float | None = None
    coverage: pd.DataFrame | None = None

    @property
    def reliable(self) -> bool:
        """True when accuracy beats always answering the most common gold label (the baseline)."""
        return self.accuracy > self.baseline

    @property
    def adds_over_vote(self) -> bool | None:
        """Whether the model beat its examples' majority vote (None without a vote column)."""
        return None if self.vote_accuracy is None else self.accuracy > self.vote_accuracy

    def by_confidence(self) -> pd.DataFrame:
        """Rows at or above each confidence threshold: how many (coverage) and how accurate."""
        if self.coverage is None:
            raise ConfigError("this evaluation has no confidence column: pass confidence='<pred>_confidence'")
        return self.coverage

    def threshold_for(self, accuracy: float) -> float | None:
        """The lowest threshold whose rows reach ``accuracy`` (None when none does)."""
        table = self.by_confidence()
        ok = table[table["accuracy"] >= accuracy]
        return float(ok["threshold"].min()) if len(ok) else None

    def notes(self) -> list[str]:
        """Plain-language sentences about what the figures mean, for a report."""
        lo, hi = self.accuracy_ci
        right = round(self.accuracy * self.n)
        out = [
            f"{right} of {self.n} rows agree with {self.gold!r} ({self.accuracy:.0%}); with this many rows "
            f"the true rate is plausibly {lo:.0%} to {hi:.0%}."
        ]
        if not self.reliable:
            out.append(
                f"Not reliable with this model: {self.accuracy:.0%} is not above the {self.baseline:.0%} of "
                f"always answering {self.baseline_label!r}."
            )
        if self.vote_accuracy is not None and not self.adds_over_vote:
            out.append(
                f"The model added nothing over its examples' majority vote ({self.accuracy:.0%} vs "
                f"{self.vote_accuracy:.0%}): the vote is the cheaper answer."
            )
        if self.unknown_gold:
            out.append(f"Gold labels outside the label set, left out: {self.unknown_gold}.")
        if self.missing_gold:
            out.append(f"{self.missing_gold} rows have no gold label and are left out.")
        return out

    def summary(self) -> dict[str, Any]:
        """The headline figures as a plain dict."""
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "accuracy_ci": self.accuracy_ci,
            "macro_f1": self.macro_f1,
            "macro_f1_ci": self.macro_f1_ci,
            "baseline": self.baseline,
            "vote_accuracy": self.vote_accuracy,
            "reliable": self.reliable,
            "missing_gold": self.missing_gold,
            "unknown_gold": dict(self.unknown_gold),
        }

    def plot(self, ax: Any = None) -> Any:
        """The confusion matrix as a heat map (matplotlib, from ``aikit[notebook]``); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(1.2 * len(self.labels) + 2.5, 1.0 * len(self.labels) + 1.5))
        m = self.confusion.to_numpy()
        ax.imshow(m, cmap="Blues")
        ax.set_xticks(range(len(self.labels)), self.labels, rotation=30, ha="right")
        ax.set_yticks(range(len(self.labels)), self.labels)
        ax.set_xlabel(f"predicted ({self.pred})")
        ax.set_ylabel(f"known ({self.gold})")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                color = "white" if m[i, j] > m.max() / 2 else "black"
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color=color)
        ax.set_title(
            f"Agreement {self.accuracy:.0%} (95% CI {self.accuracy_ci[0]:.0%}-{self.accuracy_ci[1]:.0%})"
        )
        ax.figure.tight_layout()
        return ax

    def __repr__(self) -> str:
        lo, hi = self.accuracy_ci
        return (
            f"Evaluation({self.pred} vs {self.gold}: {self.n} rows, accuracy {self.accuracy:.3f} "
            f"[{lo:.3f}, {hi:.3f}], macro-F1 {self.macro_f1:.3f}, baseline {self.baseline:.3f})"
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        lo_f, hi_f = self.macro_f1_ci
        parts = [
            f"<h4>{html.escape(self.pred)} vs {html.escape(self.gold)}</h4><ul>{notes}</ul>",
            f"<p>macro-F1 {self.macro_f1:.2f} (95% CI {lo_f:.2f}-{hi_f:.2f})</p>",
            "<p>Per label</p>",
            self.per_label.to_html(float_format=lambda x: f"{x:.2f}"),
            "<p>Confusion (rows: known, columns: predicted)</p>",
            self.confusion.to_html(),
        ]
        if self.coverage is not None:
            parts += [
                "<p>By confidence</p>",
                self.coverage.to_html(index=False, float_format=lambda x: f"{x:.2f}"),
            ]
        return "<div class='aikit-evaluation'>" + "".join(parts) + "</div>"


def _column(df: pd.DataFrame, name: str, what: str) -> pd.Series:
    if not isinstance(name, str) or name not in df.columns:
        raise ConfigError(f"evaluate(): no {what} column {name!r}; the columns are {list(df.columns)}")
    return df[name]


def _coverage(correct: np.ndarray, conf: np.ndarray, thresholds: Sequence[float] | None) -> pd.DataFrame:
    known = ~np.isnan(conf)
    if thresholds is None:
        quartiles = np.round(np.quantile(conf[known], [0.25, 0.5, 0.75]), 3).tolist() if known.any() else []
        thresholds = sorted({0.0, *quartiles})
    rows = []
    for t in thresholds:
        keep = known & (conf >= t)
        n = int(keep.sum())
        rows.append(
            {
                "threshold": float(t),
                "rows": n,
                "coverage": n / len(conf) if len(conf) else math.nan,
                "accuracy": float(correct[keep].mean()) if n else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _aligned(df: pd.DataFrame, pred: str, gold: str | pd.Series) -> tuple[pd.DataFrame, str]:
    """``gold`` as a column of ``df``: a Series must carry exactly ``df``'s index labels."""
    if not isinstance(gold, pd.Series):
        return df, gold
    name = str(gold.name) if gold.name is not None else "gold"
    if (
        gold.index.has_duplicates
        or not gold.index.isin(df.index).all()
        or not df.index.isin(gold.index).all()
    ):
        extra = int((~gold.index.isin(df.index)).sum())
        absent = int((~df.index.isin(gold.index)).sum())
        raise ConfigError(
            f"evaluate(): gold Series {name!r} is not aligned with the rows of {pred!r}: {extra} gold labels "
            f"for rows not in the frame, {absent} rows without a gold entry; align it first "
            "(gold.reindex(df.index)) or join it as a column"
        )
    if name == pred:
        name = f"{name}_gold"
    return df.assign(**{name: gold.reindex(df.index)}), name


def evaluate(
    df: pd.DataFrame,
    pred: str,
    gold: str | pd.Series,
    *,
    confidence: str | None = None,
    vote: str | None = None,
    labels: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Evaluation:
    """Score the label column ``pred`` against the known labels in ``gold``.

    Parameters
    ----------
    pred : str
        The predicted label column.
    gold : str or pandas.Series
        The known ("gold") labels: a column name, or a Series on the same index as ``df``.
    confidence : str, optional
        A 0-1 confidence column (``<pred>_confidence`` is used when present and not given).
    vote : str, optional
        The examples' vote column (``<pred>_vote`` is used when present and not given).
    labels : sequence of str, optional
        The label set; default: ``pred``'s categories, else the labels it contains.
    thresholds : sequence of float, optional
        Confidence thresholds of the coverage table (default: 0 and the quartiles of the confidence).
    resamples : int
        Bootstrap resamples for the 95 % intervals (rows resampled with replacement, pairs kept).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = df.ai.evaluate(pred="ai_category", gold="hs_ticket_category")  # doctest: +SKIP
    >>> ev.by_confidence()  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"evaluate() needs a DataFrame, got {type(df).__name__}")
    df, gold = _aligned(df, pred, gold)
    p, g = _column(df, pred, "pred"), _column(df, gold, "gold")
    if pred == gold:
        raise ConfigError(f"evaluate(): pred and gold are the same column {pred!r}")
    if confidence is None and f"{pred}_confidence" in df.columns:
        confidence = f"{pred}_confidence"
    if vote is None and f"{pred}_vote" in df.columns:
        vote = f"{pred}_vote"
    if labels is None:
        cats = getattr(p, "cat", None)
        labels = (
            [str(c) for c in cats.categories] if cats is not None else sorted({str(v) for v in p.dropna()})
        )
    names = [str(label) for label in labels]
    if len(names) < 2:
        raise ConfigError(f"evaluate(): need at least 2 labels, got {names}")
    has_gold = g.notna()
    if not has_gold.any():
        raise ConfigError(f"evaluate(): gold column {gold!r} has no labels at all (all missing)")
    gold_text = g[has_gold].astype(str)
    unknown = gold_text[~gold_text.isin(names)].value_counts()
    unknown_gold = {str(k): int(v) for k, v in unknown.items()}
    use = has_gold & g.astype(str).isin(names)
    if not use.any():
        raise ConfigError(
            f"evaluate(): no gold label in {gold!r} is one of the labels {names}; "
            f"gold has {sorted(unknown_gold)}"
        )
    index = {label: i for i, label in enumerate(names)}
    gi = np.array([index[str(v)] for v in g[use]])
    pi = np.array([index.get(str(v), -1) if pd.notna(v) else -1 for v in p[use]])
    n = len(gi)
    correct = (gi == pi).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    acc_boot = correct[draws].mean(axis=1)
    f1_boot = np.array([macro_f1(gi[d], pi[d], len(names)) for d in draws[: min(resamples, 1000)]])
    counts = np.bincount(gi, minlength=len(names))
    confusion = pd.DataFrame(
        [[int(np.sum((gi == a) & (pi == b))) for b in range(len(names))] for a in range(len(names))],
        index=pd.Index(names, name=gold),
        columns=pd.Index(names, name=pred),
    )
    per = []
    for k, label in enumerate(names):
        tp = int(np.sum((gi == k) & (pi == k)))
        predicted, support = int(np.sum(pi == k)), int(counts[k])
        per.append(
            {
                "label": label,
                "precision": tp / predicted if predicted else math.nan,
                "recall": tp / support if support else math.nan,
                "support": support,
                "predicted": predicted,
            }
        )
    coverage = None
    if confidence is not None:
        conf = pd.to_numeric(_column(df, confidence, "confidence")[use], errors="coerce").to_numpy(
            dtype=float
        )
        coverage = _coverage(correct, conf, thresholds)
    vote_accuracy = None
    if vote is not None:
        v = _column(df, vote, "vote")[use]
        vote_accuracy = float(np.mean([str(a) == names[b] for a, b in zip(v, gi, strict=True)]))
    top = int(np.argmax(counts))
    return Evaluation(
        pred=pred,
        gold=gold,
        labels=names,
        n=n,
        accuracy=float(correct.mean()),
        accuracy_ci=_interval(acc_boot),
        macro_f1=macro_f1(gi, pi, len(names)),
        macro_f1_ci=_interval(f1_boot),
        baseline=float(counts[top] / n),
        baseline_label=names[top],
        per_label=pd.DataFrame(per).set_index("label"),
        confusion=confusion,
        missing_gold=int((~has_gold).sum()),
        unknown_gold=unknown_gold,
        vote_accuracy=vote_accuracy,
        coverage=coverage,
    )
