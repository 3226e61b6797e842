"""The local OAuth server's HTTP endpoints, framework-free: a :class:`RawRequest` in, a :class:`Reply` out.

The protocol endpoints (token, device authorization, revocation, introspection) hand the request to
authlib through :class:`~aikit.local.oauth.grants.LocalAuthorizationServer`; the rest are the demo's
own pages: the consent page of ``/authorize``, the device page and its approval (which needs the demo
user's login and throttles wrong codes, RFC 8628 section 5.1), ``/userinfo`` (a protected resource) and
the RFC 8414 metadata. :mod:`aikit.local.oauth.app` serves the table of
:meth:`Endpoints.routes`; every handler is synchronous and fast (the store is in memory).

>>> from aikit.local.oauth.grants import LocalAuthorizationServer, RawRequest
>>> from aikit.local.oauth.store import OAuthStore
>>> store = OAuthStore()
>>> authz = LocalAuthorizationServer(
...     store, access_token_ttl=60, refresh_token_ttl=None, device_interval=1.0,
...     base_url=lambda: "http://127.0.0.1:8788")
>>> endpoints = Endpoints(authz, base_url=lambda: "http://127.0.0.1:8788")
>>> reply = endpoints.handle_userinfo(RawRequest("GET", "http://127.0.0.1:8788/userinfo", {}))
>>> reply.status
401
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import html
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aikit.local.oauth.grants import DEMO_USER, DeviceEndpoint, LocalAuthorizationServer, RawRequest
from aikit.local.oauth.store import OAuthStore

__all__ = ["Endpoints", "Handler", "Reply", "introspection"]

_JSON = {"content-type": "application/json", "cache-control": "no-store"}


@dataclass(frozen=True)
class Reply:
    """An HTTP reply: status, body bytes and lower-case header pairs."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]


#: One endpoint: the parsed request in, the reply out.
Handler = Callable[[RawRequest], Reply]


def introspection(store: OAuthStore, access_token: str) -> dict[str, Any]:
    """RFC 7662-style view of a token: ``{"active": False}`` unless it is live."""
    token = store.live(access_token)
    if token is None:
        return {"active": False}
    return {
        "active": True,
        "client_id": token.client_id,
        "scope": token.scope,
        "sub": token.user,
        "exp": int(token.issued_at + token.expires_in),
        "token_type": "Bearer",
    }


