"""Webhook value objects: a source's configuration and what verification takes and returns.

Plain frozen dataclasses with no I/O, shared by the verifier, the signer and the listener.

>>> SourceConfig("billing", "stripe", ("whsec_abc",)).tolerance
300.0
>>> SourceConfig("issues", "linear", ("s",)).tolerance
60.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aikit.exceptions import ConfigError

__all__ = ["SCHEMES", "Accepted", "EventData", "HmacSpec", "Incoming", "Reply", "SourceConfig"]

SCHEMES = (
    "standard",
    "stripe",
    "github",
    "slack",
    "hubspot",
    "shopify",
    "twilio",
    "zoom",
    "linear",
    "intercom",
    "hmac",
)
_DEFAULT_TOLERANCE = {"linear": 60.0}
#: Other names of a scheme: OpenAI signs its webhooks (``batch.completed`` ...) the Standard Webhooks way.
ALIASES = {"openai": "standard"}
_ALGORITHMS = {"sha1", "sha256", "sha512"}


@dataclass(frozen=True)
class HmacSpec:
    """The generic ``hmac`` scheme: which header, algorithm, encoding, prefix and signed template.

    ``template`` names what is signed; ``{body}`` is the raw body, and ``{timestamp}``, ``{id}``,
    ``{method}`` and ``{url}`` are substituted as text. ``separator`` splits a header carrying several
    signatures (rotation). Timestamps from ``timestamp_header`` are checked against the tolerance.

    >>> HmacSpec(header="x-acme-signature", prefix="sha256=").algorithm
    'sha256'
    """

    header: str = "x-signature"
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    template: str = "{body}"
    timestamp_header: str | None = None
    timestamp_unit: str = "s"
    id_header: str | None = None
    type_header: str | None = None
    separator: str | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ConfigError(f"hmac algorithm must be one of {sorted(_ALGORITHMS)}, not {self.algorithm!r}")
        if self.encoding not in ("hex", "base64", "base64url"):
            raise ConfigError("hmac encoding must be 'hex', 'base64' or 'base64url'")
        if self.timestamp_unit not in ("s", "ms"):
            raise ConfigError("hmac timestamp_unit must be 's' or 'ms'")
        if "{body}" not in self.template:
            raise ConfigError("hmac template must contain '{body}'")
        if "{timestamp}" in self.template and not self.timestamp_header:
            raise ConfigError("hmac template uses {timestamp}: set timestamp_header")
        if "{id}" in self.template and not self.id_header:
            raise ConfigError("hmac template uses {id}: set id_header")
        object.__setattr__(self, "header", self.header.lower())
        for name in ("timestamp_header", "id_header", "type_header"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, value.lower())


@dataclass(frozen=True)
class SourceConfig:
    """One webhook source: its scheme, secrets (several during a rotation) and options.

    The repr never shows the secrets.

    >>> SourceConfig("billing", "stripe", ("whsec_abc",))
    SourceConfig(name='billing', scheme='stripe', secrets=<1 hidden>)
    """

    name: str
    scheme: str
    secrets: tuple[str, ...] = field(repr=False)
    tolerance: float | None = None
    public_url: str | None = None
    hubspot_versions: tuple[str, ...] = ("v3",)
    github_sha1: bool = False
    hmac: HmacSpec | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scheme", ALIASES.get(self.scheme, self.scheme))
        if self.scheme not in SCHEMES:
            raise ConfigError(f"unknown webhook scheme {self.scheme!r}; choose one of {', '.join(SCHEMES)}")
        if not self.secrets or not all(isinstance(s, str) and s for s in self.secrets):
            raise ConfigError(f"source {self.name!r} needs at least one non-empty secret")
        tol = _DEFAULT_TOLERANCE.get(self.scheme, 300.0) if self.tolerance is None else float(self.tolerance)
        if tol <= 0:
            raise ConfigError("tolerance must be a positive number of seconds")
        object.__setattr__(self, "tolerance", tol)
        bad = set(self.hubspot_versions) - {"v1", "v2", "v3"}
        if bad:
            raise ConfigError(f"unknown HubSpot signature versions {sorted(bad)}")
        if self.scheme == "hmac" and self.hmac is None:
            object.__setattr__(self, "hmac", HmacSpec())

    def __repr__(self) -> str:
        hidden = f"<{len(self.secrets)} hidden>"
        return f"SourceConfig(name={self.name!r}, scheme={self.scheme!r}, secrets={hidden})"


@dataclass(frozen=True)
class Incoming:
    """A request as received: method, the URL the listener saw, raw query, lower-case headers, body."""

    method: str
    url: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class EventData:
    """One verified event to store (a HubSpot batch gives one per item)."""

    dedupe_key: str
    event_id: str | None
    event_type: str | None
    provider_ts: float | None
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A scheme-specific answer (handshake, TwiML) instead of the default ``200 ok``."""

    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Accepted:
    """Verification passed: the events to store and an optional reply (a handshake stores nothing)."""

    events: tuple[EventData, ...]
    reply: Reply | None = None
    handshake: bool = False
