"""Fallback models: when one model cannot answer a call, the next one in the chain does.

``aikit.AI(["openai:gpt-4o-mini", "anthropic:claude-haiku-4-5", "local"])`` or ``aikit.AI(model,
fallbacks=[...])`` (model strings or configured clients with their own ``base_url``, key and limits).
Each member is a full client: its own cache entries (the key names the provider, base URL and
model), its own limiter, its own call-log rows. A call goes to the first member; it moves on to the
next one only when the failure says *this model* cannot answer now (:func:`moves_on`):

- retries exhausted (429/5xx/timeouts until ``retry.max_attempts`` or the deadline);
- an outage answered without retry hints: any 5xx, 529 overloaded;
- no API key for this member (``MissingCredentialError``);
- the prompt is too long for this model (:class:`~aikit.exceptions.ContextOverflowError`, read
  from the provider's error code: OpenAI ``context_length_exceeded``, Anthropic "prompt is too
  long", llama.cpp ``exceed_context_size_error``).

Any other error (a 400 for a bad request, invalid output, a refused key) is the caller's to see and
is raised at once: another model would refuse it too. Before sending anything, every member's cache
is read, so a row a fallback answered earlier is a cache hit on a re-run, not a new call to the
first model. A row is answered by exactly one member: a call that succeeded is never sent again.

>>> from aikit.exceptions import ContextOverflowError, ProviderHTTPError
>>> moves_on(ContextOverflowError("too long", status=400)), moves_on(ProviderHTTPError("bad", status=400))
(True, False)
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aikit.exceptions import (
    ConfigError,
    ContextOverflowError,
    MissingCredentialError,
    ProviderError,
    RetryExhaustedError,
)

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.response import Response

#: The client (``aikit.client.ai.AsyncAI``, which imports this module: named, not imported).
Client = Any

__all__ = ["SEPARATOR", "achat_chain", "members_of", "moves_on", "split_chain"]

#: Between the members' specs in a chain's ``model_spec`` (``"openai:gpt-4o-mini -> local"``).
SEPARATOR = " -> "
#: Set while a chain calls one member, so that member answers alone.
ALONE: contextvars.ContextVar[bool] = contextvars.ContextVar("aikit_fallback_alone", default=False)
#: Options a member made from a model string shares with the first client (credentials only when
#: it is the same provider: another provider has its own key and endpoint).
_SHARED = ("cache", "timeout", "retry", "transport", "calllog")


def moves_on(exc: BaseException) -> bool:
    """Whether ``exc`` means the next model should try (see the module docstring)."""
    if isinstance(exc, MissingCredentialError | ContextOverflowError | RetryExhaustedError):
        return True
    if isinstance(exc, ProviderError) and exc.status is not None:
        return exc.status >= 500
    return False


def split_chain(model: Any, fallbacks: Any) -> tuple[str, list[Any]]:
    """The first model string and the rest of the chain (``model`` may be a list)."""
    rest: list[Any] = []
    if isinstance(model, list | tuple):
        if not model or not isinstance(model[0], str):
            raise ConfigError("a model chain is a non-empty list whose first item is a model string")
        model, rest = model[0], list(model[1:])
    if fallbacks is not None:
        if isinstance(fallbacks, str) or not isinstance(fallbacks, Sequence):
            raise ConfigError("fallbacks= must be a list of model strings or aikit.AI clients")
        rest.extend(fallbacks)
    return model, rest


def members_of(first: Client, chain: list[Any], options: dict[str, Any]) -> tuple[Client, ...]:
    """The fallback clients: model strings become clients (sharing ``options``), clients stay."""
    client = type(first)  # AsyncAI, named without importing it (it imports this module)
    out: list[Client] = []
    for item in chain:
        aio = getattr(item, "aio", item)
        if isinstance(aio, client):
            if aio.fallbacks:
                raise ConfigError(f"a fallback client has fallbacks of its own: {aio!r}")
            out.append(aio)
            continue
        if not isinstance(item, str):
            raise ConfigError(
                f"a fallback is a model string or an aikit.AI client, got {type(item).__name__}"
            )
        kwargs = {k: options[k] for k in _SHARED if k in options}
        if item.partition(":")[0] == first.spec.provider:
            kwargs.update(base_url=options.get("base_url"), api_key=options.get("api_key"))
        out.append(client(item, **kwargs))
    return tuple(out)


async def achat_chain(first: Client, prompt: Any, args: dict[str, Any]) -> Response:
    """Answer with the first member that can (see the module docstring)."""
    members = (first, *first.fallbacks)
    cache = args.get("cache", "use")
    if cache in ("use", "read_only", True):
        for member in members:  # an earlier answer from any member is this call's answer
            try:
                key = member.cache_key(prompt, **args)
            except ConfigError:
                continue  # this member's provider does not take these parameters
            hit = (await member.cached([key])).get(key)
            if hit is not None:
                return await _alone(member, prompt, args)  # counted and logged as that member's hit
    last: BaseException | None = None
    for member in members:
        try:
            return await _alone(member, prompt, args)
        except Exception as exc:
            if not moves_on(exc) or member is members[-1]:
                if last is not None and exc.__context__ is None:
                    exc.__context__ = last
                raise
            last = exc
    raise AssertionError("unreachable")  # pragma: no cover


async def _alone(member: Client, prompt: Any, args: dict[str, Any]) -> Response:
    token = ALONE.set(True)
    try:
        answer: Response = await member.achat(prompt, **args)
        return answer
    finally:
        ALONE.reset(token)
