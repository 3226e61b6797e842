"""SOQL on the client side: build a query from object + fields + where, and read a query's select list.

``where`` takes the same shorthands as :meth:`aikit.HubSpot.fetch` (a value is ``=``, a list ``IN``, a
tuple ``(operator, value)``, ``None`` means no value), written as SOQL with every literal quoted and
escaped, so a value can never change the query. A string passes through as a raw ``WHERE`` clause.

>>> build_soql("Case", ["Id", "Subject"], {"Priority": ["High", "Medium"], "IsClosed": False,
...            "CreatedDate": (">=", "2025-01-01T00:00:00Z"), "Subject": ("like", "O'Neil%")}, limit=10)
"SELECT Id, Subject FROM Case WHERE Priority IN ('High', 'Medium') AND IsClosed = false AND \
CreatedDate >= 2025-01-01T00:00:00Z AND Subject LIKE 'O\\\\'Neil%' LIMIT 10"
>>> select_fields("SELECT Id, Account.Name, (SELECT Id FROM Contacts), COUNT(Id) n FROM Account")
['Id', 'Account.Name', 'Contacts', 'n']
>>> query_object("select id from Case where Subject = 'from x'")
'Case'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from aikit.exceptions import ConfigError

__all__ = ["build_soql", "is_soql", "literal", "query_object", "select_fields"]

_OPS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "like": "LIKE",
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def is_soql(text: str) -> bool:
    return text.lstrip()[:7].upper() == "SELECT "


def _name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a Salesforce field or object name (letters, digits, _ and dots)")
    return name


def literal(value: Any) -> str:
    """A SOQL literal: strings quoted and escaped, booleans, numbers, dates and datetimes bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and value != value:
            raise ConfigError("NaN is not a SOQL value")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, pd.Timestamp | datetime):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if _DATETIME.match(text) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text  # a date or datetime literal is written bare in SOQL
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _condition(name: str, cond: Any) -> str:
    field = _name(name)
    if cond is None:
        return f"{field} = null"
    if isinstance(cond, tuple):
        if not cond or not isinstance(cond[0], str):
            raise ConfigError(f"where[{name!r}]: a tuple is (operator, value), got {cond!r}")
        op = cond[0].strip().lower()
        args = cond[1:]
        if op in ("in", "not in"):
            values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple | set) else args
            return f"{field} {op.upper()} ({', '.join(literal(v) for v in values)})"
        if op == "between" and len(args) == 2:
            return f"{field} >= {literal(args[0])} AND {field} <= {literal(args[1])}"
        if op not in _OPS or len(args) != 1:
            raise ConfigError(
                f"where[{name!r}]: unknown operator {cond[0]!r}; use one of {sorted(_OPS)}, in, between"
            )
        return f"{field} {_OPS[op]} {literal(args[0])}"
    if isinstance(cond, list | set | frozenset):
        return f"{field} IN ({', '.join(literal(v) for v in cond)})"
    return f"{field} = {literal(cond)}"


def build_soql(
    object_name: str,
    fields: Sequence[str],
    where: Mapping[str, Any] | str | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
) -> str:
    """``SELECT fields FROM object [WHERE ...] [ORDER BY ...] [LIMIT n]`` with escaped literals."""
    soql = f"SELECT {', '.join(_name(f) for f in fields)} FROM {_name(object_name)}"
    if isinstance(where, str) and where.strip():
        soql += f" WHERE {where.strip()}"
    elif isinstance(where, Mapping) and where:
        soql += " WHERE " + " AND ".join(_condition(k, v) for k, v in where.items())
    if order_by:
        keys = [order_by] if isinstance(order_by, str) else list(order_by)
        soql += " ORDER BY " + ", ".join(
            f"{_name(k.lstrip('-+'))} DESC" if k.startswith("-") else _name(k.lstrip("+")) for k in keys
        )
    if limit is not None:
        soql += f" LIMIT {int(limit)}"
    return soql


def _top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, False
    for i, c in enumerate(text):
        if c == "'" and (i == 0 or text[i - 1] != "\\"):
            quote = not quote
        if not quote:
            depth += (c == "(") - (c == ")")
            if c == "," and depth == 0:
                parts.append("".join(current).strip())
                current = []
                continue
        current.append(c)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _split_from(soql: str) -> tuple[str, str]:
    """The select list and what follows the top-level FROM."""
    depth, quote, upper = 0, False, soql.upper()
    start = upper.index("SELECT") + 6
    for i in range(start, len(soql)):
        c = soql[i]
        if c == "'" and soql[i - 1] != "\\":
            quote = not quote
        elif not quote:
            depth += (c == "(") - (c == ")")
            if (
                depth == 0
                and upper.startswith("FROM", i)
                and soql[i - 1].isspace()
                and soql[i + 4 : i + 5].isspace()
            ):
                return soql[start:i], soql[i + 4 :]
    raise ConfigError("the SOQL has no FROM clause")


def select_fields(soql: str) -> list[str]:
    """The columns a query returns, in order: field paths, subquery relationship names, aliases."""
    head, _ = _split_from(soql)
    out, n = [], 0
    for item in _top_level(head):
        if item.startswith("("):
            inner = item.strip("() ")
            out.append(_split_from(inner)[1].split()[0])
        elif "(" in item:
            alias = item.rsplit(")", 1)[1].strip()
            if alias:
                out.append(alias)
            else:
                out.append(f"expr{n}")
                n += 1
        else:
            out.append(item)
    return out


def query_object(soql: str) -> str:
    """The object a query reads (the top-level ``FROM``)."""
    return _split_from(soql)[1].split()[0]
