"""A local OAuth 2.0 authorization server for demos and tests, built on authlib's server components.

It speaks the real protocol on ``127.0.0.1``: authorization code with PKCE (RFC 7636), client
credentials, device authorization (RFC 8628), refresh tokens, JWT bearer assertions (RFC 7523),
revocation (RFC 7009) and introspection (RFC 7662). The demo CRM accepts its access tokens through
:meth:`OAuthServer.validate`. The "user" is a fixed demo analyst; an automated user approves a device
code with ``POST /device/approve`` (or :meth:`OAuthServer.approve_device`).

Endpoints: ``GET|POST /authorize``, ``POST /token``, ``POST /device_authorization``, ``GET /device``,
``POST /device/approve``, ``POST /revoke``, ``POST /introspect``, ``GET /userinfo`` (a protected
resource), ``GET /.well-known/oauth-authorization-server``.

>>> with OAuthServer() as server:                      # doctest: +SKIP
...     cfg = server.client_config("aikit-cli")          # ready-made settings for aikit.auth.OAuth2Client
...     server.stats["refresh_token"]
0
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aikit.local.oauth.grants import (
    DEMO_USER,
    DeviceEndpoint,
    LocalAuthorizationServer,
    RawRequest,
)
from aikit.local.oauth.store import DemoClient, OAuthStore

__all__ = ["DEMO_USER", "DemoClient", "OAuthServer"]

_JSON = {"content-type": "application/json", "cache-control": "no-store"}


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


def _html(body: str, status: int = 200) -> _Reply:
    head = "<head><meta charset='utf-8'><title>aikit demo login</title></head>"
    page = f"<!doctype html><html>{head}<body>{body}</body></html>"
    return _Reply(status, page.encode(), [("content-type", "text/html; charset=utf-8")])


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
    ) -> None:
        self._port = port
        self.auto_approve = auto_approve
        self.store = OAuthStore()
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        for client in clients if clients is not None else _default_clients():
            self.store.add_client(client)
        self.authz = LocalAuthorizationServer(
            self.store,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            device_interval=device_interval,
            base_url=lambda: self.url,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53124`` (valid once started)."""
        return f"http://127.0.0.1:{self._port}"

    def start(self, timeout: float = 10.0) -> OAuthServer:
        """Serve in a daemon thread and return once the socket accepts connections."""
        import uvicorn

        from aikit.local.oauth.app import build_app

        if self._thread is not None:
            return self
        config = uvicorn.Config(
            build_app(self),
            host="127.0.0.1",
            port=self._port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="aikit-oauth-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"OAuth demo server did not start on 127.0.0.1:{self._port}")
            time.sleep(0.01)
        self._port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and join the thread."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        self._server, self._thread = None, None

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "stopped"
        return (
            f"OAuthServer(url={self.url!r}, {state}, clients={[c.client_id for c in self.store.clients()]})"
        )

    # ------------------------------------------------------------ python API
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
        token = self.store.by_access(access_token)
        return token is not None and not token.is_expired() and not token.is_revoked()

    def introspect(self, access_token: str) -> dict[str, Any]:
        """RFC 7662-style view of a token: ``{"active": bool, ...}``."""
        token = self.store.by_access(access_token)
        if token is None or token.is_expired() or token.is_revoked():
            return {"active": False}
        return {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": token.user,
            "exp": int(token.issued_at + token.expires_in),
            "token_type": "Bearer",
        }

    def approve_device(self, user_code: str, *, approve: bool = True, user: str = DEMO_USER) -> bool:
        """Record the user's decision for a device code; False when the code is unknown or expired."""
        record = self.store.device_by_user_code(user_code)
        if record is None or record.is_expired():
            return False
        with self.store.lock:
            record.approved, record.user = approve, user
        return True

    def expire_access_token(self, access_token: str) -> None:
        """Make an access token expire now (tests: force the 401 -> refresh path)."""
        token = self.store.by_access(access_token)
        if token is not None:
            with self.store.lock:
                token.issued_at = time.time() - token.expires_in - 1

    def count(self, event: str) -> None:
        with self._stats_lock:
            self.stats[event] += 1

    # ------------------------------------------------------------ HTTP handlers
    # The ASGI layer (aikit.local.oauth.app) reads the request and calls these synchronously.
    def handle_token(self, req: RawRequest) -> _Reply:
        self.count(str(req.form.get("grant_type", "")))
        return self._reply(self.authz.create_token_response(req))

    def handle_device_authorization(self, req: RawRequest) -> _Reply:
        self.count("device_authorization")
        return self._reply(self.authz.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME, req))

    def handle_revoke(self, req: RawRequest) -> _Reply:
        self.count("revoke")
        return self._reply(self.authz.create_endpoint_response("revocation", req))

    def handle_introspect(self, req: RawRequest) -> _Reply:
        return self._reply(self.authz.create_endpoint_response("introspection", req))

    def handle_authorize(self, req: RawRequest) -> _Reply:
        from authlib.oauth2 import OAuth2Error

        try:
            grant = self.authz.get_consent_grant(req, end_user=DEMO_USER)
        except OAuth2Error as error:  # unknown client or unregistered redirect: never redirect
            return _html(f"<p>Invalid request: {html.escape(error.error or '')}</p>", 400)
        if req.method == "GET" and not self.auto_approve:
            return self._consent_page(req, grant.client.client_id, grant.request.scope or "")
        granted = self.auto_approve if req.method == "GET" else req.form.get("confirm") == "yes"
        self.count("authorize")
        return self._reply(
            self.authz.create_authorization_response(
                req, grant_user=DEMO_USER if granted else None, grant=grant
            )
        )

    def handle_device_page(self, req: RawRequest) -> _Reply:
        code = html.escape(req.query.get("user_code", ""))
        return _html(
            "<h1>Connect a device</h1><form method='post' action='/device/approve'>"
            f"<label>Code <input name='user_code' value='{code}'></label>"
            "<button name='approve' value='yes'>Approve</button>"
            "<button name='approve' value='no'>Deny</button></form>"
        )

    def handle_device_approve(self, req: RawRequest) -> _Reply:
        user_code = str(req.form.get("user_code") or req.json.get("user_code") or "")
        raw = req.form.get("approve", req.json.get("approve", "yes"))
        approve = raw is True or str(raw).lower() in ("yes", "true", "1")
        ok = self.approve_device(user_code, approve=approve)
        self.count("device_approve")
        body = (
            {"ok": ok, "approved": approve} if ok else {"ok": False, "error": "unknown or expired user_code"}
        )
        return _Reply(200 if ok else 404, _json(body), list(_JSON.items()))

    def handle_userinfo(self, req: RawRequest) -> _Reply:
        header = req.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        info = self.introspect(token) if token else {"active": False}
        if not info["active"]:
            headers = [*_JSON.items(), ("www-authenticate", 'Bearer error="invalid_token"')]
            return _Reply(401, _json({"error": "invalid_token"}), headers)
        self.count("userinfo")
        return _Reply(
            200,
            _json({"sub": info["sub"], "client_id": info["client_id"], "scope": info["scope"]}),
            list(_JSON.items()),
        )

    def handle_metadata(self, req: RawRequest) -> _Reply:
        base = self.url
        body = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "device_authorization_endpoint": f"{base}/device_authorization",
            "revocation_endpoint": f"{base}/revoke",
            "introspection_endpoint": f"{base}/introspect",
            "grant_types_supported": sorted({g for c in self.store.clients() for g in c.grant_types}),
            "code_challenge_methods_supported": ["S256"],
        }
        return _Reply(200, _json(body), list(_JSON.items()))

    # ----------------------------------------------------------------- helpers
    def _consent_page(self, req: RawRequest, client_id: str, scope: str) -> _Reply:
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
            for k, v in req.query.items()
        )
        return _html(
            f"<h1>Allow {html.escape(client_id)}?</h1><p>Scopes: {html.escape(scope)}</p>"
            f"<form method='post' action='/authorize'>{hidden}"
            "<button name='confirm' value='yes'>Allow</button>"
            "<button name='confirm' value='no'>Deny</button></form>"
        )

    @staticmethod
    def _reply(result: tuple[int, Any, list[tuple[str, str]]]) -> _Reply:
        status, body, headers = result
        if isinstance(body, dict):
            data = _json(body)
        else:
            data = (body or "").encode() if isinstance(body, str) else bytes(body or b"")
        return _Reply(status, data, [(k.lower(), v) for k, v in headers])


def _json(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()


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
