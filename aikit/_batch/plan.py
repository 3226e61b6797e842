"""Planning a batch: cache keys, duplicates, one bulk cache lookup, cost estimates. No call is made.

:func:`plan_batch` gives every prompt its cache key, groups duplicates (one call per unique prompt)
and looks all keys up in the client's cache at once, so only the misses are scheduled (by
:mod:`aikit._batch.run`); with ``need_estimates`` it also prices each miss for the budget and the
progress view.

>>> normalise_prompts(["Say hi", [{"role": "user", "content": "Say bye"}]])[0]
'Say hi'
>>> normalise_prompts("Say hi")
Traceback (most recent call last):
...
aikit.exceptions.ConfigError: batch() takes a list of prompts; wrap a single prompt in a list
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client import AsyncAI
    from aikit.client.response import Response

__all__ = ["Plan", "Prompt", "normalise_prompts", "plan_batch"]

Prompt = str | Sequence[Mapping[str, Any]]


@dataclass
class Plan:
    """What a batch will do: the prompts, their groups by cache key, the hits and the misses."""

    aio: AsyncAI
    prompts: list[Any]
    call_kwargs: dict[str, Any]
    cache: str
    groups: dict[str, list[int]]  # cache key -> row positions, in first-seen order
    first: dict[str, Any]  # cache key -> the prompt to send
    hits: dict[str, Response]
    misses: list[str]
    estimates: dict[str, float]  # miss key -> estimated cost (only with need_estimates)
    estimated_cost_usd: float | None
    model: str

    def rows(self, keys: Iterable[str]) -> int:
        """How many rows the unique prompts ``keys`` stand for."""
        return sum(len(self.groups[k]) for k in keys)


def normalise_prompts(prompts: Sequence[Prompt]) -> list[Any]:
    """The prompts as a list, each checked to be a string or a list of chat messages."""
    if isinstance(prompts, str | bytes) or not isinstance(prompts, Sequence | Iterator):
        if isinstance(prompts, str):
            raise ConfigError("batch() takes a list of prompts; wrap a single prompt in a list")
        prompts = list(prompts)
    out = list(prompts)
    for i, p in enumerate(out):
        if isinstance(p, str):
            continue
        if isinstance(p, Sequence) and all(isinstance(m, Mapping) for m in p):
            continue
        raise ConfigError(
            f"prompt {i} must be a str or a list of chat messages (dicts with role/content), "
            f"got {type(p).__name__}"
        )
    return out


def _estimate_cost(aio: AsyncAI, prompt: Any, system: str | None, max_tokens: int | None) -> float | None:
    tin, tout = aio.estimate_tokens(prompt, system=system, max_tokens=max_tokens)
    cost = aio.price(tin, tout)
    return None if cost is None else float(cost)


async def plan_batch(
    aio: AsyncAI,
    prompts: list[Any],
    call_kwargs: dict[str, Any],
    *,
    cache: str,
    need_estimates: bool,
) -> Plan:
    """Key, group and look up ``prompts``; runs on aikit's loop thread (the cache lookup is async)."""
    key_kwargs = {k: v for k, v in call_kwargs.items() if v is not None}
    groups: dict[str, list[int]] = {}
    first: dict[str, Any] = {}
    for i, (prompt, key) in enumerate(zip(prompts, aio.cache_keys(prompts, **key_kwargs), strict=True)):
        rows = groups.get(key)
        if rows is None:
            groups[key] = [i]
            first[key] = prompt
        else:
            rows.append(i)
    hits: dict[str, Response] = {}
    if cache in ("use", "read_only") and groups:
        hits = dict(await aio.cached(list(groups)))
    misses = [k for k in groups if k not in hits]
    estimates: dict[str, float] = {}
    total: float | None = 0.0
    if need_estimates and misses:
        system, max_tokens = call_kwargs.get("system"), call_kwargs.get("max_tokens")
        for key in misses:
            cost = _estimate_cost(aio, first[key], system, max_tokens)
            if cost is None:
                total = None
                break
            estimates[key] = cost
            total = (total or 0.0) + cost
    return Plan(
        aio=aio,
        prompts=prompts,
        call_kwargs=call_kwargs,
        cache=cache,
        groups=groups,
        first=first,
        hits=hits,
        misses=misses,
        estimates=estimates,
        estimated_cost_usd=total if need_estimates else None,
        model=aio.model_spec,
    )
