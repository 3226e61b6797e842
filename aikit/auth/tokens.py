"""OAuth tokens as a masked value object, and opt-in persistence that never touches the notebook.

Tokens live in memory by default. Persistence is opt-in: :class:`FileTokenStore` writes one JSON file
per key under ``settings().tokens_dir`` (``$AIKIT_HOME/tokens``) with mode 0600 in a 0700 directory,
atomically; :class:`KeyringTokenStore` uses the system keyring when one exists.

>>> t = Token.from_response({"access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-1"})
>>> t
Token(token_type='Bearer', scope=None, expires_in=3600s, access_token='***', refresh_token='***')
>>> t.expires_within(60)
False
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from aikit.exceptions import AuthError, ConfigError
from aikit.settings import ensure_dir, settings

__all__ = ["FileTokenStore", "KeyringTokenStore", "MemoryTokenStore", "Token", "TokenStore", "token_store"]


@dataclass(frozen=True)
class Token:
    """An OAuth 2.0 token response. ``expires_at`` is a Unix time (None: the server gave no lifetime)."""

    access_token: str
    token_type: str = "Bearer"
    refresh_token: str | None = None
    expires_at: float | None = None
    scope: str | None = None

    @classmethod
    def from_response(cls, data: dict[str, Any], *, now: float | None = None) -> Token:
        """Build from a token endpoint's JSON; raise :class:`AuthError` when it holds no token."""
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthError("The token endpoint answered without an access_token.")
        expires_in = data.get("expires_in")
        expires_at = None
        if expires_in is not None:
            try:
                expires_at = (time.time() if now is None else now) + float(expires_in)
            except (TypeError, ValueError):
                expires_at = None
        return cls(
            access_token=access,
            token_type=str(data.get("token_type") or "Bearer"),
            refresh_token=data.get("refresh_token") or None,
            expires_at=expires_at,
            scope=data.get("scope"),
        )

    @property
    def expires_in(self) -> float | None:
        """Seconds left (negative once expired), or None when unknown."""
        return None if self.expires_at is None else self.expires_at - time.time()

    def expires_within(self, seconds: float) -> bool:
        """True if the token expires in less than ``seconds`` (False when the lifetime is unknown)."""
        left = self.expires_in
        return left is not None and left < seconds

    def with_refresh_token(self, refresh_token: str | None) -> Token:
        """Keep the old refresh token when a refresh response carries none (RFC 6749 section 6)."""
        return self if self.refresh_token or not refresh_token else replace(self, refresh_token=refresh_token)

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Token:
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            refresh_token=data.get("refresh_token"),
            expires_at=data.get("expires_at"),
            scope=data.get("scope"),
        )

    def __repr__(self) -> str:
        left = self.expires_in
        expiry = "unknown" if left is None else f"{round(left)}s"
        refresh = "'***'" if self.refresh_token else "None"
        return (
            f"Token(token_type={self.token_type!r}, scope={self.scope!r}, expires_in={expiry}, "
            f"access_token='***', refresh_token={refresh})"
        )

    __str__ = __repr__


class TokenStore(Protocol):
    """Where an :class:`~aikit.auth.session.OAuth2Auth` keeps its token between sessions."""

    def load(self, key: str) -> Token | None: ...

    def save(self, key: str, token: Token) -> None: ...

    def delete(self, key: str) -> None: ...


class MemoryTokenStore:
    """Tokens for this process only (the default)."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    def load(self, key: str) -> Token | None:
        return self._tokens.get(key)

    def save(self, key: str, token: Token) -> None:
        self._tokens[key] = token

    def delete(self, key: str) -> None:
        self._tokens.pop(key, None)

    def __repr__(self) -> str:
        return f"MemoryTokenStore(keys={sorted(self._tokens)})"


class FileTokenStore:
    """One 0600 JSON file per key in a 0700 directory (default ``settings().tokens_dir``).

    >>> import tempfile
    >>> store = FileTokenStore(tempfile.mkdtemp())
    >>> store.save("crm", Token("at"))
    >>> store.load("crm").access_token
    'at'
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else settings().tokens_dir

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, key: str) -> Token | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return Token.from_dict(data)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # a corrupt file is treated as "not logged in", never as a crash

    def save(self, key: str, token: Token) -> None:
        ensure_dir(self.directory)
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(token.to_dict()).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.directory)!r})"


class KeyringTokenStore:
    """Tokens in the system keyring (service ``aikit-oauth``); needs ``keyring`` with a real backend."""

    def __init__(self, service: str = "aikit-oauth") -> None:
        try:
            keyring = importlib.import_module("keyring")
            fail = importlib.import_module("keyring.backends.fail")
        except ImportError as exc:
            raise ConfigError("KeyringTokenStore needs the 'keyring' package: pip install keyring") from exc
        if isinstance(keyring.get_keyring(), fail.Keyring):
            raise ConfigError("No keyring backend is available here; use persist='file' instead.")
        self._keyring = keyring
        self.service = service

    def load(self, key: str) -> Token | None:
        raw = self._keyring.get_password(self.service, key)
        if not raw:
            return None
        try:
            return Token.from_dict(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            return None

    def save(self, key: str, token: Token) -> None:
        self._keyring.set_password(self.service, key, json.dumps(token.to_dict()))

    def delete(self, key: str) -> None:
        try:
            self._keyring.delete_password(self.service, key)
        except Exception:  # absent entry: nothing to delete
            return


def token_store(persist: str | TokenStore | None) -> TokenStore:
    """Pick a store: ``None`` (memory), ``"file"`` (0600 files) or ``"keyring"``, or pass one through."""
    if persist is None or persist == "memory":
        return MemoryTokenStore()
    if persist == "file":
        return FileTokenStore()
    if persist == "keyring":
        return KeyringTokenStore()
    if isinstance(persist, str):
        raise ConfigError(f"persist must be None, 'file' or 'keyring', not {persist!r}")
    return persist
