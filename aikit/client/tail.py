"""The tail of a batch: when to hedge a slow request, and when to call a request hung.

A batch under a rate limit is paced by the limit until its queue of rows empties; then the last rows
only wait for their own answers, and one slow answer or hung connection decides when the batch ends.
:class:`Tail` is the batch's memory of its own latencies and the two decisions that come from it,
as plain values (no I/O, no clock of its own), so the attempt flow (:mod:`aikit.client.flow`) asks
it and the tests drive it with numbers:

- **hedging** (:meth:`Tail.hedge_after`, :meth:`Tail.may_hedge`): once ``min_samples`` answers are in,
  a request still unanswered after ``max(floor_s, factor * p95)`` of this batch's latencies is sent
  a second time, but only while nothing else is waiting to start (the batch's queue is empty or
  shorter than the concurrency: :attr:`Tail.queue_open` is False) and the rate limit is not binding
  (the caller checks the limiter), and at most ``max_share`` of the batch's rows in all, so the
  extra billing has a ceiling. The first answer wins; the flow cancels the other;
- **the adaptive timeout** (:meth:`Tail.timeout_s`): once ``min_samples`` answers are in, a request
  far beyond the observed distribution (``timeout_factor * p99``) is treated as hung sooner than the
  client's fixed timeout, but never sooner than ``timeout_floor_s``, nor sooner than twice the time
  this batch's answers took per output token times the request's ``max_tokens`` (a long answer is
  not a hang).

>>> tail = Tail(rows=1000, min_samples=3)
>>> tail.hedge_after() is None          # no samples yet: no hedging, the client's timeout
True
>>> for s in (0.2, 0.3, 0.4):
...     tail.observe(s, output_tokens=20)
>>> round(tail.hedge_after(), 2), tail.may_hedge()  # the queue is still open: no hedge
(1.0, False)
>>> tail.queue_open = False
>>> tail.may_hedge(), tail.timeout_s(60.0, max_tokens=20)
(True, 3.0)
>>> tail.timeout_s(300.0, max_tokens=4000)   # 2 x 20 ms/token x 4000 tokens
160.0
"""

from __future__ import annotations

import bisect
import math

__all__ = ["Tail"]


class Tail:
    """Latencies of one batch's answers, and the hedging and timeout decisions drawn from them.

    Parameters
    ----------
    rows : int
        Requests the batch will make (the hedging ceiling is a share of it).
    hedge : bool
        Hedge at all (the adaptive timeout applies either way).
    min_samples : int
        Answers needed before either decision departs from the defaults.
    factor, floor_s : float
        A request is hedged after ``max(floor_s, factor * p95)``.
    max_share : float
        At most this share of ``rows`` (and at least one) requests are hedged.
    timeout_factor, timeout_floor_s : float
        A request is hung after ``max(timeout_floor_s, timeout_factor * p99, 2 * per-token p95 *
        max_tokens)`` (at most the client's timeout).
    """

    __slots__ = (
        "_dirty", "_p95", "_p99", "_per_token", "_per_token_p95", "factor", "floor_s", "hedge", "hedged",
        "max_hedges", "min_samples", "queue_open", "samples", "timeout_factor", "timeout_floor_s",
    )  # fmt: skip

    def __init__(
        self,
        rows: int,
        *,
        hedge: bool = True,
        min_samples: int = 20,
        factor: float = 2.0,
        floor_s: float = 1.0,
        max_share: float = 0.01,
        timeout_factor: float = 5.0,
        timeout_floor_s: float = 3.0,
    ) -> None:
        self.hedge = hedge
        self.min_samples = max(1, min_samples)
        self.factor, self.floor_s = factor, floor_s
        self.timeout_factor, self.timeout_floor_s = timeout_factor, timeout_floor_s
        self.max_hedges = max(1, math.floor(rows * max_share))
        self.hedged = 0
        #: True while rows are waiting to start: a hedge would take a start from them.
        self.queue_open = True
        self.samples: list[float] = []  # sorted latencies of answered attempts
        self._per_token: list[float] = []  # sorted seconds per output token
        self._p95 = self._p99 = self._per_token_p95 = 0.0
        self._dirty = True

    def __repr__(self) -> str:
        return f"Tail(samples={len(self.samples)}, hedged={self.hedged}/{self.max_hedges})"

    def observe(self, latency_s: float, output_tokens: int | None = None) -> None:
        """Learn from one answered attempt: its latency and, when known, its output tokens."""
        if not latency_s >= 0:  # NaN or negative: not a latency
            return
        bisect.insort(self.samples, latency_s)
        if output_tokens:
            bisect.insort(self._per_token, latency_s / output_tokens)
        self._dirty = True

    def _quantiles(self) -> None:
        if self._dirty:
            s, t = self.samples, self._per_token
            self._p95 = s[min(len(s) - 1, int(0.95 * len(s)))] if s else 0.0
            self._p99 = s[min(len(s) - 1, int(0.99 * len(s)))] if s else 0.0
            self._per_token_p95 = t[min(len(t) - 1, int(0.95 * len(t)))] if t else 0.0
            self._dirty = False

    @property
    def ready(self) -> bool:
        """Enough answers to judge the distribution."""
        return len(self.samples) >= self.min_samples

    def hedge_after(self) -> float | None:
        """Seconds after which an attempt may be hedged, or None (hedging off, too few samples, no budget)."""
        if not self.hedge or not self.ready or self.hedged >= self.max_hedges:
            return None
        self._quantiles()
        return max(self.floor_s, self.factor * self._p95)

    def may_hedge(self) -> bool:
        """Whether a hedge may start now as far as the batch goes (the caller also checks the limiter)."""
        return not self.queue_open and self.hedge_after() is not None

    def hedging(self) -> None:
        """Count one hedge that starts."""
        self.hedged += 1

    def timeout_s(self, default_s: float, max_tokens: int | None = None) -> float:
        """The timeout of the next attempt: ``default_s``, or less once the distribution says so."""
        if not self.ready:
            return default_s
        self._quantiles()
        bound = max(self.timeout_floor_s, self.timeout_factor * self._p99)
        if max_tokens:
            bound = max(bound, 2.0 * self._per_token_p95 * max_tokens)
        return min(default_s, bound)
