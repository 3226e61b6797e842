"""How the fake provider behaves: latency, rate limits, faults and content, as one frozen value.

:class:`FakeConfig` is what :class:`aikit.testing.FakeProvider` is started with and what
``POST /_admin/config`` changes at run time (a JSON object with some of the fields below; the others
keep their current value). Every random draw (latency, faults) comes from one generator seeded with
``seed``, so a scenario replays the same way.

>>> cfg = FakeConfig(rpm=600, latency_median_s=0.05)
>>> cfg.replace({"rpm": 60}).rpm
60
>>> FakeConfig.from_mapping({"error_statuses": [503]}).error_statuses
(503,)
>>> "sk-x" in repr(FakeConfig(api_key="sk-x"))
False
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aikit.exceptions import ConfigError

__all__ = ["FakeConfig"]

_RETRY_AFTER_MODES = ("both", "seconds", "ms", "none")
_REPLY_MODES = ("hash", "echo")


@dataclass(frozen=True)
class FakeConfig:
    """Behaviour of a fake AI provider.

    Attributes
    ----------
    latency_median_s, latency_sigma, latency_max_s : float
        Lognormal response latency: median (0 means answer at once), shape, and a ceiling.
    seed : int
        Seed of the generator behind latency and fault draws (reseeded on reset/config change).
    rpm, tpm : float or None
        Requests and tokens per minute. Each is a continuously refilled token bucket holding
        ``burst_s`` seconds of rate. A request costs its prompt tokens plus ``max_tokens`` (or
        ``default_max_tokens``). Over the limit: 429 with ``retry-after``/``retry-after-ms``.
    burst_s : float
        Depth of both buckets in seconds of rate (OpenAI enforces per-minute limits over short windows).
    retry_after : str
        Which hints a 429 carries: ``"both"``, ``"seconds"`` (whole, rounded up), ``"ms"`` or ``"none"``.
    error_rate, error_statuses : float, tuple of int
        Share of requests answered with one of ``error_statuses`` (after the normal latency).
    slow_rate, slow_s : float
        Share of requests delayed by an extra ``slow_s`` seconds.
    hang_rate, hang_s : float
        Share of requests never answered until the client disconnects (or ``hang_s`` passes).
    api_key : str or None
        When set, requests must carry it (``Authorization: Bearer``, ``x-api-key``, or as the password
        of HTTP Basic; on Azure's routes ``api-key``); else 401. The admin routes need it too.
    echo_key : bool
        A 401 quotes the presented key back without its last 3 characters, as careless providers do
        (for tests that error messages and logs mask partial keys).
    reply : str
        ``"hash"``: ``fake-<16 hex of sha256(model, messages)>``; ``"echo"``: the last user message.
    reply_words : int
        Extra deterministic filler words appended to the reply (longer answers, more stream chunks).
    fail_trigger : str or None
        A prompt containing this text gets a 400 (a non-retryable error); None disables it.
    default_max_tokens : int
        Output tokens charged to the TPM bucket when a request sets no ``max_tokens``.
    stream_chunk_chars, stream_delay_s : int, float
        Size of streamed text deltas and the pause between them.
    models : tuple of str
        What ``GET /v1/models`` lists.
    require_anthropic_version : bool
        ``POST /v1/messages`` without an ``anthropic-version`` header gets a 400, as the real API does.
    context_tokens : int or None
        The context window: a prompt of more tokens (as billed) gets the provider's 400 for it
        (OpenAI ``code: context_length_exceeded``, Anthropic "prompt is too long"); None: no limit.
    embed_max_inputs, embed_dim : int
        ``POST /v1/embeddings``: most inputs per request (more gets a 400) and the vector size.
    """

    latency_median_s: float = 0.0
    latency_sigma: float = 0.5
    latency_max_s: float = 20.0
    seed: int = 0
    rpm: float | None = None
    tpm: float | None = None
    burst_s: float = 1.0
    retry_after: str = "both"
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    slow_rate: float = 0.0
    slow_s: float = 5.0
    hang_rate: float = 0.0
    hang_s: float = 300.0
    api_key: str | None = field(default=None, repr=False)
    echo_key: bool = False
    reply: str = "hash"
    reply_words: int = 0
    fail_trigger: str | None = "FAIL400"
    default_max_tokens: int = 16
    stream_chunk_chars: int = 8
    stream_delay_s: float = 0.0
    models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "claude-haiku-4-5", "fake-model")
    require_anthropic_version: bool = True
    context_tokens: int | None = None
    embed_max_inputs: int = 2048
    embed_dim: int = 64

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "hang_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"FakeConfig.{name} must be between 0 and 1, got {value!r}")
        if self.error_rate + self.slow_rate + self.hang_rate > 1.0:
            raise ConfigError("FakeConfig: error_rate + slow_rate + hang_rate must not exceed 1")
        for name in ("latency_median_s", "latency_sigma", "slow_s", "hang_s", "stream_delay_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"FakeConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"FakeConfig.{name} must be > 0 or None (no limit), got {value!r}")
        if self.burst_s <= 0 or self.latency_max_s <= 0:
            raise ConfigError("FakeConfig.burst_s and latency_max_s must be > 0")
        if self.retry_after not in _RETRY_AFTER_MODES:
            raise ConfigError(
                f"FakeConfig.retry_after must be one of {_RETRY_AFTER_MODES}, got {self.retry_after!r}"
            )
        if self.reply not in _REPLY_MODES:
            raise ConfigError(f"FakeConfig.reply must be one of {_REPLY_MODES}, got {self.reply!r}")
        if not self.error_statuses or not all(400 <= s <= 599 for s in self.error_statuses):
            raise ConfigError(
                f"FakeConfig.error_statuses must be HTTP error codes, got {self.error_statuses!r}"
            )
        if self.stream_chunk_chars < 1 or self.default_max_tokens < 1 or self.reply_words < 0:
            raise ConfigError("FakeConfig: stream_chunk_chars and default_max_tokens >= 1, reply_words >= 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: FakeConfig | None = None) -> FakeConfig:
        """A config from JSON-like data; fields not given keep ``base``'s value (default: the defaults).

        Unknown field names raise :class:`aikit.exceptions.ConfigError` naming the valid ones.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown FakeConfig fields {unknown}; valid: {sorted(known)}")
        changes: dict[str, Any] = {}
        for name, value in data.items():
            if name in ("error_statuses", "models") and isinstance(value, list | tuple):
                value = tuple(int(v) if name == "error_statuses" else str(v) for v in value)
            changes[name] = value
        try:
            return dataclasses.replace(base or cls(), **changes)
        except TypeError as exc:  # pragma: no cover - names were checked above
            raise ConfigError(str(exc)) from exc

    def replace(self, changes: Mapping[str, Any]) -> FakeConfig:
        """A copy with ``changes`` applied (same rules as :meth:`from_mapping`)."""
        return FakeConfig.from_mapping(changes, base=self)

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """JSON-able fields; ``api_key`` is shown only as set/unset unless ``include_secrets``."""
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        data["models"] = list(self.models)
        if not include_secrets:
            data["api_key"] = None if self.api_key is None else "***"
        return data
