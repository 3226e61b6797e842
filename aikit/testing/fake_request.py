"""What a request asks of the fake provider, without any I/O: checks, the answer's shape, directives.

:func:`validate` applies the rules of each wire format (OpenAI Chat Completions, Anthropic Messages)
and returns the provider-style message of the first broken one; :func:`answer_shape` finds the JSON
schema (``response_format``, a forced Anthropic tool, ``output_format``) the answer must follow;
:func:`directives` reads the per-request ``[[fake:status=503,times=2]]`` instructions a test writes
into a message. The ASGI app (:mod:`aikit.testing.fake_app`) acts on the results.

>>> from aikit.testing.fake_config import FakeConfig
>>> validate({"model": "m", "messages": []}, {}, False, FakeConfig())
"'messages' must be a non-empty array"
>>> directives([("user", "hi [[fake:status=503,times=2]]")])
{'status': '503', 'times': '2'}
>>> answer_shape({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, False)
({}, None)
"""

from __future__ import annotations

import re
from typing import Any

from aikit.testing.fake_config import FakeConfig

__all__ = ["answer_shape", "directives", "max_tokens", "validate"]

_DIRECTIVE = re.compile(r"\[\[fake:([^\]]*)\]\]")
_OPENAI_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_ANTHROPIC_ROLES = frozenset({"user", "assistant"})


def max_tokens(req: dict[str, Any], anthropic: bool) -> Any:
    """The output limit the request asks for (OpenAI: ``max_completion_tokens``, then ``max_tokens``)."""
    return req.get("max_tokens") if anthropic else req.get("max_completion_tokens", req.get("max_tokens"))


def validate(req: Any, headers: dict[str, str], anthropic: bool, cfg: FakeConfig) -> str | None:
    """The provider's 400 message for a malformed request, or None when it is well formed."""
    if not isinstance(req, dict):
        return "The request body must be a JSON object."
    if not isinstance(req.get("model"), str) or not req["model"]:
        return "model: Field required" if anthropic else "you must provide a model parameter"
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Field required" if anthropic else "'messages' must be a non-empty array"
    roles = _ANTHROPIC_ROLES if anthropic else _OPENAI_ROLES
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in roles and not (anthropic and role == "system"):
            allowed = ", ".join(sorted(roles))
            return f"messages[{i}].role: unknown role {role!r} (expected one of {allowed})"
    limit = max_tokens(req, anthropic)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        return f"max_tokens must be a positive integer, got {limit!r}"
    if anthropic:
        if cfg.require_anthropic_version and "anthropic-version" not in headers:
            return "anthropic-version: header is required"
        if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] < 1:
            return "max_tokens: Field required (a positive integer)"
        if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
            return 'messages: Unexpected role "system". Use the top-level `system` parameter instead.'
    return None


def answer_shape(req: dict[str, Any], anthropic: bool) -> tuple[Any, str | None]:
    """(JSON schema to answer with or None, name of the tool to call or None).

    Tools are called deterministically: a forced tool (``tool_choice`` naming it), else with
    ``required``/``any`` the tool named in the last user message (else the first tool), else with
    ``auto`` (the default) the tool named in the last user message, if any; never right after a
    tool result, and never with ``none``. The arguments are a :func:`schema_instance` of its schema.
    """
    called = _tool_to_call(req, anthropic)
    if called is not None:
        return called
    if not anthropic:
        fmt = req.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema") or {}, None
        if isinstance(fmt, dict) and fmt.get("type") == "json_object":
            return {"type": "object", "properties": {"answer": {"type": "string"}}}, None
        return None, None
    fmt = req.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema") or {}, None
    return None, None


def _tool_to_call(req: dict[str, Any], anthropic: bool) -> tuple[Any, str] | None:
    defs: dict[str, Any] = {}
    for t in req.get("tools") or ():
        if not isinstance(t, dict):
            continue
        if anthropic:
            defs[str(t.get("name"))] = t.get("input_schema") or {"type": "object"}
        else:
            fn = t.get("function") or {}
            defs[str(fn.get("name"))] = fn.get("parameters") or {"type": "object"}
    if not defs:
        return None
    choice = req.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        kind = choice.get("type")
        forced = choice.get("name") if anthropic else (choice.get("function") or {}).get("name")
        if kind in ("tool", "function") and forced in defs:
            return defs[str(forced)], str(forced)
        choice = {"any": "required"}.get(str(kind), str(kind))
    if choice == "none":
        return None
    messages = [m for m in req.get("messages") or () if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    content = last.get("content")
    after_result = last.get("role") == "tool" or (
        isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )
    if after_result and choice != "required":
        return None
    text = content if isinstance(content, str) else ""
    named = next((n for n in defs if n in text), None)
    if named is None and choice == "required":
        named = next(iter(defs))
    return (defs[named], named) if named is not None else None


def directives(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The ``[[fake:key=value,...]]`` directives in the conversation (later ones win).

    Keys: ``status=N``, ``times=K``, ``retry_after=S``, ``delay=S``, ``hang``, ``invalid_json``,
    ``finish=length``, ``only=MODEL`` (the directives apply only to requests for that model); a bare
    key means ``1``.

    Raises
    ------
    ValueError
        When a numeric value does not parse (the app answers 400).
    """
    found: dict[str, str] = {}
    for _, text in pairs:
        if "[[fake:" not in text:
            continue
        for match in _DIRECTIVE.finditer(text):
            for item in match.group(1).split(","):
                name, _, value = item.strip().partition("=")
                if name:
                    found[name] = value or "1"
    for name in ("status", "times"):
        if name in found:
            int(found[name])
    for name in ("retry_after", "delay"):
        if name in found:
            float(found[name])
    return found
