"""Credentials: one masked ``Secret`` type, one ``.env`` parser and one resolution order for all of aikit.

Every credential aikit reads (AI provider keys in :class:`aikit.AI`, the HubSpot token, a
:class:`aikit.RestSource` token, anything passed to :func:`secret`) resolves in this order and stops
at the first hit:

1. the explicit value (``api_key=``, ``token=``, ``value=``);
2. this kernel's session store (filled by :func:`set_secret` or the login panel's password box);
3. the environment (``os.environ``);
4. a ``.env`` file in the working directory (or the path given);
5. the system keyring, only when the ``keyring`` package is importable *and* has a real backend.

With several variable names (``["OPENAI_API_KEY", "AIKIT_API_KEY"]``) each level tries every name
before the next level: a session value for either beats the environment.

:func:`resolve_key` never prompts. :func:`secret` does when nothing is found: in a live notebook kernel
it shows a password box through the registered prompter (see :mod:`aikit.auth.prompt`) and returns a
*pending* :class:`Secret` that resolves once the box is submitted; in a terminal it asks with
``getpass``; headless (nbconvert, papermill, nbclient, scripts, CI) it raises
:class:`~aikit.exceptions.MissingCredentialError` naming the variable to set.

>>> key = secret("DOC_EXAMPLE_KEY", "sk-example-123")
>>> key
Secret('DOC_EXAMPLE_KEY', source='explicit', value='***')
>>> key.reveal()
'sk-example-123'
"""

from __future__ import annotations

import hmac
import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NoReturn, overload

from aikit.auth.prompt import Check, ask_terminal, current_prompter, interaction_mode
from aikit.exceptions import MissingCredentialError

__all__ = [
    "Secret",
    "forget_secret",
    "lookup_secret",
    "read_dotenv",
    "resolve_key",
    "reveal",
    "secret",
    "set_secret",
]

Source = Literal["explicit", "session", "env", "dotenv", "keyring", "prompt", "pending"]

#: This kernel's session store: values typed into the password widget or passed to set_secret().
_SESSION: dict[str, str] = {}
_MASK = "***"


class Secret:
    """A credential that masks itself in ``repr``, ``str``, f-strings, logs and tracebacks.

    Call :meth:`reveal` (alias ``get_secret_value``, as in pydantic) at the last moment, e.g. when
    building a header. Pickling is refused, so a Secret never lands in a cache file or a task graph by
    accident; where a copy must travel, reveal it on purpose (``AsyncAI.describe(include_key=True)``).

    Parameters
    ----------
    value : str, Secret or None
        The secret; None makes a *pending* secret that resolves from the session store later
        (after the password widget is submitted). A Secret is copied.
    name : str, optional
        The variable name, shown in reprs and error messages.
    source : str
        Where the value came from (``explicit``, ``session``, ``env``, ``dotenv``, ``keyring``...).

    Examples
    --------
    >>> s = Secret("hunter2", name="DB_PASSWORD")
    >>> f"{s}", str(s), s.reveal()
    ('***', '***', 'hunter2')
    >>> Secret("hunter2") == s, bool(Secret(""))
    (True, False)
    """

    __slots__ = ("_value", "name", "source")
    _value: str | None
    name: str | None
    source: str

    def __init__(
        self, value: str | Secret | None, *, name: str | None = None, source: str = "explicit"
    ) -> None:
        if isinstance(value, Secret):
            self._value, self.name, self.source = value._value, name or value.name, value.source
            return
        if value is not None and not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value, self.name, self.source = value, name, source

    def reveal(self) -> str:
        """The plain value; a pending secret is looked up in the session store now."""
        if self._value is not None:
            return self._value
        if self.name and self.name in _SESSION:
            return _SESSION[self.name]
        _raise_missing(self.name or "the secret", pending=True)

    get_secret_value = reveal

    @property
    def available(self) -> bool:
        """True when :meth:`reveal` would return a value."""
        return self._value is not None or (self.name is not None and self.name in _SESSION)

    def __repr__(self) -> str:
        shown = _MASK if self.available else "<not set>"
        named = "" if self.name is None else f"{self.name!r}, "
        return f"Secret({named}source={self.source!r}, value={shown!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        """False when empty or still pending."""
        return bool(self._value) if self._value is not None else self.available

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        if self._value is None or other._value is None:  # pending: the same variable
            return self._value is other._value and self.name == other.name
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("aikit.Secret", self._value, self.name if self._value is None else None))

    def __copy__(self) -> Secret:
        return self  # immutable: copy and deepcopy (dataclasses.asdict) need no pickling

    def __deepcopy__(self, memo: object) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "aikit.auth.Secret refuses to be pickled (it would write the secret to disk); reveal() it "
            "explicitly where a copy must travel, e.g. AsyncAI.describe(include_key=True)"
        )


def reveal(value: str | Secret | None) -> str | None:
    """The plain string behind ``value``: a ``str``, None, or any object with ``.reveal()``.

    >>> reveal(Secret("abc")), reveal("plain"), reveal(None)
    ('abc', 'plain', None)
    """
    if value is None or isinstance(value, str):
        return value
    plain = value.reveal()
    if not isinstance(plain, str):
        raise TypeError("reveal() must return a str")
    return plain


def set_secret(name: str, value: str | Secret) -> None:
    """Keep ``value`` in this kernel's session store (memory only, never written anywhere).

    It then beats the environment and ``.env`` for every client that reads ``name``.

    >>> set_secret("DOC_SET_KEY", "sk-1")
    >>> lookup_secret("DOC_SET_KEY").source
    'session'
    >>> forget_secret("DOC_SET_KEY")
    """
    plain = reveal(value)
    if not plain:
        raise MissingCredentialError(f"An empty value was given for {name}.", variable=name)
    _SESSION[name] = plain


def forget_secret(name: str) -> None:
    """Remove ``name`` from the session store (the environment and files are left alone).

    >>> forget_secret("DOC_NEVER_SET")
    """
    _SESSION.pop(name, None)


def read_dotenv(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``export`` prefixes, quotes and ``#`` comments.

    A missing or unreadable file gives an empty dict. In double quotes ``\\n`` and ``\\"`` are escapes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / ".env"
    >>> _ = p.write_text('export A=1\\nB="two # not a comment"\\nC=3 # comment\\n')
    >>> read_dotenv(p)
    {'A': '1', 'B': 'two # not a comment', 'C': '3'}
    """
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.replace("_", "").isalnum():
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def _keyring_get(service: str, name: str) -> str | None:
    try:
        keyring = importlib.import_module("keyring")
        fail = importlib.import_module("keyring.backends.fail")
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
            return None
        value = keyring.get_password(service, name)
    except Exception:  # no usable backend (headless Linux, CI, Binder): keyring is optional
        return None
    return value or None


