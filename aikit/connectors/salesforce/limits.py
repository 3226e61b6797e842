"""Salesforce's errors and API limits, for the shared connector session.

:func:`classify` turns a failed response into a :class:`~aikit.exceptions.CRMError` whose ``category``
is Salesforce's ``errorCode`` (``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_SESSION_ID``...) and
says whether to retry: ``REQUEST_LIMIT_EXCEEDED`` (403), 429 and 5xx (``SERVER_UNAVAILABLE``) are
retried with backoff, everything else fails fast. The message carries Salesforce's own text and never
the session id.

:class:`ApiBudget` paces to the org's API budget. It reads ``Sforce-Limit-Info: api-usage=used/max``
from every answer (and :meth:`ApiBudget.observe_limits` the ``/limits`` resource), counts this client's
own requests in the rolling window (24 hours on Salesforce), and before a request that would spend
the org's last ``reserve`` calls waits until the window frees one, or, when that would take longer
than ``max_wait_s``, fails at once with a clear ``REQUEST_LIMIT_EXCEEDED`` error instead of burning
calls that the org would refuse.

>>> b = ApiBudget(window_s=10.0)
>>> b.observe({"Sforce-Limit-Info": "api-usage=14/15"}, now=0.0)
>>> b.used, b.max, b.remaining
(14, 15, 1)
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from aikit.client.retry import is_retryable_status
from aikit.connectors.pacing import WindowPacer
from aikit.exceptions import CRMError

__all__ = ["ApiBudget", "classify"]

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_HINTS = {
    "INVALID_SESSION_ID": " The session expired or is invalid: a session id cannot renew itself; pass "
    "auth=salesforce_jwt_auth(...), salesforce_client_credentials_auth(...) or a web login "
    "(aikit.auth.salesforce_service) so aikit logs in again by itself.",
    "REQUEST_LIMIT_EXCEEDED": " The org's API request limit is spent (it frees up as its rolling 24-hour "
    "window moves on); see Salesforce.limits().",
    "INVALID_FIELD": " Check the field names against Salesforce.describe(object) (custom fields end in __c).",
    "INVALID_TYPE": " Check the object name (custom objects end in __c).",
}


def _body(response: httpx.Response) -> tuple[str | None, str, list[str]]:
    """``(errorCode, message, fields)`` from Salesforce's ``[{"errorCode", "message", "fields"}]``."""
    try:
        data = response.json()
    except ValueError:
        return None, response.text[:500].strip() or response.reason_phrase, []
    entry: Any = data[0] if isinstance(data, list) and data else data
    if isinstance(entry, Mapping):
        code = entry.get("errorCode") or entry.get("error")
        message = entry.get("message") or entry.get("error_description") or ""
        return (str(code) if code else None), str(message).strip(), list(entry.get("fields") or [])
    return None, response.text[:500], []


def classify(response: httpx.Response, what: str) -> tuple[CRMError, bool]:
    """The error for a failed Salesforce response, and whether the call is worth retrying."""
    code, message, fields = _body(response)
    status = response.status_code
    where = f" (fields: {', '.join(fields)})" if fields else ""
    text = f"{what} failed with HTTP {status} {code or ''}: {message}{where}.".replace(" :", ":")
    error = CRMError(text + _HINTS.get(code or "", ""), status=status, category=code)
    retry = code == "REQUEST_LIMIT_EXCEEDED" or (is_retryable_status(status) and status != 409)
    return error, retry


class ApiBudget(WindowPacer):
    """Pace to the org's API request budget (learned from ``Sforce-Limit-Info`` and ``/limits``).

    Parameters
    ----------
    window_s : float
        The budget's rolling window (Salesforce: 24 hours).
    reserve : int
        Requests of the budget to leave for other integrations sharing the org.
    max_wait_s : float
        Wait at most this long for the window to free a request; past that, fail with
        ``REQUEST_LIMIT_EXCEEDED`` at once.
    """

    def __init__(self, window_s: float = 86400.0, reserve: int = 0, max_wait_s: float = 300.0) -> None:
        super().__init__(max_requests=1_000_000_000, interval_s=window_s, header_prefix="sforce-")
        self.reserve, self.max_wait_s = reserve, max_wait_s
        self.used: int | None = None
        self.max: int | None = None
        self._seen_at = 0.0
        self._since: list[float] = []  # our requests sent after the last usage header
        self._mine: list[float] = []  # all our requests still inside the window

    @property
    def remaining(self) -> int | None:
        return None if self.used is None or self.max is None else self.max - self.used

    def observe(self, headers: Mapping[str, str], now: float | None = None) -> None:
        match = _USAGE.search(headers.get("sforce-limit-info") or headers.get("Sforce-Limit-Info") or "")
        if match is None:
            return
        self.used, self.max = int(match.group(1)), int(match.group(2))
        self._seen_at = time.monotonic() if now is None else now
        self._since = []

    def observe_limits(self, limits: Mapping[str, Any]) -> None:
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.max, self.used = int(daily["Max"]), int(daily["Max"]) - int(daily["Remaining"])
            self._seen_at, self._since = time.monotonic(), []

    def delay(self, now: float | None = None) -> float:
        t = time.monotonic() if now is None else now
        if self.used is None or self.max is None:
            return 0.0
        edge = t - self.interval_s
        self._mine = [s for s in self._mine if s > self._seen_at - self.interval_s]
        left = sum(1 for s in self._mine if s <= edge)  # ours, counted in `used`, gone from the window since
        spent = self.used - left + len(self._since)
        if spent < self.max - self.reserve:
            return 0.0
        # the org is at its budget: the next of our own requests to leave the window frees one
        live = [s for s in self._mine if s > edge]
        wait = (live[0] + self.interval_s - t) if live else self.interval_s
        if wait > self.max_wait_s:
            raise CRMError(
                f"the org's API budget is spent (api-usage={self.used}/{self.max}, keeping {self.reserve} in "
                f"reserve) and no request frees up within {self.max_wait_s:.0f} s; nothing was sent. It "
                "frees up as the org's rolling 24-hour window moves on; see Salesforce.limits().",
                status=403,
                category="REQUEST_LIMIT_EXCEEDED",
            )
        return max(0.0, wait)

    def record(self, now: float | None = None) -> float:
        stamp = time.monotonic() if now is None else now
        self._mine.append(stamp)
        self._since.append(stamp)
        return stamp

    def settle(self, stamp: float, now: float | None = None) -> None:
        """The request sent at ``stamp`` was answered: count it from ``now`` (the org counted it before)."""
        t = time.monotonic() if now is None else now
        for i, s in enumerate(self._mine):
            if s == stamp:
                self._mine[i] = max(s, t)
                return
