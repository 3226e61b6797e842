"""A SOQL parser: the subset analysts and connectors write, with Salesforce's own error messages.

``SELECT`` fields, relationship paths (``Account.Name``), parent-to-child subqueries
(``(SELECT Subject FROM Cases)``), ``FIELDS(ALL|STANDARD|CUSTOM)``, ``COUNT()`` and the aggregates
``COUNT/SUM/AVG/MIN/MAX(field) [alias]``; ``FROM`` one object; ``WHERE`` with ``AND/OR/NOT``,
parentheses, ``= != <> < <= > >=``, ``[NOT] IN (...)``, ``LIKE``, ``NULL``, ``TRUE/FALSE``, numbers,
quoted strings (backslash escapes), date and datetime literals and the date keywords (``TODAY``,
``LAST_N_DAYS:30``...); ``GROUP BY``, ``ORDER BY ... ASC|DESC NULLS FIRST|LAST``, ``LIMIT``, ``OFFSET``.

A syntax error is Salesforce's ``MALFORMED_QUERY`` with the caret block it prints:

>>> parse("SELECT Id FORM Case")
Traceback (most recent call last):
...
aikit.local.salesforce.wire.ApiError:
SELECT Id FORM Case
          ^
ERROR at Row:1:Column:11
unexpected token: FORM
>>> q = parse("SELECT Id, Account.Name FROM Case WHERE Priority IN ('High', 'Medium') LIMIT 5")
>>> [item.path for item in q.select], q.object, q.limit
([['Id'], ['Account', 'Name']], 'Case', 5)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aikit.local.salesforce.wire import ApiError

__all__ = [
    "Aggregate",
    "Cmp",
    "DateLiteral",
    "Field",
    "Logic",
    "Order",
    "Query",
    "Subquery",
    "caret",
    "parse",
]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
_KEYWORDS = frozenset(
    {"FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "AND", "OR", "NOT", "IN", "LIKE"}
)
DATE_KEYWORDS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
DATE_N_KEYWORDS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_MONTHS", "NEXT_N_MONTHS"})


@dataclass
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Field:
    """A selected field path: ``['Account', 'Name']`` for ``Account.Name``."""

    path: list[str]
    pos: int


@dataclass
class Aggregate:
    """``COUNT(Id) n``: the function, its field (None for ``COUNT()``), the alias."""

    func: str
    path: list[str] | None
    alias: str | None
    pos: int


@dataclass
class Subquery:
    """A parent-to-child subquery: ``(SELECT Subject FROM Cases)``."""

    query: Query
    pos: int


@dataclass
class DateLiteral:
    """``TODAY``, ``LAST_N_DAYS:30``...: a range resolved when the query runs."""

    name: str
    n: int | None = None


@dataclass
class Cmp:
    """``path op value``; ``op`` is ``= != < <= > >= IN NOT IN LIKE``."""

    path: list[str]
    op: str
    value: Any
    pos: int
    quoted: bool = False


@dataclass
class Logic:
    """``AND``/``OR`` of parts, or ``NOT`` of one."""

    op: str
    parts: list[Any]


@dataclass
class Order:
    path: list[str]
    descending: bool
    nulls_last: bool
    pos: int


@dataclass
class Query:
    """A parsed SOQL query."""

    text: str
    select: list[Field | Aggregate | Subquery]
    object: str
    object_pos: int
    where: Cmp | Logic | None = None
    group_by: list[Field] = field(default_factory=list)
    order_by: list[Order] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    fields_function: str | None = None

    @property
    def is_aggregate(self) -> bool:
        return bool(self.group_by) or any(isinstance(i, Aggregate) for i in self.select)


def caret(text: str, pos: int, message: str, code: str = "MALFORMED_QUERY") -> ApiError:
    """Salesforce's error block: the query line, a caret under ``pos``, row and column, the message."""
    before = text[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    col = pos - line_start + 1
    return ApiError(400, code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise caret(text, pos, f"unexpected token: {text[pos]}")
            if m.lastgroup != "ws":
                self.tokens.append(Token(str(m.lastgroup), m.group(), pos))
            pos = m.end()
        self.i = 0

    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def fail(self, token: Token | None, message: str | None = None) -> ApiError:
        if token is None:
            return caret(self.text, len(self.text.rstrip()), message or "unexpected token: <EOF>")
        return caret(self.text, token.pos, message or f"unexpected token: {token.text}")

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail(None)
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "ident" and token.upper == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> Token:
        token = self.peek()
        if token is None or token.kind != "ident" or token.upper != word:
            raise self.fail(token)
        return self.take()

    def expect_punct(self, char: str) -> Token:
        token = self.peek()
        if token is None or token.text != char:
            raise self.fail(token)
        return self.take()

    def ident(self) -> Token:
        token = self.peek()
        if token is None or token.kind != "ident" or ":" in token.text:
            raise self.fail(token)
        return self.take()

    def query(self, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        select: list[Field | Aggregate | Subquery] = []
        fields_function = None
        while True:
            token = self.peek()
            if token is None:
                raise self.fail(None)
            if token.text == "(":
                if nested:
                    raise self.fail(token, "Nesting of semi join sub-selects is not supported")
                self.take()
                sub = self.query(nested=True)
                self.expect_punct(")")
                select.append(Subquery(sub, token.pos))
            elif token.kind == "ident" and token.upper == "FIELDS" and self._at_paren(1):
                self.take()
                self.expect_punct("(")
                kind = self.ident()
                if kind.upper not in ("ALL", "STANDARD", "CUSTOM"):
                    raise self.fail(kind)
                self.expect_punct(")")
                fields_function = kind.upper
            elif token.kind == "ident" and token.upper in _AGGREGATES and self._at_paren(1):
                self.take()
                self.expect_punct("(")
                path = None
                if self.peek() is not None and self.peek().text != ")":  # type: ignore[union-attr]
                    path = self.ident().text.split(".")
                self.expect_punct(")")
                alias = None
                nxt = self.peek()
                if nxt is not None and nxt.kind == "ident" and nxt.upper not in _KEYWORDS:
                    alias = self.take().text
                select.append(Aggregate(token.upper, path, alias, token.pos))
            elif token.kind == "ident" and token.upper not in _KEYWORDS:
                self.take()
                select.append(Field(token.text.split("."), token.pos))
            else:
                raise self.fail(token)
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                continue
            break
        self.expect_keyword("FROM")
        obj = self.ident()
        q = Query(self.text, select, obj.text, obj.pos, fields_function=fields_function)
        if self.keyword("WHERE"):
            q.where = self.condition()
        if self.keyword("GROUP"):
            self.expect_keyword("BY")
            while True:
                tok = self.ident()
                q.group_by.append(Field(tok.text.split("."), tok.pos))
                if not self._comma():
                    break
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            while True:
                tok = self.ident()
                desc = self.keyword("DESC")
                if not desc:
                    self.keyword("ASC")
                nulls_last = desc
                if self.keyword("NULLS"):
                    which = self.take()
                    if which.upper not in ("FIRST", "LAST"):
                        raise self.fail(which)
                    nulls_last = which.upper == "LAST"
                q.order_by.append(Order(tok.text.split("."), desc, nulls_last, tok.pos))
                if not self._comma():
                    break
        if self.keyword("LIMIT"):
            q.limit = self._integer()
        if self.keyword("OFFSET"):
            q.offset = self._integer()
        token = self.peek()
        if token is not None and not (nested and token.text == ")"):
            raise self.fail(token)
        return q

    def _at_paren(self, ahead: int) -> bool:
        token = self.peek(ahead)
        return token is not None and token.text == "("

    def _comma(self) -> bool:
        token = self.peek()
        if token is not None and token.text == ",":
            self.take()
            return True
        return False

    def _integer(self) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text or token.text.startswith("-"):
            raise self.fail(token)
        return int(token.text)

    def condition(self) -> Cmp | Logic:
        parts = [self._and()]
        while self.keyword("OR"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else Logic("OR", parts)

    def _and(self) -> Cmp | Logic:
        parts = [self._not()]
        while self.keyword("AND"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else Logic("AND", parts)

    def _not(self) -> Cmp | Logic:
        if self.keyword("NOT"):
            return Logic("NOT", [self._not()])
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Cmp:
        name = self.ident()
        path = name.text.split(".")
        token = self.peek()
        if token is None:
            raise self.fail(None)
        if token.kind == "op":
            self.take()
            op = "!=" if token.text == "<>" else token.text
            value, quoted = self._value()
            return Cmp(path, op, value, name.pos, quoted)
        negate = self.keyword("NOT")
        if self.keyword("IN"):
            self.expect_punct("(")
            values = [self._value()[0]]
            while self._comma():
                values.append(self._value()[0])
            self.expect_punct(")")
            return Cmp(path, "NOT IN" if negate else "IN", values, name.pos)
        if not negate and self.keyword("LIKE"):
            value, quoted = self._value()
            if not isinstance(value, str):
                raise self.fail(self.tokens[self.i - 1], "invalid LIKE pattern: expected a quoted string")
            return Cmp(path, "LIKE", value, name.pos, quoted)
        raise self.fail(self.peek())

    def _value(self) -> tuple[Any, bool]:
        token = self.take()
        if token.kind == "string":
            body = token.text[1:-1]
            out, i = [], 0
            while i < len(body):
                c = body[i]
                if c == "\\" and i + 1 < len(body):
                    nxt = body[i + 1]
                    out.append(_ESCAPES.get(nxt, "\\" + nxt))  # \% and \_ stay escaped for LIKE
                    i += 2
                    continue
                out.append(c)
                i += 1
            return "".join(out), True
        if token.kind == "number":
            return (float(token.text) if "." in token.text else int(token.text)), False
        if token.kind in ("date", "datetime"):
            return Token(token.kind, token.text, token.pos), False
        if token.kind == "ident":
            word = token.upper
            if word == "NULL":
                return None, False
            if word in ("TRUE", "FALSE"):
                return word == "TRUE", False
            name, _, n = word.partition(":")
            if name in DATE_KEYWORDS and not n:
                return DateLiteral(name), False
            if name in DATE_N_KEYWORDS and n:
                return DateLiteral(name, int(n)), False
        raise self.fail(token)


def parse(text: str) -> Query:
    """Parse one SOQL query (raises :class:`ApiError` ``MALFORMED_QUERY`` on a syntax error)."""
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    return _Parser(text).query()