def _lookup(
    names: Sequence[str],
    *,
    environ: Mapping[str, str] | None,
    dotenv: str | Path | None,
    keyring_service: str | None,
) -> Secret | None:
    """The one order below the explicit value: session > environment > ``.env`` > keyring."""
    for name in names:
        if name in _SESSION:
            return Secret(_SESSION[name], name=name, source="session")
    env = os.environ if environ is None else environ
    for name in names:
        if env.get(name):
            return Secret(env[name], name=name, source="env")
    file_values = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")
    for name in names:
        if file_values.get(name):
            return Secret(file_values[name], name=name, source="dotenv")
    if keyring_service:
        for name in names:
            kr_value = _keyring_get(keyring_service, name)
            if kr_value:
                return Secret(kr_value, name=name, source="keyring")
    return None


def lookup_secret(
    name: str,
    *,
    dotenv_path: str | Path | None = None,
    keyring_service: str | None = "aikit",
) -> Secret | None:
    """Resolve ``name`` from session, environment, ``.env`` and keyring, without prompting.

    >>> lookup_secret("DOC_UNSET_KEY", keyring_service=None) is None
    True
    """
    return _lookup([name], environ=None, dotenv=dotenv_path, keyring_service=keyring_service)


@overload
def resolve_key(
    variables: Sequence[str],
    explicit: str | Secret | None = None,
    *,
    required: Literal[True] = True,
    provider: str = ...,
    environ: Mapping[str, str] | None = ...,
    dotenv: str | Path | None = ...,
    keyring_service: str | None = ...,
    what: str = ...,
    pass_as: str = ...,
) -> Secret: ...


@overload
def resolve_key(
    variables: Sequence[str],
    explicit: str | Secret | None = None,
    *,
    required: bool,
    provider: str = ...,
    environ: Mapping[str, str] | None = ...,
    dotenv: str | Path | None = ...,
    keyring_service: str | None = ...,
    what: str = ...,
    pass_as: str = ...,
) -> Secret | None: ...


