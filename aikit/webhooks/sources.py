"""A listener's sources: what ``add_source`` builds, and the live counters the app keeps per source.

A :class:`Source` bundles a verified :class:`~aikit.webhooks.config.SourceConfig`, its
:class:`~aikit.webhooks.verify.Verifier`, the body limit, an optional :class:`RateLimit` and the
header names never to store. :func:`make_source` validates the notebook-facing arguments;
:func:`redact_secrets` masks every source's secrets in text about to be stored or shown.

>>> src = make_source("gh", "github", "s3cret-value")
>>> src.config, src.max_body
(SourceConfig(name='gh', scheme='github', secrets=<1 hidden>), 1048576)
>>> redact_secrets({"gh": src}, "bad key s3cret-value")
'bad key ***'
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aikit.exceptions import ConfigError
from aikit.webhooks.verify import HmacSpec, SourceConfig, Verifier

__all__ = ["MiB", "RateLimit", "Source", "make_source", "redact_secrets"]

MiB = 1024 * 1024


class RateLimit:
    """A token bucket: ``rate`` events per second with bursts of ``burst``.

    >>> bucket = RateLimit(1.0, burst=1)
    >>> bucket.take(now=0.0), bucket.take(now=0.1)
    (0.0, 0.9)
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate_limit must be positive (events per second)")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._tokens = self.burst
        self._at: float | None = None

    def take(self, now: float | None = None) -> float:
        """Spend one token; return 0.0, or the seconds until one is available (request refused)."""
        now = time.monotonic() if now is None else now
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return round((1.0 - self._tokens) / self.rate, 6)


@dataclass
class Source:
    """A configured source as the app sees it, with its live counters."""

    config: SourceConfig
    verifier: Verifier
    max_body: int
    limiter: RateLimit | None
    redact: frozenset[str]
    counts: Counter[str] = field(default_factory=Counter)


def make_source(
    name: str,
    scheme: str,
    secret: str | None = None,
    *,
    secrets: list[str] | tuple[str, ...] | None = None,
    public_url: str | None = None,
    max_body: int = MiB,
    rate_limit: float | tuple[float, float] | None = None,
    tolerance: float | None = None,
    hubspot_versions: tuple[str, ...] = ("v3",),
    github_sha1: bool = False,
    hmac: HmacSpec | dict[str, Any] | None = None,
) -> Source:
    """Validate the arguments of :meth:`WebhookListener.add_source` and build the source.

    The parameters are those of ``add_source``; a wrong one raises
    :class:`~aikit.exceptions.ConfigError` (``rate_limit <= 0`` a ``ValueError``).

    Examples
    --------
    >>> make_source("acme", "hmac", "s", hmac={"header": "X-Acme-Signature"}).redact
    frozenset({'x-acme-signature'})
    >>> make_source("a/b", "github", "s")
    Traceback (most recent call last):
    aikit.exceptions.ConfigError: a source name must be non-empty and contain no '/'
    """
    if not name or "/" in name:
        raise ConfigError("a source name must be non-empty and contain no '/'")
    if secrets is not None and secret is not None:
        raise ConfigError("pass secret= or secrets=, not both")
    values = tuple(secrets) if secrets is not None else ((secret,) if secret else ())
    if not values:
        raise ConfigError(f"source {name!r} needs secret= (or secrets=[...] during a rotation)")
    spec = HmacSpec(**hmac) if isinstance(hmac, dict) else hmac
    config = SourceConfig(
        name,
        scheme,
        values,
        tolerance=tolerance,
        public_url=public_url,
        hubspot_versions=tuple(hubspot_versions),
        github_sha1=github_sha1,
        hmac=spec,
    )
    limiter = None
    if rate_limit is not None:
        rate, burst = rate_limit if isinstance(rate_limit, tuple) else (rate_limit, None)
        limiter = RateLimit(rate, burst)
    redact = frozenset({spec.header} if spec else ())
    return Source(config, Verifier(config), int(max_body), limiter, redact)


def redact_secrets(sources: Mapping[str, Source], text: str) -> str:
    """``text`` with every secret (of four characters or more) of every source replaced by ``***``."""
    for src in sources.values():
        for secret in src.config.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return text
