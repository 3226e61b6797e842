"""Where aikit keeps its state, resolved from the environment on every call.

Every path can be redirected: ``AIKIT_HOME`` relocates all state (tests point it at a tmp dir), and
the more specific variables override one part each. Nothing here creates a directory; callers that
write call :func:`ensure_dir` first.

>>> import os
>>> os.environ["AIKIT_HOME"] = "/tmp/aikit-doc"
>>> str(Settings.from_env().cache_dir)
'/tmp/aikit-doc/cache'
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "ensure_dir", "settings"]


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


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) with private permissions if missing; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path
