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

import base64
import binascii
import ipaddress
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aikit.exceptions import ConfigError
from aikit.webhooks.verify import HmacSpec, SourceConfig, Verifier

__all__ = ["ClientLimits", "MiB", "RateLimit", "Source", "client_address", "make_source", "redact_secrets"]

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


class ClientLimits:
    """One token bucket per client address, for requests that failed the signature check.

    Bounded: at most ``max_clients`` addresses are tracked (the least recently seen are forgotten),
    because addresses are attacker-controlled.

    >>> limits = ClientLimits(1.0, burst=2)
    >>> [limits.take("10.0.0.1", now=0.0) for _ in range(3)], limits.take("10.0.0.2", now=0.0)
    ([0.0, 0.0, 1.0], 0.0)
    """

    def __init__(self, rate: float, burst: float, max_clients: int = 4096) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, RateLimit] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """Count one failure of ``client``; 0.0, or the seconds it must wait."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = RateLimit(self.rate, self.burst)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        return bucket.take(now)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(values: Iterable[str] | None, what: str) -> tuple[Network, ...]:
    out = []
    for value in values or ():
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"{what}: {value!r} is not an IP address or CIDR such as '192.30.252.0/22'"
            ) from exc
    return tuple(out)


def _inside(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The client's address: ``peer``, or, when ``peer`` is a trusted proxy, the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries to its left are the
    sender's own claims and could be forged).

    >>> proxies = _networks(["127.0.0.1/32"], "trusted_proxies")
    >>> client_address("127.0.0.1", "6.6.6.6, 192.30.252.7", proxies)
    '192.30.252.7'
    >>> client_address("10.1.1.1", "192.30.252.7", proxies)  # not a trusted proxy: its header is ignored
    '10.1.1.1'
    """
    if not forwarded_for or not _inside(peer, proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if hop and not _inside(hop, proxies):
            return hop
    return peer


@dataclass
class Source:
    """A configured source as the app sees it, with its live counters."""

    config: SourceConfig
    verifier: Verifier
    max_body: int
    limiter: RateLimit | None
    redact: frozenset[str]
    counts: Counter[str] = field(default_factory=Counter)
    transform: Callable[[Any], Any] | None = None
    filter: Callable[[Any], bool] | None = None
    allow: tuple[Network, ...] = ()
    proxies: tuple[Network, ...] = ()
    failures: ClientLimits | None = None

    def allowed(self, address: str) -> bool:
        """True when no allowlist is set or ``address`` is inside it."""
        return not self.allow or _inside(address, self.allow)


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
    transform: Callable[[Any], Any] | None = None,
    filter: Callable[[Any], bool] | None = None,
    allow: Sequence[str] | None = None,
    trusted_proxies: Sequence[str] | None = None,
    failed_signature_limit: float | tuple[float, float] | None = (1.0, 20.0),
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
    for fn, what in ((transform, "transform"), (filter, "filter")):
        if fn is not None and not callable(fn):
            raise ConfigError(f"{what}= must be a function of the event, got {type(fn).__name__}")
    if isinstance(allow, str) or isinstance(trusted_proxies, str):
        raise ConfigError("allow= and trusted_proxies= are lists of CIDRs, e.g. ['192.30.252.0/22']")
    failures = None
    if failed_signature_limit is not None:
        rate, burst = (
            failed_signature_limit
            if isinstance(failed_signature_limit, tuple)
            else (failed_signature_limit, max(1.0, failed_signature_limit))
        )
        if rate <= 0 or burst < 1:
            raise ConfigError("failed_signature_limit is (rate per second > 0, burst >= 1) or None")
        failures = ClientLimits(float(rate), float(burst))
    redact = frozenset({spec.header} if spec else ())
    return Source(
        config,
        Verifier(config),
        int(max_body),
        limiter,
        redact,
        transform=transform,
        filter=filter,
        allow=_networks(allow, "allow"),
        proxies=_networks(trusted_proxies, "trusted_proxies"),
        failures=failures,
    )


def _forms(secret: str) -> set[str]:
    """The ways a secret can show up in text: as given, without its ``whsec_``-style prefix, and its
    key bytes re-encoded (base64, URL-safe base64, hex) when the rest is base64."""
    forms = {secret}
    _, sep, rest = secret.partition("_")
    if sep and secret.startswith(("whsec_", "whsk_", "whpk_")):
        forms.add(rest)
        try:
            key = base64.b64decode(rest, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) >= 4:
            forms |= {
                base64.b64encode(key).decode(),
                base64.b64encode(key).decode().rstrip("="),
                base64.urlsafe_b64encode(key).decode().rstrip("="),
                key.hex(),
            }
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {f for f in forms if len(f) >= 4}


def redact_secrets(sources: Mapping[str, Source], text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every secret (of four characters or more) of every source, in every form it
    takes (see :func:`_forms`: the ``standard`` secret's base64 part included), replaced by ``***``.

    >>> src = make_source("s", "standard", "whsec_c2VjcmV0LWJ5dGVz")
    >>> redact_secrets({"s": src}, "key=c2VjcmV0LWJ5dGVz hex=7365637265742d6279746573")
    'key=*** hex=***'
    """
    secrets = [s for src in sources.values() for s in src.config.secrets]
    for secret in [*secrets, *extra]:
        for form in sorted(_forms(secret), key=len, reverse=True):
            text = text.replace(form, "***")
    return text
