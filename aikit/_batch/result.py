"""What a batch returns: one :class:`RowResult` per prompt in a :class:`BatchResult`, and estimates.

>>> r = RowResult(error="ProviderHTTPError: HTTP 400")
>>> r.ok, r.text
(False, None)
>>> error_text(ValueError("bad row"))
'ValueError: bad row'
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from aikit._batch.progress import ProgressState

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from aikit.client.response import Response

__all__ = ["BatchEstimate", "BatchResult", "RowResult", "error_text", "meta_columns"]


def error_text(exc: BaseException) -> str:
    """How an error is written in ``ai_error``: ``"ErrorType: message"``."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


@dataclass(slots=True)
class RowResult:
    """The outcome of one prompt: a response, or an error (and ``skipped`` when never run).

    (Not frozen: a frozen dataclass costs several microseconds per instance, and a cached re-run
    builds one per unique prompt.)
    """

    response: Response | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def text(self) -> str | None:
        return None if self.response is None else self.response.text

    @property
    def data(self) -> Any:
        return None if self.response is None else self.response.data


@dataclass
class BatchResult(Sequence[RowResult]):
    """One :class:`RowResult` per prompt, in input order, plus what the batch did.

    Attributes
    ----------
    rows : list of RowResult
    model : str
        The client's ``provider:model``.
    calls : int
        Unique prompts that needed a call (duplicates and cache hits excluded).
    elapsed_s : float
    state : ProgressState
        The final counters (ok, cached, failed, skipped, tokens, cost, retries).
    """

    rows: list[RowResult]
    model: str
    calls: int
    elapsed_s: float
    state: ProgressState = field(repr=False)

    @overload
    def __getitem__(self, index: int) -> RowResult: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[RowResult]: ...

    def __getitem__(self, index: int | slice) -> RowResult | Sequence[RowResult]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[RowResult]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"<BatchResult {self.state.summary_line(self.elapsed_s)}>"

    @property
    def texts(self) -> list[str | None]:
        return [r.text for r in self.rows]

    @property
    def errors(self) -> list[str | None]:
        return [r.error for r in self.rows]

    @property
    def cost_usd(self) -> float | None:
        """What the calls of this run cost (cache hits are free); None when a price is unknown."""
        return self.state.cost_usd

    def summary(self) -> dict[str, Any]:
        """Counts, tokens, cost and time, as a plain dict (also what lineage records)."""
        s = self.state
        return {
            **s.counts(),
            "calls": self.calls,
            "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens,
            "cost_usd": s.cost_usd,
            "elapsed_s": round(self.elapsed_s, 3),
            "outcome": s.outcome,
        }

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame with ``text``, ``data``, ``ai_error`` and the per-row metadata."""
        import pandas as pd

        return pd.DataFrame(
            {
                "text": self.texts,
                "data": [r.data for r in self.rows],
                "ai_error": self.errors,
                **meta_columns(self.rows),
            }
        )


def meta_columns(rows: Sequence[RowResult]) -> dict[str, list[Any]]:
    """The ``with_meta=True`` columns: tokens, cost, cached, latency, attempts."""
    nan = float("nan")
    tin: list[Any] = []
    tout: list[Any] = []
    cost: list[Any] = []
    cached: list[Any] = []
    latency: list[Any] = []
    attempts: list[Any] = []
    for row in rows:
        r = row.response
        if r is None:
            tin.append(None)
            tout.append(None)
            cost.append(nan)
            cached.append(None)
            latency.append(nan)
            attempts.append(None)
            continue
        tin.append(r.usage.input_tokens)
        tout.append(r.usage.output_tokens)
        cost.append(nan if r.cost_usd is None else r.cost_usd)
        cached.append(r.cached)
        latency.append(r.latency_s)
        attempts.append(r.attempts)
    return {
        "ai_input_tokens": tin,
        "ai_output_tokens": tout,
        "ai_cost_usd": cost,
        "ai_cached": cached,
        "ai_latency_s": latency,
        "ai_attempts": attempts,
    }


@dataclass(frozen=True)
class BatchEstimate:
    """What a batch would do: rows, cache hits, calls, estimated tokens and cost (None if unknown)."""

    rows: int
    unique_prompts: int
    cached_rows: int
    rows_to_call: int
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    model: str

    def __repr__(self) -> str:
        cost = "unknown (no price for this model)" if self.cost_usd is None else f"${self.cost_usd:,.4f}"
        return (
            f"BatchEstimate({self.model}: {self.rows:,} rows, {self.cached_rows:,} already cached, "
            f"{self.calls:,} calls to make for {self.rows_to_call:,} rows, ~{self.input_tokens:,} input + "
            f"~{self.output_tokens:,} output tokens, ~{cost})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}
