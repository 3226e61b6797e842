"""What an AI call returns: :class:`Response` and its token :class:`Usage`.

>>> r = Response(text="hi", model="gpt-4o-mini", usage=Usage(3, 1))
>>> r.usage.total_tokens
4
>>> Response.from_cache(r.to_cache(), cache_key="k").cached
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from aikit.client.tools import ToolCall

__all__ = ["Response", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens billed for one call (as reported by the provider, 0 when it reports nothing)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Response:
    """The result of ``ai.chat()`` / ``ai.achat()``.

    Attributes
    ----------
    text : str
        The model's text (for a schema call, the JSON it returned).
    data : Any
        The parsed structured output: a dict for a JSON Schema, a model instance for a pydantic class,
        None without a schema.
    usage : Usage
        Input and output tokens of the call that produced this answer.
    model : str
        The model that answered (as the provider names it).
    cached : bool
        True when served from the response cache (or from an identical request in flight).
    cache_key : str or None
        The request's cache key (None when the cache is off for the call).
    cost_usd : float or None
        What this call cost: 0.0 on a cache hit, None when the model's price is unknown.
    saved_usd : float or None
        On a cache hit, what the original call cost (what the cache saved).
    latency_s : float
        Wall time of the call, retries and waits included.
    attempts : int
        HTTP attempts made (0 on a cache hit).
    finish_reason : str or None
        Why generation stopped (``stop``, ``length``, ``tool_use`` ...), as the provider says.
    logprobs : list of dict or None
        When the call asked for ``logprobs=True`` (OpenAI and compatible servers): per output token
        ``{"token", "logprob", "top_logprobs": [{"token", "logprob"}, ...]}``. None otherwise, and
        always None from Anthropic, which returns no token probabilities.
    tool_calls : tuple of ToolCall
        The tools the model asked to call (``tools=``), each with validated ``arguments``.
    """

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    data: Any = None
    cached: bool = False
    cache_key: str | None = None
    cost_usd: float | None = None
    saved_usd: float | None = None
    latency_s: float = 0.0
    attempts: int = 0
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    def to_cache(self) -> dict[str, Any]:
        """The JSON-able dict stored in the response cache (no headers, keys or timings)."""
        data = self.data
        dump = getattr(data, "model_dump", None)
        if callable(dump):
            data = dump(mode="json")
        value = {
            "text": self.text,
            "data": data,
            "usage": {"input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens},
            "model": self.model,
            "finish_reason": self.finish_reason,
            "cost_usd": self.cost_usd,
        }
        if self.logprobs is not None:  # only when asked for, so other entries stay as they were
            value["logprobs"] = self.logprobs
        if self.tool_calls:  # only then, so every other cached answer stays as it was
            value["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        return value

    @classmethod
    def from_cache(cls, value: dict[str, Any], *, cache_key: str | None, latency_s: float = 0.0) -> Response:
        """Rebuild a cache hit: ``cached=True``, zero cost, the original cost as ``saved_usd``."""
        usage = value.get("usage") or {}
        return cls(
            text=str(value.get("text", "")),
            model=str(value.get("model", "")),
            usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))),
            data=value.get("data"),
            cached=True,
            cache_key=cache_key,
            cost_usd=0.0,
            saved_usd=value.get("cost_usd"),
            latency_s=latency_s,
            attempts=0,
            finish_reason=value.get("finish_reason"),
            logprobs=value.get("logprobs"),
            tool_calls=tuple(
                ToolCall(str(c["id"]), str(c["name"]), c["arguments"]) for c in value.get("tool_calls") or ()
            ),
        )

    def replace(self, **changes: Any) -> Response:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def __str__(self) -> str:
        return self.text
