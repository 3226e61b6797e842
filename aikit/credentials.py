"""API keys for AI providers: where they come from, and a wrapper that never shows them.

A key resolves in one documented order, first hit wins:

1. the ``api_key=`` passed explicitly;
2. the environment: the provider's variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``), then
   ``AIKIT_API_KEY``;
3. a ``.env`` file in the current working directory, same variables, same order.

A missing key raises :class:`~aikit.exceptions.MissingCredentialError` naming the variable to set.
Resolved keys are wrapped in :class:`Secret`, whose ``repr``/``str`` are masked, so a key cannot end up
in a notebook output, a log line or an exception message by accident.

>>> s = Secret("sk-canary-123")
>>> s
Secret('********')
>>> s.reveal()
'sk-canary-123'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from aikit.exceptions import MissingCredentialError

__all__ = ["Secret", "read_dotenv", "resolve_key"]

_MASK = "********"


class Secret:
    """A string value (API key, token) that masks itself in ``repr``, ``str`` and f-strings.

    Use :meth:`reveal` at the one place the real value is needed (an HTTP header).

    >>> f"{Secret('abc')}"
    '********'
    >>> Secret("abc") == Secret("abc")
    True
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The real value. Never log or display it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("aikit.Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``export`` prefixes, quotes and ``#`` comments.

    A missing or unreadable file gives an empty dict.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if name:
            values[name] = value
    return values


def resolve_key(
    variables: Sequence[str],
    explicit: str | Secret | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
    required: bool = True,
    provider: str = "the provider",
) -> Secret | None:
    """Find an API key: explicit > environment variables (in order) > ``.env`` in the cwd.

    Parameters
    ----------
    variables : sequence of str
        Environment variable names to try, most specific first (``["OPENAI_API_KEY", "AIKIT_API_KEY"]``).
    explicit : str or Secret, optional
        A key passed by the caller; wins over everything else.
    environ, dotenv : optional
        Override ``os.environ`` and the ``.env`` path (tests).
    required : bool
        Raise when nothing is found (else return None, for servers that need no key).

    Raises
    ------
    MissingCredentialError
        ``required`` and no key was found; the message names the first variable.

    Examples
    --------
    >>> resolve_key(["OPENAI_API_KEY"], environ={"OPENAI_API_KEY": "sk-x"}, dotenv=Path("/nonexistent"))
    Secret('********')
    """
    if explicit is not None and explicit != "":
        return explicit if isinstance(explicit, Secret) else Secret(explicit)
    env = os.environ if environ is None else environ
    for name in variables:
        value = env.get(name)
        if value:
            return Secret(value)
    file_values = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")
    for name in variables:
        value = file_values.get(name)
        if value:
            return Secret(value)
    if not required:
        return None
    first = variables[0] if variables else "AIKIT_API_KEY"
    others = ", ".join(variables[1:])
    also = f" (or {others})" if others else ""
    raise MissingCredentialError(
        f"No API key found for {provider}. Set the environment variable {first}{also}, put "
        f"{first}=... in a .env file in the working directory, or pass api_key=... to aikit.AI().",
        variable=first,
    )