class Endpoints:
    """The demo authorization server's endpoints and their counters.

    Parameters
    ----------
    authz : LocalAuthorizationServer
        authlib's server bound to the store (it issues, rotates and revokes the tokens).
    base_url : callable
        Returns the server's base URL (known once the port is bound), for the metadata document.
    auto_approve : bool
        When True, ``GET /authorize`` grants at once instead of showing the consent page.
    password : str
        The demo user's password: ``POST /device/approve`` needs ``username`` and ``password`` (form or
        JSON fields, or HTTP Basic) before it looks at a user code.
    attempts, window_s :
        At most ``attempts`` failed approvals (wrong login or unknown user code) per ``window_s``
        seconds; further ones get 429 with ``Retry-After`` until the window has passed.
    """

    def __init__(
        self,
        authz: LocalAuthorizationServer,
        *,
        base_url: Callable[[], str],
        auto_approve: bool = False,
        password: str = "",
        attempts: int = 5,
        window_s: float = 60.0,
    ) -> None:
        self.authz, self.base_url, self.auto_approve = authz, base_url, auto_approve
        self.password = password
        self._failures: deque[float] = deque()
        self._attempts, self._window_s = attempts, window_s
        self.store: OAuthStore = authz.store
        #: Events counted per name: grant types at ``/token``, ``authorize``, ``revoke``, ``userinfo``...
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def count(self, event: str) -> None:
        with self._stats_lock:
            self.stats[event] += 1

    def routes(self) -> list[tuple[str, Handler, list[str]]]:
        """``(path, handler, methods)`` for every endpoint."""
        return [
            ("/authorize", self.handle_authorize, ["GET", "POST"]),
            ("/token", self.handle_token, ["POST"]),
            ("/device_authorization", self.handle_device_authorization, ["POST"]),
            ("/device", self.handle_device_page, ["GET"]),
            ("/device/approve", self.handle_device_approve, ["POST"]),
            ("/revoke", self.handle_revoke, ["POST"]),
            ("/introspect", self.handle_introspect, ["POST"]),
            ("/userinfo", self.handle_userinfo, ["GET"]),
            ("/.well-known/oauth-authorization-server", self.handle_metadata, ["GET"]),
        ]

    def handle_token(self, req: RawRequest) -> Reply:
        self.count(str(req.form.get("grant_type", "")))
        return _reply(self.authz.create_token_response(req))

    def handle_device_authorization(self, req: RawRequest) -> Reply:
        self.count("device_authorization")
        return _reply(self.authz.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME, req))

    def handle_revoke(self, req: RawRequest) -> Reply:
        self.count("revoke")
        return _reply(self.authz.create_endpoint_response("revocation", req))

    def handle_introspect(self, req: RawRequest) -> Reply:
        return _reply(self.authz.create_endpoint_response("introspection", req))

    def handle_authorize(self, req: RawRequest) -> Reply:
        from authlib.oauth2 import OAuth2Error

        try:
            grant = self.authz.get_consent_grant(req, end_user=DEMO_USER)
        except OAuth2Error as error:
            if getattr(error, "redirect_uri", None):  # a checked redirect URI: the error goes back there
                return _reply(self.authz.handle_error_response(req, error))
            # unknown client or unregistered redirect URI: never redirect (RFC 6749 section 4.1.2.1)
            detail = f": {error.description}" if error.description else ""
            return _html(f"<p>Invalid request: {html.escape((error.error or '') + detail)}</p>", 400)
        if req.method == "GET" and not self.auto_approve:
            return _consent_page(req, grant.client.client_id, grant.request.scope or "")
        granted = self.auto_approve if req.method == "GET" else req.form.get("confirm") == "yes"
        self.count("authorize")
        return _reply(
            self.authz.create_authorization_response(
                req, grant_user=DEMO_USER if granted else None, grant=grant
            )
        )

    def handle_device_page(self, req: RawRequest) -> Reply:
        code = html.escape(req.query.get("user_code", ""))
        return _html(
            "<h1>Sign in a notebook</h1>"
            "<p>A notebook is asking to sign in to the <b>aikit demo</b> account as "
            f"<b>{html.escape(DEMO_USER)}</b>. Check that the code below is the one the notebook shows, "
            "then sign in as the demo user and approve it.</p>"
            "<form method='post' action='/device/approve'>"
            f"<p><label>Code <input name='user_code' value='{code}' autocomplete='off' "
            "placeholder='XXXX-XXXX' required></label></p>"
            f"<p><label>User <input name='username' value='{html.escape(DEMO_USER)}'></label></p>"
            "<p><label>Password <input name='password' type='password' required></label></p>"
            "<p><button class='approve' name='approve' value='yes'>Approve</button> "
            "<button class='deny' name='approve' value='no'>Deny</button></p></form>"
            "<p class='note'>This is a local demo server on this machine: no real account is involved. "
            "The demo password is printed by <code>aikit serve oauth</code>.</p>",
            title="Sign in a notebook",
        )

    def handle_device_approve(self, req: RawRequest) -> Reply:
        """Record the user's decision; a browser gets a page saying what happened, an API client JSON."""
        browser = "text/html" in req.headers.get("accept", "")
        wait = self._throttled()
        if wait:
            if browser:
                return _html(f"<h1 class='bad'>Too many attempts</h1><p>Try again in {wait} s.</p>", 429,
                             title="Too many attempts")  # fmt: skip
            headers = [*_JSON.items(), ("retry-after", str(wait))]
            body = {
                "ok": False,
                "error": "slow_down",
                "error_description": f"too many failed attempts; retry in {wait} s",
            }
            return Reply(429, _json(body), headers)
        if not self._logged_in(req):
            self._failed()
            if browser:
                return _html("<h1 class='bad'>Wrong user or password</h1><p>Go back and sign in as the "
                             "demo user to approve the code.</p><p><a href='/device'>Try again</a></p>", 401,
                             title="Sign-in failed")  # fmt: skip
            headers = [*_JSON.items(), ("www-authenticate", 'Basic realm="aikit demo login"')]
            body = {
                "ok": False,
                "error": "login_required",
                "error_description": "username and password of the demo user",
            }
            return Reply(401, _json(body), headers)
        user_code = str(req.form.get("user_code") or req.json.get("user_code") or "")
        raw = req.form.get("approve", req.json.get("approve", "yes"))
        approve = raw is True or str(raw).lower() in ("yes", "true", "1")
        ok = self.store.decide_device(user_code, approve=approve, user=DEMO_USER)
        self.count("device_approve")
        if not ok:
            self._failed()
        if browser:
            return _decision_page(user_code, ok=ok, approved=approve)
        body = (
            {"ok": ok, "approved": approve} if ok else {"ok": False, "error": "unknown or expired user_code"}
        )
        return Reply(200 if ok else 404, _json(body), list(_JSON.items()))

    def _logged_in(self, req: RawRequest) -> bool:
        user = req.form.get("username", req.json.get("username"))
        password = req.form.get("password", req.json.get("password"))
        header = req.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        if not isinstance(user, str) or not isinstance(password, str) or not self.password:
            return False
        same_user = hmac.compare_digest(user.encode(), DEMO_USER.encode())
        return hmac.compare_digest(password.encode(), self.password.encode()) and same_user

    def _throttled(self) -> int:
        """Seconds until another approval may be tried (0: now)."""
        now = time.monotonic()
        with self._stats_lock:
            while self._failures and self._failures[0] <= now - self._window_s:
                self._failures.popleft()
            if len(self._failures) < self._attempts:
                return 0
            return max(1, math.ceil(self._failures[0] + self._window_s - now))

    def _failed(self) -> None:
        with self._stats_lock:
            self._failures.append(time.monotonic())
        self.count("device_approve_failed")

    def handle_userinfo(self, req: RawRequest) -> Reply:
        header = req.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        info = introspection(self.store, token) if token else {"active": False}
        if not info["active"]:
            headers = [*_JSON.items(), ("www-authenticate", 'Bearer error="invalid_token"')]
            return Reply(401, _json({"error": "invalid_token"}), headers)
        self.count("userinfo")
        return Reply(
            200,
            _json({"sub": info["sub"], "client_id": info["client_id"], "scope": info["scope"]}),
            list(_JSON.items()),
        )

    def handle_metadata(self, req: RawRequest) -> Reply:
        base = self.base_url()
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
        return Reply(200, _json(body), list(_JSON.items()))


