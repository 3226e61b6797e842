"""In-memory records behind the local OAuth 2.0 authorization server.

The demo server (:mod:`aikit.local.oauth.server`) keeps clients, authorization codes, device codes and
tokens in a :class:`OAuthStore`: plain dataclasses that implement authlib's model mixins, guarded by one
lock because the HTTP thread and Python callers (``validate``, ``approve_device``) share them.

>>> store = OAuthStore()
>>> store.add_client(DemoClient("app", None, grant_types=("client_credentials",)))
>>> store.client("app").is_public
True
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

__all__ = ["AuthCode", "DemoClient", "DeviceRecord", "IssuedToken", "OAuthStore"]

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class DemoClient(ClientMixin):  # type: ignore[misc]
    """A registered client. ``client_secret=None`` makes it public (PKCE/device, auth method ``none``).

    A redirect URI must equal a registered one exactly; the only variation allowed is the port of a
    loopback one (RFC 8252 section 7.3), so a registered ``http://127.0.0.1/callback`` accepts
    ``http://127.0.0.1:53124/callback`` but not ``...?next=x``, ``http://user@127.0.0.1/callback`` or
    another path (RFC 9700 section 4.1.1: exact string matching).

    >>> c = DemoClient("app", None, redirect_uris=("http://127.0.0.1/callback",))
    >>> c.check_redirect_uri("http://127.0.0.1:5000/callback"), c.check_redirect_uri("http://127.0.0.1/callback?x=1")
    (True, False)
    """

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scope: str = "crm.read crm.write"
    jwt_public_key: str | None = None

    @property
    def is_public(self) -> bool:
        return self.client_secret is None

    def __repr__(self) -> str:
        secret = "None" if self.client_secret is None else "'***'"
        return f"DemoClient({self.client_id!r}, client_secret={secret}, grant_types={self.grant_types})"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        got = _loopback_parts(redirect_uri)
        return got is not None and any(_loopback_parts(r) == got for r in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def _loopback_parts(uri: str) -> tuple[str, str, str, str] | None:
    """``uri`` without its port, when it is a plain ``http`` loopback URI (no user info, no fragment)."""
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS or parts.fragment:
        return None
    if "@" in parts.netloc:
        return None
    host = parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc
    return parts.scheme, host, parts.path, parts.query


@dataclass
class AuthCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """An authorization code, bound to client, redirect URI and PKCE challenge."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    created_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class DeviceRecord:
    """A pending device authorization (RFC 8628): codes, scope, expiry and the user's decision."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: float
    approved: bool | None = None
    user: str | None = None
    last_poll: float = 0.0

    # authlib's DeviceCredentialMixin interface
    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


@dataclass
class IssuedToken(TokenMixin):  # type: ignore[misc]
    """An issued access token with its optional refresh token."""

    access_token: str
    client_id: str
    user: str | None
    scope: str
    expires_in: int
    issued_at: float
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    access_revoked: bool = False
    refresh_revoked: bool = False
    client: DemoClient | None = None
    #: The grant this token descends from: every refresh of one login shares it.
    family: str = ""

    def __repr__(self) -> str:
        return f"IssuedToken(client_id={self.client_id!r}, user={self.user!r}, access_token='***')"

    def check_client(self, client: DemoClient) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> str | None:
        return self.user

    def get_client(self) -> DemoClient | None:
        return self.client

    def refresh_usable(self) -> bool:
        if self.refresh_token is None or self.refresh_revoked:
            return False
        return self.refresh_expires_at is None or time.time() < self.refresh_expires_at


class OAuthStore:
    """Thread-safe in-memory tables: clients, codes, device records, tokens."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._clients: dict[str, DemoClient] = {}
        self._codes: dict[str, AuthCode] = {}
        self._devices: dict[str, DeviceRecord] = {}
        self._by_user_code: dict[str, str] = {}
        self._access: dict[str, IssuedToken] = {}
        self._refresh: dict[str, IssuedToken] = {}

    # clients
    def add_client(self, client: DemoClient) -> None:
        with self.lock:
            self._clients[client.client_id] = client

    def client(self, client_id: str) -> DemoClient | None:
        with self.lock:
            return self._clients.get(client_id)

    def clients(self) -> list[DemoClient]:
        with self.lock:
            return list(self._clients.values())

    # authorization codes
    def save_code(self, code: AuthCode) -> None:
        with self.lock:
            self._codes[code.code] = code

    def code(self, code: str, client_id: str, max_age: float) -> AuthCode | None:
        with self.lock:
            item = self._codes.get(code)
        if item is None or item.client_id != client_id or time.time() - item.created_at > max_age:
            return None
        return item

    def delete_code(self, code: str) -> None:
        with self.lock:
            self._codes.pop(code, None)

    # device codes
    def save_device(self, record: DeviceRecord) -> None:
        with self.lock:
            self._devices[record.device_code] = record
            self._by_user_code[record.user_code] = record.device_code

    def device(self, device_code: str) -> DeviceRecord | None:
        with self.lock:
            return self._devices.get(device_code)

    def device_by_user_code(self, user_code: str) -> DeviceRecord | None:
        with self.lock:
            device_code = self._by_user_code.get(user_code.strip().upper())
            return self._devices.get(device_code) if device_code else None

    # tokens
    def save_token(self, token: IssuedToken) -> None:
        with self.lock:
            self._access[token.access_token] = token
            if token.refresh_token:
                self._refresh[token.refresh_token] = token

    def by_access(self, access_token: str) -> IssuedToken | None:
        with self.lock:
            return self._access.get(access_token)

    def by_refresh(self, refresh_token: str) -> IssuedToken | None:
        with self.lock:
            return self._refresh.get(refresh_token)

    def live(self, access_token: str) -> IssuedToken | None:
        """The token issued as ``access_token`` if it is neither expired nor revoked."""
        token = self.by_access(access_token)
        if token is None or token.is_expired() or token.is_revoked():
            return None
        return token

    def revoke_family(self, family: str) -> int:
        """Revoke every access and refresh token of ``family`` (one login and its refreshes)."""
        if not family:
            return 0
        with self.lock:
            tokens = [t for t in self._access.values() if t.family == family]
            for token in tokens:
                token.access_revoked = token.refresh_revoked = True
        return len(tokens)

    def decide_device(self, user_code: str, *, approve: bool, user: str) -> bool:
        """Record the user's decision on a device code; False when it is unknown or expired."""
        record = self.device_by_user_code(user_code)
        if record is None or record.is_expired():
            return False
        with self.lock:
            record.approved, record.user = approve, user
        return True

    def find(self, token: str, hint: str | None = None) -> IssuedToken | None:
        if hint == "refresh_token":
            return self.by_refresh(token) or self.by_access(token)
        return self.by_access(token) or self.by_refresh(token)

    def counts(self) -> dict[str, Any]:
        with self.lock:
            return {"clients": len(self._clients), "tokens": len(self._access), "devices": len(self._devices)}
