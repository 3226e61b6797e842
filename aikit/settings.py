"""Where aikit keeps its state, resolved from the environment on every call.

Every path can be redirected: ``AIKIT_HOME`` relocates all state (tests point it at a tmp dir), and
the more specific variables override one part each. Nothing here creates a directory; callers that
write call :func:`ensure_dir` first.

State is private from creation: directories are made 0700 and state files 0600 under a ``0o077``
umask (:func:`private_umask`), and :func:`touch_private` creates a SQLite file before SQLite opens
it, so its ``-wal``, ``-shm`` and ``-journal`` files, which SQLite creates with the database file's
mode, are 0600 too. Setting the mode afterwards (``chmod``) leaves a window, and misses those
companions.

>>> import os
>>> os.environ["AIKIT_HOME"] = "/tmp/aikit-doc"
>>> str(Settings.from_env().cache_dir)
'/tmp/aikit-doc/cache'
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "ensure_dir", "private_umask", "settings", "touch_private"]

_umask_lock = threading.RLock()


def _default_home() -> Path:
    """The user cache directory, following the platform conventions (no platformdirs needed)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "aikit"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "aikit" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aikit"


@dataclass(frozen=True)
class Settings:
    """A snapshot of aikit's paths.

    Attributes
    ----------
    home : Path
        ``$AIKIT_HOME``, default the user cache directory (``~/.cache/aikit`` on Linux).
    cache_dir : Path
        The response cache (``$AIKIT_CACHE_DIR``, default ``home/cache``).
    calllog_path : Path
        SQLite call log (``$AIKIT_CALLLOG``, default ``home/calls.sqlite``).
    webhooks_path : Path
        SQLite webhook store (``$AIKIT_WEBHOOK_STORE``, default ``home/webhooks.sqlite``).
    tokens_dir : Path
        Opt-in OAuth token files, mode 0600 (``home/tokens``).
    """

    home: Path
    cache_dir: Path
    calllog_path: Path
    webhooks_path: Path
    tokens_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        home = Path(env["AIKIT_HOME"]).expanduser() if env.get("AIKIT_HOME") else _default_home()
        return cls(
            home=home,
            cache_dir=Path(env.get("AIKIT_CACHE_DIR") or home / "cache").expanduser(),
            calllog_path=Path(env.get("AIKIT_CALLLOG") or home / "calls.sqlite").expanduser(),
            webhooks_path=Path(env.get("AIKIT_WEBHOOK_STORE") or home / "webhooks.sqlite").expanduser(),
            tokens_dir=home / "tokens",
        )


def settings() -> Settings:
    """Current settings, read from the environment now (cheap; never cached, so tests can repoint)."""
    return Settings.from_env()


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Run the block with umask ``0o077``: files and directories it creates are private to the user.

    The umask is per process, so the change is made under a lock and undone on exit; another
    thread creating a file meanwhile also gets a private one (the safe direction).

    >>> with private_umask():
    ...     inside = os.umask(0)
    ...     _ = os.umask(inside)
    >>> oct(inside)
    '0o77'
    """
    if os.name == "nt":  # pragma: no cover - no POSIX modes
        yield
        return
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


def _inside_home(path: Path) -> bool:
    home = settings().home.expanduser().absolute()
    target = path.expanduser().absolute()
    return target == home or home in target.parents


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) 0700 if missing; return it.

    A directory of ``$AIKIT_HOME`` (or the home itself) that an older aikit left group- or
    world-readable is made 0700 too; directories elsewhere (a store path you chose) keep their mode.
    """
    with private_umask():
        path.mkdir(parents=True, exist_ok=True, mode=mode)
    if os.name != "nt" and _inside_home(path):
        for directory in (path, *path.parents):
            if not _inside_home(directory):
                break
            with contextlib.suppress(OSError):
                info = directory.stat()
                if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                    directory.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    return path


def touch_private(path: Path) -> Path:
    """Create ``path`` as an empty 0600 file if it does not exist (its directory with
    :func:`ensure_dir`); call it before SQLite opens a new database there."""
    ensure_dir(path.parent)
    with private_umask():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    return path