def _consent_page(req: RawRequest, client_id: str, scope: str) -> Reply:
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


def _decision_page(user_code: str, *, ok: bool, approved: bool) -> Reply:
    code = html.escape(user_code or "(none)")
    if not ok:
        return _html(
            "<h1 class='bad'>This code is not valid</h1>"
            f"<p>The code <code>{code}</code> is unknown, was already used, or has expired.</p>"
            "<p>Start the sign-in again in the notebook to get a new code, then open the link it shows.</p>"
            "<p><a href='/device'>Enter another code</a></p>",
            404,
            title="Code not valid",
        )
    if approved:
        return _html(
            "<h1 class='good'>Approved</h1>"
            f"<p>The notebook that showed the code <code>{code}</code> is now signed in as "
            f"<b>{html.escape(DEMO_USER)}</b>. Its login panel turns to <b>connected</b> within a few "
            "seconds.</p><p>You can close this tab and go back to the notebook.</p>",
            title="Approved",
        )
    return _html(
        "<h1 class='bad'>Access denied</h1>"
        f"<p>The notebook that showed the code <code>{code}</code> was not signed in; its login panel "
        "shows that access was denied.</p><p>You can close this tab.</p>",
        title="Access denied",
    )


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;max-width:560px;"
    "margin:48px auto;padding:0 20px;line-height:1.5}h1{font-size:1.5em;margin:0 0 12px}"
    ".good{color:#1a7f37}.bad{color:#cf222e}code{background:#f6f8fa;padding:1px 6px;border-radius:4px}"
    "input{font:inherit;font-size:1.2em;padding:4px 8px;margin-left:8px;letter-spacing:.1em;width:10em}"
    "button{font:inherit;padding:6px 18px;border-radius:6px;border:1px solid #d1d9e0;cursor:pointer}"
    "button.approve{background:#1f883d;color:#fff;border-color:#1f883d}.note{color:#59636e;font-size:.9em}"
)


def _html(body: str, status: int = 200, *, title: str = "aikit demo login") -> Reply:
    head = (
        "<head><meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)} · aikit demo login</title><style>{_STYLE}</style></head>"
    )
    page = f"<!doctype html><html lang='en'>{head}<body>{body}</body></html>"
    return Reply(status, page.encode(), [("content-type", "text/html; charset=utf-8")])


def _reply(result: tuple[int, Any, list[tuple[str, str]]]) -> Reply:
    status, body, headers = result
    if isinstance(body, dict):
        data = _json(body)
    else:
        data = (body or "").encode() if isinstance(body, str) else bytes(body or b"")
    return Reply(status, data, [(k.lower(), v) for k, v in headers])


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
