"""How a human is asked for a missing credential: the interaction mode and the prompter registry.

:func:`interaction_mode` tells whether anyone could answer right now: ``"widget"`` in a live notebook
kernel, ``"terminal"`` at a tty, None when headless (nbconvert, papermill, nbclient, scripts, CI).

aikit.auth never imports widgets. The widget side plugs itself in instead: a *prompter* is a
function ``prompter(name, check)`` that shows a way to enter ``name`` (a password box) and returns at
once; the value arrives later through :func:`aikit.auth.set_secret`. :mod:`aikit.widgets.auth`
registers its password box when it is imported, and the top-level ``aikit`` package registers a
stand-in that imports it on first use, so :func:`aikit.auth.secret` shows the box in a live kernel
with no extra import by the user.

>>> shown = []
>>> previous = register_prompter(lambda name, check: shown.append(name))
>>> current_prompter()("DOC_PROMPT_KEY", None)
>>> shown
['DOC_PROMPT_KEY']
>>> _ = register_prompter(previous)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "Check",
    "Mode",
    "Prompter",
    "ask_terminal",
    "current_prompter",
    "interaction_mode",
    "is_interactive",
    "register_prompter",
]

Mode = Literal["widget", "terminal"]
#: Validates a typed value (one cheap API call, say); raising rejects it.
Check = Callable[[str], Any]
#: Shows a way to enter the credential ``name`` and returns at once (the value comes via set_secret).
Prompter = Callable[[str, Check | None], object]

_TRUE = {"1", "true", "yes", "on"}
_prompter: Prompter | None = None


def register_prompter(prompter: Prompter | None, *, replace: bool = True) -> Prompter | None:
    """Install the function that asks for a credential in a live kernel; return the previous one.

    Parameters
    ----------
    prompter : callable or None
        ``prompter(name, check)``, e.g. :func:`aikit.widgets.auth.show_secret_prompt`; None removes it
        (a live kernel then raises ``MissingCredentialError`` like a headless run).
    replace : bool
        False keeps an already registered prompter (how a default is installed).

    Examples
    --------
    >>> previous = register_prompter(None)
    >>> current_prompter() is None
    True
    >>> _ = register_prompter(previous)
    """
    global _prompter
    previous = _prompter
    if replace or previous is None:
        _prompter = prompter
    return previous


def current_prompter() -> Prompter | None:
    """The registered prompter, or None."""
    return _prompter


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

    >>> interaction_mode() in ("widget", "terminal", None)
    True
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
    """True in a live notebook or terminal, False under nbconvert/papermill/nbclient/scripts/CI.

    >>> is_interactive() in (True, False)
    True
    """
    return interaction_mode() is not None


def ask_terminal(name: str) -> str:
    """Ask for ``name`` with ``getpass`` (no echo); an empty answer is ``""``. Only call at a tty."""
    import getpass

    return getpass.getpass(f"{name}: ")
