"""Structured output: a JSON Schema dict or a pydantic model class, sent and validated.

:class:`OutputSchema` turns what the caller passed into the JSON Schema sent on the wire (each
provider wraps it in its native structured-output field) and validates the model's answer:
``jsonschema`` for a dict, ``model_validate_json`` for a pydantic class. Providers turn a failed
validation into one retry, then :class:`~aikit.exceptions.InvalidOutputError`.

>>> s = OutputSchema.of({"type": "object", "properties": {"tone": {"enum": ["pos", "neg"]}},
...                      "required": ["tone"]})
>>> s.parse('{"tone": "pos"}')
{'tone': 'pos'}
>>> s.parse('{"tone": "meh"}')
Traceback (most recent call last):
...
aikit.client.schema.SchemaMismatch: 'meh' is not one of ['pos', 'neg'] (at tone)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aikit.exceptions import AIKitError, ConfigError

__all__ = ["OutputSchema", "SchemaMismatch"]

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class SchemaMismatch(AIKitError, ValueError):
    """The model's output is not valid JSON for the schema (internal; becomes InvalidOutputError)."""


@dataclass(frozen=True, eq=False)
class OutputSchema:
    """A validated-output contract.

    Attributes
    ----------
    name : str
        A short name for the schema (the pydantic class name, the dict's ``title``, else ``output``).
    json_schema : dict
        The JSON Schema sent to the provider.
    model : type or None
        The pydantic class when one was given (``parse`` returns its instances).
    """

    name: str
    json_schema: dict[str, Any]
    model: Any = None

    @classmethod
    def of(cls, schema: Any) -> OutputSchema | None:
        """Build from a JSON Schema dict, a pydantic ``BaseModel`` subclass, or None.

        Raises
        ------
        ConfigError
            ``schema`` is neither (or the dict is not a valid JSON Schema).
        """
        if schema is None:
            return None
        if isinstance(schema, OutputSchema):
            return schema
        if isinstance(schema, dict):
            _check_schema(schema)
            name = _safe_name(str(schema.get("title") or "output"))
            return cls(name=name, json_schema=schema)
        to_schema = getattr(schema, "model_json_schema", None)
        if isinstance(schema, type) and callable(to_schema):
            return cls(name=_safe_name(schema.__name__), json_schema=to_schema(), model=schema)
        raise ConfigError(
            f"schema must be a JSON Schema dict or a pydantic BaseModel class, got {type(schema).__name__}"
        )

    def parse(self, text: str) -> Any:
        """Parse and validate the model's text; return a dict (or a pydantic instance).

        Raises
        ------
        SchemaMismatch
            Not JSON, or JSON that does not match the schema. The message says where.
        """
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate_json(_strip_fence(text))
            except ValidationError as exc:
                errors = exc.errors()
                if not errors:
                    raise SchemaMismatch(str(exc)) from None
                where = ".".join(str(p) for p in errors[0]["loc"])
                raise SchemaMismatch(f"{errors[0]['msg']} (at {where or 'top level'})") from None
        try:
            value = json.loads(_strip_fence(text))
        except ValueError as exc:
            raise SchemaMismatch(f"output is not valid JSON: {exc}") from None
        self.validate(value)
        return value

    def validate(self, value: Any) -> None:
        """Check an already-decoded value against the JSON Schema (raises SchemaMismatch)."""
        import jsonschema  # type: ignore[import-untyped]

        validator = _validator(self)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path)
            raise SchemaMismatch(f"{error.message} (at {where or 'top level'})")

    def load(self, data: Any) -> Any:
        """Turn cached JSON data back into what ``parse`` returns (a pydantic instance if needed)."""
        if self.model is not None and data is not None:
            return self.model.model_validate(data)
        return data


def _validator(schema: OutputSchema) -> Any:
    v = schema.__dict__.get("_validator")
    if v is None:
        import jsonschema

        cls = jsonschema.validators.validator_for(schema.json_schema)
        v = cls(schema.json_schema)
        object.__setattr__(schema, "_validator", v)
    return v


def _check_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ConfigError(f"schema is not a valid JSON Schema: {exc.message}") from None


def _strip_fence(text: str) -> str:
    m = _FENCE.match(text)
    return m.group(1) if m else text


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]
    return cleaned or "output"
