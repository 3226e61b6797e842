"""``ai.run``: the tool loop. Ask, run the tools the model calls, feed the results back, repeat.

Every step is one ordinary ``achat`` call, so it goes through the one call flow: paced, retried,
validated (the model's arguments against each tool's schema), cached and written to the call log
like any other call. A cached re-run of the same loop replays every step from the cache and calls the
tools again (their effects are the caller's, not the cache's). A tool that raises does not end the
loop: its error (type and message) goes back to the model as the tool's result, so the model can
correct its call; the loop ends when the model answers without calling a tool, or raises
:class:`~aikit.exceptions.ToolLoopError` after ``max_steps`` model calls that still asked for tools.

>>> step = ToolStep(ToolCall("c1", "get", {"id": 1}), result='{"id": 1}')
>>> step.ok
True
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aikit.client.tools import Tool, ToolCall, call_message, result_message, tools_of
from aikit.exceptions import ConfigError, ToolLoopError

if TYPE_CHECKING:  # pragma: no cover
    from aikit.client.response import Response

#: The client (``aikit.client.ai.AsyncAI``, which imports this module: named, not imported).
Client = Any

__all__ = ["RunResult", "ToolStep", "arun"]

#: Characters of a tool's result sent back to the model (a longer one is cut, and says so).
MAX_RESULT_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ToolStep:
    """One tool call the loop executed: the call, what went back to the model, the error if any."""

    call: ToolCall
    result: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RunResult:
    """What ``ai.run`` returns.

    Attributes
    ----------
    text : str
        The model's final answer.
    response : Response
        The last model call (``tool_calls`` empty).
    responses : list of Response
        Every model call, in order (``len(responses)`` steps).
    steps : list of ToolStep
        Every tool call executed, in order, with its result or error.
    messages : list of dict
        The whole conversation, provider-neutral, ready to continue.
    """

    text: str
    response: Response
    responses: list[Response] = field(default_factory=list)
    steps: list[ToolStep] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


async def arun(
    ai: Client, prompt: Any, tools: Any, *, max_steps: int = 8, system: str | None = None, **kwargs: Any
) -> RunResult:
    """Run the tool loop on ``ai`` (see the module docstring); ``kwargs`` go to every ``achat``."""
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigError(f"max_steps must be a positive int, got {max_steps!r}")
    if "schema" in kwargs:
        raise ConfigError("ai.run() answers in text; ask for a schema in a separate chat() after it")
    defined = tools_of(tools)
    missing = [t.name for t in defined if t.fn is None]
    if not defined or missing:
        raise ConfigError(f"ai.run() needs tools that are Python functions; not callable: {missing}")
    by_name = {t.name: t for t in defined}
    messages: list[dict[str, Any]] = (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    )
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    responses: list[Response] = []
    steps: list[ToolStep] = []
    for _ in range(max_steps):
        r = await ai.achat(list(messages), tools=defined, **kwargs)
        responses.append(r)
        if not r.tool_calls:
            messages.append({"role": "assistant", "content": r.text})
            return RunResult(r.text, r, responses, steps, messages)
        messages.append(call_message(r.text, r.tool_calls))
        for call in r.tool_calls:
            step = await _execute(by_name[call.name], call, ai._ledger.scrub)
            steps.append(step)
            messages.append(result_message(call, step.result))
    names = sorted({s.call.name for s in steps[-len(responses[-1].tool_calls) :]})
    raise ToolLoopError(
        f"ai.run() stopped after max_steps={max_steps} model calls: the model still called {names}. "
        "Raise max_steps, or make the tools' results say when the task is done."
    )


async def _execute(tool: Tool, call: ToolCall, scrub: Callable[[str], str]) -> ToolStep:
    fn = tool.fn
    assert fn is not None
    try:
        if inspect.iscoroutinefunction(fn):
            value = await fn(**call.arguments)
        else:  # in a worker thread: a tool may block, or call aikit's sync API itself
            value = await asyncio.to_thread(fn, **call.arguments)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:  # the model sees the error and may correct its call
        error = scrub(f"{type(exc).__name__}: {exc}")
        return ToolStep(call, f"error: {error}", error)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"... [cut: {len(text):,} characters in all]"
    return ToolStep(call, scrub(text))
