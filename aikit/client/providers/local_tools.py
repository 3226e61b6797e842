"""Tool calls on the embedded model, done with llama.cpp's JSON-schema grammar (sans I/O).

The embedded llama.cpp server takes ``tools`` and answers plain text: SmolLM2's chat template carries
no tools, and llama.cpp then ignores them (even with ``tool_choice: "required"``), which a client would
read as "no call". So aikit never sends it ``tools``. Instead the request asks for structured output
whose JSON Schema *is* the choice of a call: ``{"tool": <name>, "arguments": <that tool's schema>}``
for each tool (``required`` or a named tool), plus ``{"answer": <text>}`` when the model may answer
instead (``auto``). The grammar makes every answer valid; :func:`read_answer` turns it back into text
or :class:`~aikit.client.tools.ToolCall` values, so callers see the same ``tool_calls`` as from any
provider. Earlier calls and tool results in the conversation become plain turns the template can
carry (:func:`plain_messages`). A tiny model chooses tools poorly: the shape is guaranteed, the
judgement is not.

The same functions serve raw OpenAI bodies in the ``aikit serve ai`` gateway
(:mod:`aikit.local.llm.gateway`).

>>> from aikit.client.tools import tools_of
>>> def lookup(email: str) -> str:
...     '''Find a contact.'''
>>> schema = answer_schema(tools_of([lookup]), "required")
>>> [o["properties"]["tool"] for o in schema["anyOf"]]
[{'const': 'lookup'}]
>>> read_answer('{"tool": "lookup", "arguments": {"email": "a@b.c"}}', "call_1")
('', (ToolCall(id='call_1_0', name='lookup', arguments={'email': 'a@b.c'}),))
>>> read_answer('{"answer": "Hello"}', "c")
('Hello', ())
"""

from __future__ import annotations

import json
from typing import Any

from aikit.client.tools import Tool, ToolCall

__all__ = ["SCHEMA_NAME", "answer_schema", "plain_messages", "read_answer", "tools_prompt"]

SCHEMA_NAME = "tool_choice"


def answer_schema(tools: tuple[Tool, ...], choice: str | None) -> dict[str, Any]:
    """The JSON Schema of an answer that is a call of one of ``tools`` (or, with ``auto``, text)."""
    named = [t for t in tools if t.name == choice] or list(tools)
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in named
    ]
    if choice in (None, "auto"):
        options.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": options}


def tools_prompt(tools: tuple[Tool, ...], choice: str | None) -> str:
    """The system text that lists the tools (the grammar fixes the shape; this gives the meaning)."""
    lines = [f"- {t.name}: {t.description or 'no description'}" for t in tools]
    ask = 'Answer with JSON: {"tool": name, "arguments": {...}} to call a tool' + (
        ', or {"answer": text} to answer directly.' if choice in (None, "auto") else "."
    )
    return "You can call these tools:\n" + "\n".join(lines) + "\n" + ask


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style turns without ``tool_calls``/``tool`` roles: calls as JSON, results as user text."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function") or {}
                args = fn.get("arguments") or "{}"
                names[str(c.get("id"))] = str(fn.get("name"))
                calls.append(
                    {"tool": fn.get("name"), "arguments": json.loads(args) if isinstance(args, str) else args}
                )
            content = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            out.append({"role": "assistant", "content": content})
        elif role == "tool":
            name = names.get(str(m.get("tool_call_id")), "the tool")
            out.append({"role": "user", "content": f"Result of {name}: {m.get('content')}"})
        else:
            out.append({k: v for k, v in m.items() if k in ("role", "content")})
    return out


def read_answer(text: str, ident: str) -> tuple[str, tuple[ToolCall, ...]]:
    """``(text, tool_calls)`` of a grammar-constrained answer (text as it is when it is not JSON)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text, ()
    items = value if isinstance(value, list) else [value]
    calls = tuple(
        ToolCall(f"{ident}_{i}", str(v["tool"]), v.get("arguments") or {})
        for i, v in enumerate(items)
        if isinstance(v, dict) and isinstance(v.get("tool"), str)
    )
    if calls:
        return "", calls
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"], ()
    return text, ()
