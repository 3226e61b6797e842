"""``df.ai.review(pred, confidence=, threshold=)``: a person checks the doubtful labels before a push.

:func:`review` picks the rows whose confidence is below ``threshold`` (lowest first; rows with no
confidence count as doubtful) and returns a :class:`Review`. In a live kernel it shows as a widget
(text, proposed label, one button per label, skip: :mod:`aikit.widgets.review`, registered by the
top-level ``aikit`` package through :mod:`aikit._review_view`; this module never imports
widgets). Every decision is written at once
to SQLite under ``$AIKIT_HOME`` (``review.sqlite``, mode 0600), keyed by (row id, column): never in
widget state or the notebook, so decisions survive a kernel restart and a re-run, and
:meth:`Review.apply` returns the frame with them applied, ready for ``push``.

Headless (papermill, nbconvert, a script) nothing waits for a person: showing the review prints how
many rows await review, and :meth:`Review.apply` applies the decisions already made.

The store keeps, per decision, the row id, column, the text as it was shown (its SHA-256 only, so a
changed ticket is detected as stale without keeping its text twice), the proposed label, its
confidence, the chosen label (None for skip) and when.

>>> import tempfile, pandas as pd
>>> where = tempfile.mkdtemp() + "/review.sqlite"
>>> df = pd.DataFrame({"id": ["7", "8"], "text": ["a", "b"], "cat": ["x", "y"], "cat_confidence": [.4, .9]})
>>> r = review(df, "cat", labels=["x", "y"], threshold=0.5, text="text", store=where)
>>> [row.row_id for row in r.pending()]
['7']
>>> r.decide("7", "y")
>>> r.apply(df)["cat"].tolist()
['y', 'y']
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from aikit._batch.progress import is_live_kernel
from aikit._review_view import review_view
from aikit.exceptions import ConfigError

__all__ = ["Review", "ReviewItem", "ReviewStore", "review"]

#: Columns tried, in order, as the row id when ``id=`` is not given.
ID_COLUMNS = ("id", "hs_object_id", "Id", "ticket_id", "record_id")

_CREATE = """CREATE TABLE IF NOT EXISTS decisions (
    row_id TEXT NOT NULL, col TEXT NOT NULL, label TEXT, proposed TEXT, confidence REAL,
    text_sha256 TEXT, decided_at TEXT NOT NULL, PRIMARY KEY (row_id, col))"""


def default_path() -> Path:
    """``$AIKIT_REVIEW_STORE``, else ``$AIKIT_HOME/review.sqlite``."""
    from aikit.settings import settings

    env = os.environ.get("AIKIT_REVIEW_STORE")
    return Path(env).expanduser() if env else settings().home / "review.sqlite"


class ReviewStore:
    """The SQLite file of review decisions (0600 in a 0700 directory); one row per (row id, column)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        from aikit.settings import ensure_dir

        self.path = Path(path) if path is not None else default_path()
        ensure_dir(self.path.parent)
        with self._connect() as con:
            con.execute(_CREATE)
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)

    def __repr__(self) -> str:
        return f"ReviewStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Any:
        con = sqlite3.connect(str(self.path), timeout=30.0)
        try:
            with con:
                yield con
        finally:
            con.close()

    def record(
        self,
        row_id: str,
        column: str,
        label: str | None,
        *,
        proposed: str | None,
        confidence: float | None,
        text_sha256: str | None,
    ) -> None:
        """Keep one decision (a later decision on the same row and column replaces it)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        conf = None if confidence is None or math.isnan(confidence) else float(confidence)
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row_id, column, label, proposed, conf, text_sha256, now),
            )

    def decisions(self, column: str) -> dict[str, dict[str, Any]]:
        """Every decision for ``column``, by row id."""
        with self._connect() as con:
            cur = con.execute(
                "SELECT row_id, label, proposed, confidence, text_sha256, decided_at "
                "FROM decisions WHERE col = ?",
                (column,),
            )
            keys = ("label", "proposed", "confidence", "text_sha256", "decided_at")
            return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in cur.fetchall()}


@dataclass(frozen=True)
class ReviewItem:
    """One row to review: its id, the text shown, the proposed label and its confidence."""

    row_id: str
    text: str
    proposed: str | None
    confidence: float


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Review:
    """The doubtful rows of one label column and the decisions made on them (see the module docstring)."""

    def __init__(
        self,
        items: list[ReviewItem],
        *,
        column: str,
        labels: list[str],
        id_column: str,
        store: ReviewStore,
        total: int,
    ) -> None:
        self.items, self.column, self.labels, self.id_column = items, column, labels, id_column
        self.store, self.total = store, total

    def __repr__(self) -> str:
        return (
            f"Review({self.column!r}: {len(self.items)} of {self.total} rows to review, "
            f"{len(self.items) - len(self.pending())} decided)"
        )

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Decisions on this review's rows (skips included, ``label`` None), by row id."""
        ids = {item.row_id for item in self.items}
        return {k: v for k, v in self.store.decisions(self.column).items() if k in ids}

    def pending(self) -> list[ReviewItem]:
        """Rows with no decision yet (a skipped row counts as decided), lowest confidence first."""
        done = self.decisions()
        return [item for item in self.items if item.row_id not in done]

    def _item(self, row_id: str) -> ReviewItem:
        for item in self.items:
            if item.row_id == str(row_id):
                return item
        raise ConfigError(f"row {row_id!r} is not among the rows to review in {self.column!r}")

    def decide(self, row_id: Any, label: str | None) -> None:
        """Set the right label of one row (``None`` = skip: keep the proposal out of the push)."""
        item = self._item(str(row_id))
        if label is not None and label not in self.labels:
            raise ConfigError(f"{label!r} is not one of the labels {self.labels}")
        self.store.record(
            item.row_id,
            self.column,
            label,
            proposed=item.proposed,
            confidence=item.confidence,
            text_sha256=_sha(item.text),
        )

    def skip(self, row_id: Any) -> None:
        """Decide to leave this row's label unconfirmed (it is not pushed)."""
        self.decide(row_id, None)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``df`` with the decisions applied to ``column``.

        Adds ``<column>_reviewed`` (True where a person chose the label) and ``<column>_ok``: True where
        the label may be pushed (confidence at or above the threshold, or confirmed by a person).
        """
        if self.id_column not in df.columns or self.column not in df.columns:
            raise ConfigError(f"apply() needs the columns {self.id_column!r} and {self.column!r}")
        out = df.copy()
        done = self.store.decisions(self.column)
        doubtful = {item.row_id for item in self.items}
        ids = out[self.id_column].astype(str)
        values = out[self.column].astype(object).tolist()
        reviewed, ok = [], []
        for i, row_id in enumerate(ids):
            decision = done.get(row_id) if row_id in doubtful else None
            if decision is not None and decision["label"] is not None:
                values[i] = decision["label"]
            reviewed.append(decision is not None and decision["label"] is not None)
            ok.append(reviewed[-1] or row_id not in doubtful)
        dtype = out[self.column].dtype
        out[self.column] = pd.Series(
            values, index=out.index, dtype=dtype if isinstance(dtype, pd.CategoricalDtype) else object
        )
        out[f"{self.column}_reviewed"] = pd.Series(reviewed, index=out.index, dtype="boolean")
        out[f"{self.column}_ok"] = pd.Series(ok, index=out.index, dtype="boolean")
        return out

    def status(self) -> str:
        """One line: rows to review, decided and still waiting."""
        waiting = len(self.pending())
        return (
            f"{len(self.items)} of {self.total} rows of {self.column!r} need review; "
            f"{len(self.items) - waiting} decided, {waiting} awaiting review"
        )

    def _ipython_display_(self) -> None:
        view = review_view()
        if is_live_kernel() and view is not None:
            from IPython.display import display

            display(view(self))  # type: ignore[no-untyped-call]
            return
        print(self.status())  # headless: never wait for a person


def review(
    df: pd.DataFrame,
    pred: str,
    *,
    confidence: str | None = None,
    threshold: float = 0.8,
    labels: Sequence[str] | None = None,
    text: str | Sequence[str] | None = None,
    id: str | None = None,
    store: ReviewStore | str | os.PathLike[str] | None = None,
) -> Review:
    """The rows of ``pred`` below ``threshold`` confidence, for a person to confirm or correct.

    Parameters
    ----------
    pred : str
        The label column to review.
    confidence : str, optional
        Its 0-1 confidence column (default ``<pred>_confidence``).
    threshold : float
        Rows below it (or with no confidence) are queued, lowest confidence first.
    labels : sequence of str, optional
        The labels offered (default: ``pred``'s categories).
    text : str or list of str, optional
        The column(s) shown to the reviewer (default: every text column not derived from ``pred``).
    id : str, optional
        The row id column decisions are keyed by (default: the first of :data:`ID_COLUMNS` present).
    store : ReviewStore or path, optional
        Where decisions are kept (default ``$AIKIT_HOME/review.sqlite``).

    Returns
    -------
    Review
        Shown as a widget in a live kernel; ``.apply(df)`` gives the corrected frame.

    Examples
    --------
    >>> rv = out.ai.review("ai_category", threshold=0.9)  # doctest: +SKIP
    >>> rv  # doctest: +SKIP
    >>> ready = rv.apply(out)  # doctest: +SKIP
    >>> crm.push(ready[ready["ai_category_ok"]], ...)  # doctest: +SKIP
    """
    if pred not in df.columns:
        raise ConfigError(f"review(): no column {pred!r}; the columns are {list(df.columns)}")
    id_column = id if id is not None else next((c for c in ID_COLUMNS if c in df.columns), None)
    if id_column is None or id_column not in df.columns:
        raise ConfigError(
            f"review() needs a row id column to keep decisions by (none of {list(ID_COLUMNS)} is in "
            "the frame); "
            "pass id='your_id_column'"
        )
    ids = df[id_column].astype(str)
    if ids.duplicated().any():
        raise ConfigError(
            f"review(): id column {id_column!r} has duplicate values; decisions need unique ids"
        )
    confidence = confidence or f"{pred}_confidence"
    if confidence not in df.columns:
        raise ConfigError(f"review(): no confidence column {confidence!r}; pass confidence='...'")
    if labels is None:
        cats = getattr(df[pred], "cat", None)
        labels = (
            [str(c) for c in cats.categories]
            if cats is not None
            else sorted({str(v) for v in df[pred].dropna()})
        )
    if isinstance(text, str):
        text = [text]
    if text is None:
        text = [
            c for c in df.columns if c != id_column and not str(c).startswith(pred) and df[c].dtype == object
        ][:3]
    conf = pd.to_numeric(df[confidence], errors="coerce")
    items = []
    for row_id, (_, row), c in zip(ids, df.iterrows(), conf, strict=True):
        if not math.isnan(c) and c >= threshold:
            continue
        shown = "\n".join(f"{row[col]}" for col in text if pd.notna(row[col]))
        proposed = None if pd.isna(row[pred]) else str(row[pred])
        items.append(ReviewItem(row_id, shown, proposed, float(c)))
    items.sort(key=lambda item: -1.0 if math.isnan(item.confidence) else item.confidence)
    the_store = store if isinstance(store, ReviewStore) else ReviewStore(store)
    return Review(
        items,
        column=pred,
        labels=[str(x) for x in labels],
        id_column=id_column,
        store=the_store,
        total=len(df),
    )