def resolve_key(
    variables: Sequence[str],
    explicit: str | Secret | None = None,
    *,
    required: bool = True,
    provider: str = "the provider",
    environ: Mapping[str, str] | None = None,
    dotenv: str | Path | None = None,
    keyring_service: str | None = "aikit",
    what: str = "API key",
    pass_as: str = "api_key=... to aikit.AI()",
) -> Secret | None:
    """Find a client's credential: explicit > session > environment > ``.env`` > keyring; never prompts.

    Parameters
    ----------
    variables : sequence of str
        Variable names to try, most specific first (``["OPENAI_API_KEY", "AIKIT_API_KEY"]``); each
        level of the order tries all of them before the next level.
    explicit : str or Secret, optional
        A value passed by the caller; wins over everything else.
    required : bool
        Raise when nothing is found (else return None, for servers that need no key).
    provider : str
        Who the credential is for, in the error message (``"openai:gpt-4o-mini"``).
    environ, dotenv : optional
        Use this mapping instead of ``os.environ`` and this file instead of ``./.env``.
    keyring_service : str or None
        Keyring service name; None skips the keyring.
    what, pass_as : str
        The error message's noun (``"API key"``) and the argument that passes one explicitly.

    Returns
    -------
    Secret or None
        Masked, with ``name`` and ``source`` saying where it was found.

    Raises
    ------
    MissingCredentialError
        ``required`` and nothing was found; the message names the first variable and every way to
        provide it.

    Examples
    --------
    >>> key = resolve_key(["OPENAI_API_KEY"], environ={"OPENAI_API_KEY": "sk-x"}, dotenv="/nonexistent")
    >>> key, key.source
    (Secret('OPENAI_API_KEY', source='env', value='***'), 'env')
    """
    if isinstance(explicit, Secret):
        return explicit
    first = variables[0] if variables else "AIKIT_API_KEY"
    if explicit:
        return Secret(explicit, name=first, source="explicit")
    found = _lookup(variables, environ=environ, dotenv=dotenv, keyring_service=keyring_service)
    if found is not None or not required:
        return found
    others = ", ".join(variables[1:])
    also = f" (or {others})" if others else ""
    raise MissingCredentialError(
        f"No {what} found for {provider}. Set the environment variable {first}{also}, put {first}=... "
        f"in a .env file in the working directory, enter it in the login panel (or call "
        f"aikit.auth.set_secret({first!r}, ...) before this cell), or pass {pass_as}.",
        variable=first,
    )


def _raise_missing(name: str, *, pending: bool = False) -> NoReturn:
    if pending:
        message = (
            f"{name} has not been entered yet: type it into the password box shown above, press Save, "
            f"then run this cell again (or set the environment variable {name})."
        )
    else:
        message = (
            f"No value found for {name}. Set the environment variable {name} (for example in a "
            f"git-ignored .env file next to the notebook: {name}=...), or call "
            f"aikit.auth.set_secret({name!r}, ...) before this cell. Headless runs (nbconvert, papermill, "
            "CI) never prompt."
        )
    raise MissingCredentialError(message, variable=name)


def secret(
    name: str,
    value: str | Secret | None = None,
    *,
    prompt: bool = True,
    dotenv_path: str | Path | None = None,
    keyring_service: str | None = "aikit",
    check: Check | None = None,
) -> Secret:
    """Resolve the credential ``name`` (see the module docstring for the order), asking when missing.

    Parameters
    ----------
    name : str
        The variable name, e.g. ``"OPENAI_API_KEY"``.
    value : str or Secret, optional
        An explicit value, which wins over every other source.
    prompt : bool
        Ask a human when nothing is found and the session is interactive (widget or getpass).
    dotenv_path : path, optional
        The ``.env`` file to read; default ``./.env``.
    keyring_service : str or None
        Keyring service name; None skips the keyring.
    check : callable, optional
        Called with the value typed into the password widget; an exception shows as an error in the
        widget instead of "connected".

    Returns
    -------
    Secret
        Masked; call ``.reveal()`` to use it. In a live kernel with nothing found the Secret is
        *pending* until the password box is submitted.

    Raises
    ------
    MissingCredentialError
        Headless (or ``prompt=False``) and nothing was found; the message names the variable.

    Examples
    --------
    >>> import os
    >>> os.environ["DOC_TOKEN"] = "t-123"
    >>> secret("DOC_TOKEN").source
    'env'
    """
    if value is not None:
        if isinstance(value, Secret):
            return value
        return Secret(value, name=name, source="explicit")
    found = lookup_secret(name, dotenv_path=dotenv_path, keyring_service=keyring_service)
    if found is not None:
        return found
    mode = interaction_mode() if prompt else None
    prompter = current_prompter() if mode == "widget" else None
    if prompter is not None:
        prompter(name, check)
        return Secret(None, name=name, source="pending")
    if mode == "terminal":
        typed = ask_terminal(name)
        if typed:
            set_secret(name, typed)
            return Secret(typed, name=name, source="prompt")
    _raise_missing(name)
