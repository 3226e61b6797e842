"""Retry decisions, shared by every aikit HTTP client (AI providers, CRM connector, OAuth).

Pure functions, no I/O: which outcomes are retryable, how long to wait, and how to read a server's
``Retry-After`` hint. The async loops that use them live with their clients.

Waits use *full jitter* (AWS architecture blog, "Exponential Backoff And Jitter"): a uniform draw in
``[0, min(cap, base * 2**attempt)]``. A server hint is honoured as a floor plus a small jitter, so that
many clients told "retry after 1 s" do not all wake up at the same instant.

>>> import random
>>> 0 <= backoff_delay(3, rng=random.Random(1)) <= 4.0
True
>>> parse_retry_after({"retry-after-ms": "250"})
0.25
>>> is_retryable_status(429), is_retryable_status(400)
(True, False)
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "backoff_delay",
    "hinted_delay",
    "is_retryable_status",
    "parse_retry_after",
]

#: Statuses worth retrying: timeouts, conflicts/locks, rate limits, server errors (incl. Anthropic 529).
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def is_retryable_status(status: int) -> bool:
    """True for 408/409/425/429 and 5xx; False for every other 4xx (fail fast)."""
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), or None.

    ``headers`` may be any case-insensitive mapping (``httpx.Headers``) or a plain dict with
    lower-case keys. Negative or unparseable values give None.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, delta)


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Full-jitter exponential backoff for retry number ``attempt`` (0-based)."""
    r = rng or random
    return r.uniform(0.0, min(cap, base * (2.0 ** min(attempt, 30))))


def hinted_delay(
    hint: float, *, jitter: float = 0.1, max_jitter: float = 1.0, rng: random.Random | None = None
) -> float:
    """The server's hint plus a small positive jitter (``jitter`` fraction, at most ``max_jitter`` s)."""
    r = rng or random
    return hint + r.uniform(0.0, min(max_jitter, max(0.05, hint * jitter)))


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries.

    Parameters
    ----------
    max_attempts : int
        Attempts in total, first one included.
    deadline_s : float
        Total time budget for one logical call across attempts and waits.
    base_s, cap_s : float
        Backoff base and cap for full jitter.
    """

    max_attempts: int = 8
    deadline_s: float = 300.0
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(
        self, attempt: int, headers: Mapping[str, str] | None = None, rng: random.Random | None = None
    ) -> float:
        """Wait before retry ``attempt`` (0-based): the server hint with jitter, else full jitter."""
        hint = parse_retry_after(headers) if headers is not None else None
        if hint is not None:
            return hinted_delay(hint, rng=rng)
        return backoff_delay(attempt, base=self.base_s, cap=self.cap_s, rng=rng)
