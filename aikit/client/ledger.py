"""What one client has done: counters, cost, the call log, and the scrubbing of secrets from text.

The attempt flow (:mod:`aikit.client.flow`) and the cache layer report here; nothing here does I/O
(the call log's :meth:`~aikit.client.calllog.CallLog.record` only queues a row for its writer thread).

- :class:`~aikit.auth.masking.Scrubber` (re-exported here) masks every secret it was given in any text
  (error messages, call-log rows);
- :class:`Ledger` keeps ``stats()``'s counters, prices answers, and writes the call-log rows.

>>> scrub = Scrubber()
>>> scrub.add("sk-live-123456")
>>> scrub("bad key sk-live-123456")
'bad key ********'
>>> ledger = Ledger(provider="openai", model="gpt-4o-mini", base_url="", session="s1", log=None, scrub=scrub)
>>> ledger.stats["requests"]
0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aikit.auth.masking import MASK, MIN_FRAGMENT, Scrubber
from aikit.client import pricing
from aikit.client.calllog import CallRecord

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.calllog import CallLog
    from aikit.client.providers.base import Parsed
    from aikit.client.response import Response

__all__ = ["MASK", "MIN_FRAGMENT", "Ledger", "Observer", "Scrubber", "notify"]

_log = logging.getLogger("aikit.client")

#: ``observer(kind, info)``: kinds "start", "retry", "done", "error" (see ``AsyncAI.achat``).
Observer = Callable[[str, dict[str, Any]], None]
_COUNTERS = (
    "requests", "cache_hits", "http_calls", "retries", "hedges", "errors", "input_tokens", "output_tokens",
)  # fmt: skip


def notify(observer: Observer | None, kind: str, info: dict[str, Any]) -> None:
    """Call ``observer(kind, info)``; an observer's exception never breaks the call."""
    if observer is None:
        return
    try:
        observer(kind, info)
    except Exception as exc:
        _log.debug("observer failed on %s: %s", kind, exc)


class Ledger:
    """Counters, prices and call-log rows of one client.

    Parameters
    ----------
    provider, model, base_url, session : str
        What every call-log row says about the client (``base_url`` normalised, without credentials).
    log : CallLog or None
        Where rows go; None records nothing.
    scrub : Scrubber
        Applied to every error text before it is kept.
    """

    __slots__ = ("base_url", "log", "model", "provider", "scrub", "session", "stats")

    def __init__(
        self, *, provider: str, model: str, base_url: str, session: str, log: CallLog | None, scrub: Scrubber
    ) -> None:
        self.provider, self.model, self.base_url, self.session = provider, model, base_url, session
        self.log, self.scrub = log, scrub
        self.stats: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
        self.stats.update(cost_usd=0.0, cost_unknown=0, saved_usd=0.0)

    def record(self, outcome: str, *, response: Response | None = None, **fields: Any) -> None:
        """One call-log row (``ok``, ``cache_hit``, ``retry`` or ``error``); the error text is scrubbed."""
        if self.log is None:
            return
        if response is not None:
            fields.setdefault("input_tokens", response.usage.input_tokens)
            fields.setdefault("output_tokens", response.usage.output_tokens)
            fields.setdefault("cost_usd", response.cost_usd)
            fields.setdefault("latency_s", response.latency_s)
        if fields.get("error"):  # masked, and valid UTF-8 for SQLite (a lone surrogate is escaped)
            text = self.scrub(str(fields["error"]))[:2000]
            fields["error"] = text.encode("utf-8", "backslashreplace").decode("utf-8")
        record = CallRecord(
            provider=self.provider, model=self.model, base_url=self.base_url, outcome=outcome,
            session=self.session, **fields,
        )  # fmt: skip
        self.log.record(record)

    def price(self, parsed: Parsed, *, batch: bool = False) -> float | None:
        """What ``parsed`` cost (at the batch-API rate with ``batch``), or None when the price is unknown."""
        usage = parsed.usage
        cost = pricing.price(self.provider, self.model, usage.input_tokens, usage.output_tokens, batch=batch)
        if cost is None and parsed.model != self.model:
            cost = pricing.price(
                self.provider, parsed.model, usage.input_tokens, usage.output_tokens, batch=batch
            )
        return cost

    def answered(self, parsed: Parsed, *, batch: bool = False) -> float | None:
        """Count the tokens and cost of a received answer (``batch``: a batch-API one); return its cost."""
        cost = self.price(parsed, batch=batch)
        s = self.stats
        s["input_tokens"] += parsed.usage.input_tokens
        s["output_tokens"] += parsed.usage.output_tokens
        if cost is None:
            s["cost_unknown"] += 1
        else:
            s["cost_usd"] += cost
        return cost

    def hits(self, response: Response, uses: int = 1) -> None:
        """Count a cache hit answering ``uses`` requests (already counted), with one ``cache_hit`` row."""
        s = self.stats
        s["cache_hits"] += uses
        s["saved_usd"] += (response.saved_usd or 0.0) * uses
        self.record("cache_hit", attempt=0, response=response, cache_key=response.cache_key, cache_hit=True)

    def bulk_hits(self, responses: Iterable[Response], uses: Iterable[int] | None = None) -> int:
        """Count cache hits found by one bulk lookup, with one summary ``cache_hit`` row for all of them.

        ``uses`` gives how many requests each response answered (default one each); the row's
        ``requests`` column is their total, its tokens the sums. Returns the total.
        """
        counts = iter(uses) if uses is not None else None
        n = n_in = n_out = 0
        saved = 0.0
        for r in responses:
            k = next(counts, 1) if counts is not None else 1
            n += k
            saved += (r.saved_usd or 0.0) * k
            n_in += r.usage.input_tokens * k
            n_out += r.usage.output_tokens * k
        if n:
            s = self.stats
            s["requests"] += n
            s["cache_hits"] += n
            s["saved_usd"] += saved
            self.record("cache_hit", attempt=0, cache_hit=True, requests=n, input_tokens=n_in,
                        output_tokens=n_out, cost_usd=0.0, latency_s=0.0)  # fmt: skip
        return n

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counters, money rounded to 1e-10 USD."""
        s = dict(self.stats)
        s["cost_usd"], s["saved_usd"] = round(s["cost_usd"], 10), round(s["saved_usd"], 10)
        return s
