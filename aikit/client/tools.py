"""Tool (function) calling, sans I/O: what a tool is, how each wire format sends it, what a call is.

``ai.chat(..., tools=[...])`` takes Python functions, pydantic model classes or JSON Schema tool
definitions; :func:`tools_of` turns each into a :class:`Tool` (name, description, the JSON Schema of
its arguments). The providers send them natively (OpenAI ``tools``/``tool_choice``, Anthropic
``tools``/``tool_choice``), read the model's calls back as raw :class:`ToolCall` values, and the
attempt flow validates each call's arguments against its tool (:func:`validated_calls`): a call
that names no tool or fails the schema is retried once, like structured output that fails its schema.

``tool_choice`` is provider-neutral: ``"auto"`` (the model decides), ``"none"``, ``"required"`` (some
tool), or a tool's name (that tool).

>>> def lookup(email: str, limit: int = 5) -> list[str]:
...     '''Find the contacts with this e-mail address.'''
>>> (t,) = tools_of([lookup])
>>> t.name, t.description, t.parameters["required"]
('lookup', 'Find the contacts with this e-mail address.', ['email'])
>>> openai_tool_choice("lookup")
{'type': 'function', 'function': {'name': 'lookup'}}
>>> validated_calls((t,), (ToolCall("c1", "lookup", '{"email": "a@b.c"}'),))[0].arguments
{'email': 'a@b.c'}
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aikit.client.schema import OutputSchema, SchemaMismatch
from aikit.exceptions import ConfigError

__all__ = [
    "TOOL_CHOICES",
    "Tool",
    "ToolCall",
    "anthropic_tool_choice",
    "anthropic_tools",
    "call_message",
    "openai_tool_choice",
    "openai_tools",
    "result_message",
    "tool_choice_of",
    "tools_of",
    "validated_calls",
]

#: The provider-neutral ``tool_choice`` values (besides a tool's name).
TOOL_CHOICES = ("auto", "none", "required")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    list: {"type": "array"},
    type(None): {"type": "null"},
}


@dataclass(frozen=True, eq=False)
class Tool:
    """One tool the model may call.

    Attributes
    ----------
    name, description : str
        What the model sees (the function's name and the first paragraph of its docstring).
    parameters : dict
        The JSON Schema (an object) of the arguments.
    fn : callable or None
        The Python function, when one was given (``ai.run`` calls it).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] | None = None
    _schema: OutputSchema = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        if self.parameters.get("type", "object") != "object":
            raise ConfigError(f"tool {self.name!r}: parameters must be a JSON Schema object")
        schema = OutputSchema.of(self.parameters)
        assert schema is not None
        object.__setattr__(self, "_schema", schema)

    @classmethod
    def of(cls, item: Any) -> Tool:
        """A tool from a function, a pydantic model class, a ``Tool``, or a JSON Schema definition.

        A definition is ``{"name", "description", "parameters"}`` (OpenAI's ``function`` object, also
        accepted inside ``{"type": "function", "function": {...}}``) or Anthropic's ``input_schema``.
        """
        if isinstance(item, Tool):
            return item
        if isinstance(item, Mapping):
            spec = item.get("function", item) if item.get("type") == "function" else item
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                raise ConfigError('a tool definition needs a "name" (and "parameters" or "input_schema")')
            params = spec.get("parameters", spec.get("input_schema")) or {"type": "object", "properties": {}}
            return cls(str(spec["name"]), str(spec.get("description") or ""), dict(params))
        to_schema = getattr(item, "model_json_schema", None)
        if isinstance(item, type) and callable(to_schema):
            schema = dict(to_schema())
            doc = schema.pop("description", None) or _doc(item)
            schema.pop("title", None)
            return cls(item.__name__, doc, schema)
        if callable(item):
            return cls(getattr(item, "__name__", "tool"), _doc(item), _signature_schema(item), fn=item)
        raise ConfigError(
            "a tool must be a function, a pydantic model class or a JSON Schema dict, "
            f"got {type(item).__name__}"
        )

    def arguments(self, raw: Any) -> dict[str, Any]:
        """The call's arguments decoded and validated (raises :class:`SchemaMismatch`)."""
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise SchemaMismatch(f"tool {self.name}: arguments are not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise SchemaMismatch(f"tool {self.name}: arguments must be a JSON object, got {raw!r:.80}")
        try:
            self._schema.validate(raw)
        except SchemaMismatch as exc:
            raise SchemaMismatch(f"tool {self.name}: {exc}") from None
        return raw

    def definition(self) -> dict[str, Any]:
        """``{"name", "description", "parameters"}``: what decides the answer (the cache key's part)."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for: ``id`` (to answer it), the tool's ``name`` and ``arguments``.

    Before validation ``arguments`` is what the provider sent (a JSON string or a dict); in a
    :class:`~aikit.client.response.Response` it is the validated dict.
    """

    id: str
    name: str
    arguments: Any

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


def tools_of(items: Any) -> tuple[Tool, ...]:
    """The tools of ``tools=`` (a list; names must be unique)."""
    if items is None:
        return ()
    if isinstance(items, Mapping | str) or not isinstance(items, Iterable):
        raise ConfigError("tools= must be a list of functions, pydantic model classes or JSON Schema dicts")
    tools = tuple(Tool.of(item) for item in items)
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ConfigError(f"tool names must be unique, got {names}")
    return tools


def tool_choice_of(choice: Any, tools: tuple[Tool, ...]) -> str | None:
    """Check ``tool_choice``: None, one of :data:`TOOL_CHOICES`, or the name of one of ``tools``."""
    if choice is None:
        return None
    if isinstance(choice, Tool) or (callable(choice) and not isinstance(choice, str)):
        choice = Tool.of(choice).name
    if not isinstance(choice, str):
        raise ConfigError(f"tool_choice must be 'auto', 'none', 'required' or a tool's name, got {choice!r}")
    if not tools:
        raise ConfigError("tool_choice= needs tools=[...]")
    if choice not in TOOL_CHOICES and choice not in {t.name for t in tools}:
        names = [t.name for t in tools]
        raise ConfigError(f"tool_choice {choice!r} is not 'auto', 'none', 'required' or one of {names}")
    return choice


def validated_calls(tools: tuple[Tool, ...], calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
    """The calls with validated arguments; a call of an unknown tool raises :class:`SchemaMismatch`."""
    by_name = {t.name: t for t in tools}
    out = []
    for call in calls:
        tool = by_name.get(call.name)
        if tool is None:
            raise SchemaMismatch(f"the model called {call.name!r}, which is not one of {sorted(by_name)}")
        out.append(ToolCall(call.id, call.name, tool.arguments(call.arguments)))
    return tuple(out)


def openai_tools(tools: tuple[Tool, ...]) -> list[dict[str, Any]]:
    """Chat Completions' ``tools``."""
    return [{"type": "function", "function": t.definition()} for t in tools]


def openai_tool_choice(choice: str) -> Any:
    """Chat Completions' ``tool_choice`` for a neutral choice."""
    return choice if choice in TOOL_CHOICES else {"type": "function", "function": {"name": choice}}


def anthropic_tools(tools: tuple[Tool, ...]) -> list[dict[str, Any]]:
    """The Messages API's ``tools``."""
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def anthropic_tool_choice(choice: str) -> dict[str, Any]:
    """The Messages API's ``tool_choice`` for a neutral choice."""
    if choice == "required":
        return {"type": "any"}
    if choice in ("auto", "none"):
        return {"type": choice}
    return {"type": "tool", "name": choice}


def call_message(text: str, calls: Iterable[ToolCall]) -> dict[str, Any]:
    """The provider-neutral (OpenAI-style) assistant message that made ``calls``."""
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)},
            }
            for c in calls
        ],
    }


def result_message(call: ToolCall, content: str) -> dict[str, Any]:
    """The provider-neutral message answering ``call`` (``role: tool``)."""
    return {"role": "tool", "tool_call_id": call.id, "content": content}


def _doc(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].strip()


def _signature_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of ``fn``'s keyword-callable parameters, from their annotations."""
    try:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ConfigError(f"cannot read the signature of tool {fn!r}: {exc}") from None
    props: dict[str, Any] = {}
    required = []
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            continue
        props[name] = _type_schema(hints.get(name, Any))
        if p.default is p.empty:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    return schema


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp is Any or tp is inspect.Parameter.empty:
        return {}
    if tp in _SIMPLE:
        return dict(_SIMPLE[tp])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin in (list, tuple, set, frozenset) or (origin is not None and origin.__name__ == "Sequence"):
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object"}
    to_schema = getattr(tp, "model_json_schema", None)
    if callable(to_schema):
        return dict(to_schema())
    raise ConfigError(f"tool parameter type {tp!r} has no JSON Schema (use str, int, float, bool, list, ...)")
