"""Credentials: one resolution order, a masked ``Secret`` type, and no secret in the notebook file.

:func:`secret` looks a credential up in this order and stops at the first hit:

1. the explicit ``value`` argument;
2. this kernel's session store (filled by :func:`set_secret` or the password widget);
3. the environment (``os.environ``);
4. a ``.env`` file in the working directory (or ``dotenv_path``);
5. the system keyring, only when the ``keyring`` package is importable *and* has a real backend.

When nothing is found: in a live notebook kernel it shows a password box (never pre-filled; the value
is copied out and the box cleared in the submit callback) and returns a *pending* :class:`Secret`
that resolves once the box is submitted; in a terminal it asks with ``getpass``; headless (nbconvert,
papermill, nbclient, scripts, CI) it raises :class:`~aikit.exceptions.MissingCredentialError` naming
the variable to set. It never calls ``getpass`` headless.

>>> key = secret("DOC_EXAMPLE_KEY", "sk-example-123")
>>> key
Secret('DOC_EXAMPLE_KEY', source='explicit', value='***')
>>> key.reveal()
'sk-example-123'
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NoReturn

from aikit.exceptions import MissingCredentialError

__all__ = [
    "Secret",
    "forget_secret",
    "interaction_mode",
    "is_interactive",
    "lookup_secret",
    "read_dotenv",
    "reveal",
    "secret",
    "set_secret",
]

Source = Literal["explicit", "session", "env", "dotenv", "keyring", "prompt", "pending"]
Mode = Literal["widget", "terminal"]

#: This kernel's session store: values typed into the password widget or passed to set_secret().
_SESSION: dict[str, str] = {}
_MASK = "***"
_TRUE = {"1", "true", "yes", "on"}


class Secret:
    """A credential that masks itself in ``repr``, ``str``, f-strings, logs and tracebacks.

    Call :meth:`reveal` (alias ``get_secret_value``, as in pydantic) at the last moment, e.g. when
    building a header. Pickling is refused, so a Secret never lands in a cache file by accident.

    Parameters
    ----------
    value : str or None
        The secret; None makes a *pending* secret that resolves from the session store later
        (after the password widget is submitted).
    name : str, optional
        The variable name, shown in reprs and error messages.
    source : str
        Where the value came from (``explicit``, ``session``, ``env``, ``dotenv``, ``keyring``...).

    Examples
    --------
    >>> s = Secret("hunter2", name="DB_PASSWORD")
    >>> f"{s}", str(s), s.reveal()
    ('***', '***', 'hunter2')
    """

    __slots__ = ("_value", "name", "source")

    def __init__(self, value: str | None, *, name: str | None = None, source: str = "explicit") -> None:
        self._value = value
        self.name = name
        self.source = source

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
        return f"Secret({self.name!r}, source={self.source!r}, value={shown!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return self.available

    def __reduce__(self) -> NoReturn:
        raise TypeError("aikit.auth.Secret refuses to be pickled (it would write the secret to disk)")


def reveal(value: str | Secret | None) -> str | None:
    """The plain string behind ``value``: a ``str``, None, or any object with ``.reveal()``.

    Duck-typed so other secret wrappers (e.g. :class:`aikit.credentials.Secret`) work too.
    """
    if value is None or isinstance(value, str):
        return value
    plain = value.reveal()
    if not isinstance(plain, str):
        raise TypeError("reveal() must return a str")
    return plain


def set_secret(name: str, value: str | Secret) -> None:
    """Keep ``value`` in this kernel's session store (memory only, never written anywhere)."""
    plain = reveal(value)
    if not plain:
        raise MissingCredentialError(f"An empty value was given for {name}.", variable=name)
    _SESSION[name] = plain


def forget_secret(name: str) -> None:
    """Remove ``name`` from the session store (the environment and files are left alone)."""
    _SESSION.pop(name, None)


def read_dotenv(path: str | Path) -> dict[str, str]:
    """Parse a ``.env`` file: ``KEY=value`` lines, ``export`` prefixes, quotes and ``#`` comments.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / ".env"
    >>> _ = p.write_text('export A=1\\nB="two # not a comment"\\nC=3 # comment\\n')
    >>> read_dotenv(p)
    {'A': '1', 'B': 'two # not a comment', 'C': '3'}
    """
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
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
            value = value[1:-1]
            if raw.strip().split("=", 1)[1].strip().startswith('"'):
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


def lookup_secret(
    name: str,
    *,
    dotenv_path: str | Path | None = None,
    keyring_service: str | None = "aikit",
) -> Secret | None:
    """Resolve ``name`` from session, environment, ``.env`` and keyring, without prompting."""
    if name in _SESSION:
        return Secret(_SESSION[name], name=name, source="session")
    env_value = os.environ.get(name)
    if env_value:
        return Secret(env_value, name=name, source="env")
    dotenv_value = read_dotenv(dotenv_path if dotenv_path is not None else Path.cwd() / ".env").get(name)
    if dotenv_value:
        return Secret(dotenv_value, name=name, source="dotenv")
    if keyring_service:
        kr_value = _keyring_get(keyring_service, name)
        if kr_value:
            return Secret(kr_value, name=name, source="keyring")
    return None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel always brings IPython
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def interaction_mode() -> Mode | None:
    """How a human could be asked for a missing credential right now, or None when headless.

    ``AIKIT_HEADLESS=1`` forces headless and ``AIKIT_INTERACTIVE=1`` forces the widget in a kernel.
    Otherwise a kernel is interactive when a Jupyter server started it (``JPY_SESSION_NAME``; nbclient,
    nbconvert, papermill and nbmake do not set it), or under VS Code or Colab; outside a kernel, only a
    terminal (stdin and stdout are ttys, no ``CI``) is interactive.
    """
    if _flag("AIKIT_HEADLESS"):
        return None
    if _in_kernel():
        env = os.environ
        if _flag("AIKIT_INTERACTIVE") or env.get("JPY_SESSION_NAME") or env.get("VSCODE_PID"):
            return "widget"
        return "widget" if "google.colab" in sys.modules else None
    if _flag("CI") or _flag("GITHUB_ACTIONS"):
        return None
    stdin, stdout = sys.stdin, sys.stdout
    if stdin is not None and stdout is not None and stdin.isatty() and stdout.isatty():
        return "terminal"
    return None


def is_interactive() -> bool:
    """True in a live notebook or terminal, False under nbconvert/papermill/nbclient/scripts/CI."""
    return interaction_mode() is not None


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
    check: Callable[[str], Any] | None = None,
) -> Secret:
    """Resolve the credential ``name`` (see the module docstring for the order).

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
    if mode == "widget":
        from IPython.display import display

        from aikit.widgets.auth import SecretPrompt

        display(SecretPrompt(name, check=check).widget)  # type: ignore[no-untyped-call]
        return Secret(None, name=name, source="pending")
    if mode == "terminal":
        import getpass

        typed = getpass.getpass(f"{name}: ")
        if typed:
            set_secret(name, typed)
            return Secret(typed, name=name, source="prompt")
    _raise_missing(name)
