"""Prompt templates with ``{column}`` placeholders, rendered row by row over a DataFrame.

A template is plain text in which ``{name}`` is replaced by the value of column ``name`` of each row;
``{{`` and ``}}`` stand for literal braces. Nothing else is special: no format specs, no attribute
access, no code, so a column may be called ``{first name}`` or ``{Ticket #}``. Missing values
(``None``, ``NaN``, ``pd.NA``) render as an empty string.

A template naming a column the DataFrame does not have raises :class:`~aikit.exceptions.ConfigError`
*before any call is made*, listing the columns that exist.

>>> t = Template("Ticket {id}: {subject} {{json}}")
>>> t.fields
('id', 'subject')
>>> t.render({"id": 7, "subject": "Refund"})
'Ticket 7: Refund {json}'
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aikit.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Template"]


def _parse(text: str) -> tuple[list[str], list[str]]:
    """Split ``text`` into literals and field names: ``literals[0] field[0] literals[1] ...``."""
    literals: list[str] = []
    fields: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if i + 1 < n and text[i + 1] == "{":
                buf.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end < 0:
                raise ConfigError(
                    f"template has an unclosed '{{' at position {i}: {text[i : i + 30]!r}; "
                    "write '{{' for a literal brace"
                )
            name = text[i + 1 : end]
            if "{" in name:
                raise ConfigError(
                    f"template has a '{{' inside a placeholder at position {i}: {text[i : end + 1]!r}; "
                    "write '{{' and '}}' for literal braces"
                )
            if not name.strip():
                raise ConfigError(
                    f"template has an empty placeholder '{{}}' at position {i}; name a column, "
                    "or write '{{}}' for literal braces"
                )
            literals.append("".join(buf))
            buf = []
            fields.append(name)
            i = end + 1
        elif ch == "}":
            if i + 1 < n and text[i + 1] == "}":
                buf.append("}")
                i += 2
                continue
            raise ConfigError(
                f"template has a lone '}}' at position {i}: {text[max(0, i - 20) : i + 1]!r}; "
                "write '}}' for a literal brace"
            )
        else:
            j = i
            while j < n and text[j] not in "{}":
                j += 1
            buf.append(text[i:j])
            i = j
    literals.append("".join(buf))
    return literals, fields


def _text(value: Any) -> str:
    """How one cell is written into a prompt: missing values become ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    return str(value)


class Template:
    """A ``{column}`` prompt template.

    Parameters
    ----------
    text : str
        The template. ``{name}`` is a placeholder for column ``name``; ``{{`` and ``}}`` are literal
        braces. Malformed braces raise :class:`~aikit.exceptions.ConfigError` at once.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subject": ["Refund", "Login"], "body": ["late", None]})
    >>> Template("{subject}: {body}").render_frame(df)
    ['Refund: late', 'Login: ']
    >>> Template("{subjet}").check(df.columns)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aikit.exceptions.ConfigError: ...: 'subjet' (did you mean 'subject'?). Columns: 'subject', 'body'. ...
    """

    __slots__ = ("_format", "_literals", "_names", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ConfigError(f"a template must be a str, got {type(text).__name__}")
        self.text = text
        self._literals, self._names = _parse(text)
        # The same template as a positional str.format pattern: rendering runs in C.
        escaped = [lit.replace("{", "{{").replace("}", "}}") for lit in self._literals]
        pattern = [escaped[0]]
        for k in range(len(self._names)):
            pattern.append("{%d}" % k)  # noqa: UP031 - building a format string
            pattern.append(escaped[k + 1])
        self._format = "".join(pattern)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    @property
    def fields(self) -> tuple[str, ...]:
        """The column names used, in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(self._names))

    def _resolve(self, columns: Iterable[Hashable]) -> dict[str, Hashable]:
        """Map each field name to the column label it means (labels may be non-str, e.g. ints)."""
        labels = list(columns)
        by_name: dict[str, Hashable] = {}
        for label in labels:
            by_name.setdefault(label if isinstance(label, str) else str(label), label)
        missing = [name for name in self.fields if name not in by_name]
        if missing:
            names = [str(label) for label in labels]
            hints = []
            for name in missing:
                close = difflib.get_close_matches(name, names, n=1)
                hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            shown = ", ".join(repr(n) for n in names[:50]) + (", ..." if len(names) > 50 else "")
            raise ConfigError(
                f"template names {'columns' if missing[1:] else 'a column'} the DataFrame does not "
                f"have: {', '.join(hints)}. Columns: {shown or '(none)'}. "
                "Write '{{' and '}}' for literal braces."
            )
        return {name: by_name[name] for name in self.fields}

    def check(self, columns: Iterable[Hashable]) -> None:
        """Raise :class:`~aikit.exceptions.ConfigError` if a placeholder names no column in ``columns``."""
        self._resolve(columns)

    def render(self, row: Mapping[str, Any]) -> str:
        """Render one row given as a mapping from column name to value."""
        self.check(row.keys())
        return self._format.format(*(_text(row[name]) for name in self._names))

    def render_frame(self, df: pd.DataFrame) -> list[str]:
        """Render every row of ``df``, in order. Checks the columns first."""
        mapping = self._resolve(df.columns)
        if not self._names:
            return [self._format.format()] * len(df)
        columns: dict[str, list[str]] = {}
        for name, label in mapping.items():
            column = df[label]
            if not hasattr(column, "tolist"):  # duplicated labels give a DataFrame
                raise ConfigError(f"column {name!r} appears more than once in the DataFrame")
            columns[name] = [_text(v) for v in column.tolist()]
        fmt = self._format.format
        per_field: Sequence[list[str]] = [columns[name] for name in self._names]
        return [fmt(*values) for values in zip(*per_field, strict=True)]
