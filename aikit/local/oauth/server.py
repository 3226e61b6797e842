"""A local OAuth 2.0 authorization server for demos and tests, built on authlib's server components.

It speaks the real protocol on ``127.0.0.1``: authorization code with PKCE (RFC 7636), client
credentials, device authorization (RFC 8628), refresh tokens, JWT bearer assertions (RFC 7523),
revocation (RFC 7009) and introspection (RFC 7662). The demo CRM accepts its access tokens through
:meth:`OAuthServer.validate`. The "user" is a fixed demo analyst; an automated user approves a device
code with ``POST /device/approve`` and the demo user's login (:attr:`OAuthServer.demo_login`), or with
:meth:`OAuthServer.approve_device` in Python. The server runs in a daemon
thread (:class:`aikit._serving.AppThread`); the endpoints live in :mod:`aikit.local.oauth.endpoints`,
the grants in :mod:`aikit.local.oauth.grants`, the records in :mod:`aikit.local.oauth.store`.

Endpoints: ``GET|POST /authorize``, ``POST /token``, ``POST /device_authorization``, ``GET /device``,
``POST /device/approve``, ``POST /revoke``, ``POST /introspect``, ``GET /userinfo`` (a protected
resource), ``GET /.well-known/oauth-authorization-server``.

>>> with OAuthServer() as server:                      # doctest: +SKIP
...     cfg = server.client_config("aikit-cli")          # ready-made settings for aikit.auth.OAuth2Client
...     server.stats["refresh_token"]
0
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aikit._serving import LOOPBACK, AppThread
from aikit.exceptions import AuthError
from aikit.local.oauth.app import build_app
from aikit.local.oauth.endpoints import Endpoints, introspection
from aikit.local.oauth.grants import DEMO_USER, LocalAuthorizationServer
from aikit.local.oauth.store import DemoClient, OAuthStore

__all__ = ["DEMO_USER", "DemoClient", "OAuthServer"]


class OAuthServer:
    """The demo authorization server, served by uvicorn in a daemon thread (start -> ready -> stop).

    Parameters
    ----------
    port : int
        TCP port on 127.0.0.1; 0 picks a free one (read it back from :attr:`url`).
    access_token_ttl : int
        Access token lifetime in seconds (tests use a few seconds to exercise refresh).
    refresh_token_ttl : int or None
        Refresh token lifetime; None never expires.
    device_interval : float
        The polling interval announced by the device endpoint (RFC 8628 ``interval``).
    auto_approve : bool
        When True, ``GET /authorize`` grants at once (no consent page), for headless demos.
    clients : iterable of DemoClient, optional
        Registered clients; default: ``aikit-cli`` (public: PKCE, device, refresh),
        ``aikit-service`` (confidential: client credentials) and ``aikit-jwt`` (JWT bearer, once a
        public key is registered with :meth:`register_jwt_client`).
    user_password : str, optional
        The demo user's password for ``POST /device/approve``; default a fresh random one
        (:attr:`demo_login` has it).

    Examples
    --------
    >>> server = OAuthServer(access_token_ttl=60).start()      # doctest: +SKIP
    >>> server.validate("not-a-token")                         # doctest: +SKIP
    False
    >>> server.stop()                                          # doctest: +SKIP
    """

    def __init__(
        self,
        port: int = 0,
        *,
        access_token_ttl: int = 3600,
        refresh_token_ttl: int | None = None,
        device_interval: float = 1.0,
        auto_approve: bool = False,
        clients: Iterable[DemoClient] | None = None,
        user_password: str | None = None,
    ) -> None:
        self._port = port
        self._password = user_password or secrets.token_urlsafe(12)
        self.store = OAuthStore()
        for client in clients if clients is not None else _default_clients():
            self.store.add_client(client)
        self.authz = LocalAuthorizationServer(
            self.store,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            device_interval=device_interval,
            base_url=lambda: self.url,
        )
        self.endpoints = Endpoints(
            self.authz, base_url=lambda: self.url, auto_approve=auto_approve, password=self._password
        )
        self._thread: AppThread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53124`` (valid once started)."""
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def auto_approve(self) -> bool:
        """Whether ``GET /authorize`` grants at once (settable while running)."""
        return self.endpoints.auto_approve

    @auto_approve.setter
    def auto_approve(self, value: bool) -> None:
        self.endpoints.auto_approve = value

    @property
    def demo_login(self) -> dict[str, str]:
        """The demo user's ``username`` and ``password`` (the form fields of ``POST /device/approve``)."""
        return {"username": DEMO_USER, "password": self._password}

    @property
    def stats(self) -> Counter[str]:
        """Requests counted per event: each grant type at ``/token``, ``authorize``, ``revoke``, ..."""
        return self.endpoints.stats

    def start(self, timeout: float = 10.0) -> OAuthServer:
        """Serve in a daemon thread and return once the socket accepts connections.

        Raises ``ConfigError`` when the port is taken, ``AuthError`` when the server does not start.
        """
        if self.running:
            return self
        app = build_app(self.endpoints)
        thread = AppThread(
            app, self._port, name="aikit-oauth-server", start_timeout_s=timeout, error=AuthError
        )
        self._thread, self._port = thread.start(), thread.port
        return self

    @property
    def running(self) -> bool:
        """True while the server thread serves."""
        return self._thread is not None and self._thread.running

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        if self._thread is not None:
            self._thread.stop(timeout)
        self._thread = None

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"OAuthServer(url={self.url!r}, {state}, clients={[c.client_id for c in self.store.clients()]})"
        )

    def client_config(self, client_id: str = "aikit-cli") -> dict[str, Any]:
        """Keyword arguments for :class:`aikit.auth.OAuth2Client` pointing at this server."""
        client = self.store.client(client_id)
        if client is None:
            raise KeyError(f"no client {client_id!r} on this server")
        return {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "token_url": f"{self.url}/token",
            "authorize_url": f"{self.url}/authorize",
            "device_authorization_url": f"{self.url}/device_authorization",
            "revocation_url": f"{self.url}/revoke",
            "scope": client.scope,
        }

    def register_jwt_client(self, client_id: str, public_key_pem: str, scope: str = "crm.read") -> DemoClient:
        """Register a service account that authenticates with RFC 7523 JWT bearer assertions."""
        client = DemoClient(
            client_id,
            None,
            grant_types=("urn:ietf:params:oauth:grant-type:jwt-bearer",),
            scope=scope,
            jwt_public_key=public_key_pem,
        )
        self.store.add_client(client)
        return client

    def validate(self, access_token: str) -> bool:
        """True if ``access_token`` was issued here and is neither expired nor revoked.

        This is the ``token_validator`` the demo CRM accepts.
        """
        return self.store.live(access_token) is not None

    def introspect(self, access_token: str) -> dict[str, Any]:
        """RFC 7662-style view of a token: ``{"active": bool, ...}``."""
        return introspection(self.store, access_token)

    def approve_device(self, user_code: str, *, approve: bool = True, user: str = DEMO_USER) -> bool:
        """Record the user's decision for a device code; False when the code is unknown or expired."""
        return self.store.decide_device(user_code, approve=approve, user=user)

    def expire_access_token(self, access_token: str) -> None:
        """Make an access token expire now (tests: force the 401 -> refresh path)."""
        token = self.store.by_access(access_token)
        if token is not None:
            with self.store.lock:
                token.issued_at = time.time() - token.expires_in - 1

    def count(self, event: str) -> None:
        """Count one ``event`` in :attr:`stats`."""
        self.endpoints.count(event)


def _default_clients() -> list[DemoClient]:
    return [
        DemoClient(
            "aikit-cli",
            None,
            redirect_uris=("http://127.0.0.1/callback", "http://localhost/callback"),
            grant_types=(
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
            ),
        ),
        DemoClient(
            "aikit-service",
            secrets.token_urlsafe(24),
            grant_types=("client_credentials",),
            scope="crm.read crm.write",
        ),
    ]
