"""The demo org's login: connected apps, sessions, and the OAuth 2.0 endpoints Salesforce serves.

``POST /services/oauth2/token`` takes the grants Salesforce takes: JWT bearer (the connected app's
certificate verifies the assertion; ``iss`` = consumer key, ``sub`` = username, ``aud`` = the login
URL), client credentials (run as the integration user), authorization code (web server flow, PKCE
checked when a challenge was sent), refresh token (no new refresh token, as Salesforce answers) and
username-password. Answers have Salesforce's fields (``access_token``, ``instance_url``, ``id``,
``issued_at``, ``signature``); errors its shape (``{"error": "invalid_grant", "error_description":
"authentication failure"}``). ``GET /services/oauth2/authorize`` signs the demo analyst in at once and
redirects with a code. Sessions expire after ``session_ttl_s`` (Salesforce's default: two hours) or
when :meth:`Sessions.expire_all` is called; a request with a dead session gets ``INVALID_SESSION_ID``.

>>> apps = ConnectedApps.default()
>>> sessions = Sessions(ttl_s=60)
>>> token, _ = sessions.issue("005Dm0000000001IAA", apps.default_app.consumer_key)
>>> sessions.validate(token) is not None, sessions.validate("nope") is None
(True, True)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aikit.exceptions import OAuthError
from aikit.local.salesforce.wire import make_id

__all__ = [
    "ORG_ID",
    "ConnectedApp",
    "ConnectedApps",
    "OAuthFailure",
    "Session",
    "Sessions",
    "User",
    "token_grant",
]

ORG_ID = make_id("00D", 1)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The audiences a JWT may name: Salesforce's login hosts, plus the demo's own URL.
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthFailure(OAuthError):
    """An OAuth error answer: ``{"error": ..., "error_description": ...}`` with an HTTP status."""

    error: str
    status: int

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description, error=error, status=status)
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class User:
    username: str
    user_id: str
    password: str
    display_name: str


@dataclass
class ConnectedApp:
    """A connected app: consumer key and secret, the certificates that sign JWTs, its run-as user."""

    consumer_key: str
    consumer_secret: str
    certificates: list[str] = field(default_factory=list)
    run_as: str = "integration@demo-org.example"
    require_secret: bool = False  # "Require Secret for Web Server Flow" (off: PKCE alone is enough)

    def check_secret(self, secret: str | None) -> bool:
        return secret is not None and hmac.compare_digest(secret.encode(), self.consumer_secret.encode())


class ConnectedApps:
    """The org's connected apps and users."""

    def __init__(self, apps: list[ConnectedApp], users: list[User]) -> None:
        self.apps = {a.consumer_key: a for a in apps}
        self.users = {u.username.lower(): u for u in users}

    @classmethod
    def default(cls, consumer_secret: str | None = None, password: str = "demo-password") -> ConnectedApps:
        app = ConnectedApp("3MVG9aikitDemoConnectedApp", consumer_secret or secrets.token_hex(32))
        users = [
            User(
                "integration@demo-org.example",
                make_id("005", 1),
                secrets.token_urlsafe(24),
                "Integration User",
            ),
            User("analyst@demo-org.example", make_id("005", 2), password, "Demo Analyst"),
        ]
        return cls([app], users)

    @property
    def default_app(self) -> ConnectedApp:
        return next(iter(self.apps.values()))

    def user(self, username: str) -> User | None:
        return self.users.get(username.lower())


@dataclass
class Session:
    user_id: str
    client_id: str
    expires_at: float
    scope: str


class Sessions:
    """Access tokens (session ids) and refresh tokens, stored as SHA-256 digests, with expiry."""

    def __init__(self, ttl_s: float = 7200.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._sessions: dict[bytes, Session] = {}
        self._refresh: dict[bytes, Session] = {}
        self._codes: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def issue(
        self, user_id: str, client_id: str, *, refresh: bool = False, scope: str = "api"
    ) -> tuple[str, str | None]:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        session = Session(user_id, client_id, time.time() + self.ttl_s, scope)
        refresh_token = f"5Aep{secrets.token_urlsafe(60)}" if refresh else None
        with self._lock:
            self._sessions[self._digest(token)] = session
            if refresh_token:
                self._refresh[self._digest(refresh_token)] = session
        return token, refresh_token

    def validate(self, token: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(self._digest(token))
            if session is None or session.expires_at <= time.time():
                return None
            return session

    def refresh_owner(self, refresh_token: str) -> Session | None:
        with self._lock:
            return self._refresh.get(self._digest(refresh_token))

    def revoke(self, token: str) -> bool:
        digest = self._digest(token)
        with self._lock:
            gone = self._sessions.pop(digest, None) or self._refresh.pop(digest, None)
        return gone is not None

    def expire_all(self) -> int:
        """End every live session now (refresh tokens stay valid); returns how many ended."""
        with self._lock:
            n = len(self._sessions)
            self._sessions.clear()
        return n

    def save_code(self, code: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._codes[code] = {**data, "at": time.time()}

    def take_code(self, code: str) -> dict[str, Any] | None:
        with self._lock:
            data = self._codes.pop(code, None)
        return data if data is not None and time.time() - data["at"] < 900 else None


def _client(form: dict[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    if authorization and authorization.lower().startswith("basic "):
        try:
            raw = base64.b64decode(authorization[6:].strip()).decode()
        except (ValueError, UnicodeDecodeError):
            raise OAuthFailure("invalid_client", "invalid client credentials") from None
        key, _, secret = raw.partition(":")
        return key, secret
    return form.get("client_id"), form.get("client_secret")


def _verifier_matches(verifier: str | None, challenge: str, method: str) -> bool:
    if not verifier:
        return False
    if method == "plain":
        return hmac.compare_digest(verifier, challenge)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(digest, challenge)


def _verify_jwt(apps: ConnectedApps, assertion: str, audiences: list[str]) -> tuple[ConnectedApp, User]:
    import jwt as pyjwt
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        claims = pyjwt.decode(assertion, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        raise OAuthFailure("invalid_grant", "invalid assertion") from None
    app = apps.apps.get(str(claims.get("iss")))
    if app is None:
        raise OAuthFailure("invalid_client_id", "client identifier invalid")
    if not app.certificates:
        raise OAuthFailure("invalid_grant", "invalid assertion")
    verified: dict[str, Any] | None = None
    for pem in app.certificates:
        data = pem.encode()
        key: Any = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"CERTIFICATE" in data
            else serialization.load_pem_public_key(data)
        )
        try:
            verified = pyjwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=audiences,
                options={"require": ["exp", "sub", "aud"]},
            )
            break
        except pyjwt.InvalidAudienceError:
            raise OAuthFailure("invalid_grant", "audience is invalid") from None
        except pyjwt.ExpiredSignatureError:
            raise OAuthFailure("invalid_grant", "invalid assertion: expired") from None
        except pyjwt.PyJWTError:
            continue
    if verified is None:
        raise OAuthFailure("invalid_grant", "invalid assertion")
    user = apps.user(str(verified.get("sub") or verified.get("prn") or ""))
    if user is None:
        raise OAuthFailure("invalid_grant", "user hasn't approved this consumer")
    return app, user


def token_grant(
    apps: ConnectedApps, sessions: Sessions, form: dict[str, str], authorization: str | None, base_url: str
) -> dict[str, Any]:
    """Answer one ``/services/oauth2/token`` request (raises :class:`OAuthFailure`)."""
    grant = form.get("grant_type", "")
    refresh = False
    if grant == JWT_GRANT:
        app, user = _verify_jwt(apps, form.get("assertion", ""), [*LOGIN_AUDIENCES, base_url])
    else:
        key, secret = _client(form, authorization)
        app_or_none = apps.apps.get(key or "")
        if app_or_none is None:
            raise OAuthFailure("invalid_client_id", "client identifier invalid")
        app = app_or_none
        if grant == "client_credentials":
            if not app.check_secret(secret):
                raise OAuthFailure("invalid_client", "invalid client credentials")
            found = apps.user(app.run_as)
            assert found is not None
            user = found
        elif grant == "password":
            if not app.check_secret(secret):
                raise OAuthFailure("invalid_client", "invalid client credentials")
            found = apps.user(form.get("username", ""))
            if found is None or not hmac.compare_digest(
                form.get("password", "").encode(), found.password.encode()
            ):
                raise OAuthFailure("invalid_grant", "authentication failure")
            user = found
        elif grant == "authorization_code":
            code = sessions.take_code(form.get("code", ""))
            if code is None or code["client_id"] != app.consumer_key:
                raise OAuthFailure("invalid_grant", "invalid authorization code")
            if code["redirect_uri"] != form.get("redirect_uri"):
                raise OAuthFailure("invalid_grant", "redirect_uri must match configuration")
            if code.get("challenge"):
                if not _verifier_matches(form.get("code_verifier"), code["challenge"], code["method"]):
                    raise OAuthFailure("invalid_grant", "invalid code verifier")
                if (secret is not None and not app.check_secret(secret)) or (
                    app.require_secret and not secret
                ):
                    raise OAuthFailure("invalid_client", "invalid client credentials")
            elif not app.check_secret(secret):
                raise OAuthFailure("invalid_client", "invalid client credentials")
            found = next(u for u in apps.users.values() if u.user_id == code["user_id"])
            user, refresh = found, True
        elif grant == "refresh_token":
            owner = sessions.refresh_owner(form.get("refresh_token", ""))
            if owner is None or owner.client_id != app.consumer_key:
                raise OAuthFailure("invalid_grant", "expired access/refresh token")
            if secret is not None and not app.check_secret(secret):
                raise OAuthFailure("invalid_client", "invalid client credentials")
            user = next(u for u in apps.users.values() if u.user_id == owner.user_id)
        else:
            raise OAuthFailure("unsupported_grant_type", "grant type not supported")
    token, refresh_token = sessions.issue(user.user_id, app.consumer_key, refresh=refresh)
    issued = str(int(time.time() * 1000))
    identity = f"{base_url}/id/{ORG_ID}/{user.user_id}"
    signature = base64.b64encode(
        hmac.new(app.consumer_secret.encode(), (identity + issued).encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {
        "access_token": token,
        "instance_url": base_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature,
        "scope": "api refresh_token" if refresh else "api",
    }
    if refresh_token:
        body["refresh_token"] = refresh_token
    return body


def authorize(apps: ConnectedApps, sessions: Sessions, query: dict[str, str]) -> str:
    """The redirect URL for ``/services/oauth2/authorize`` (the demo analyst approves at once)."""
    app = apps.apps.get(query.get("client_id", ""))
    redirect = query.get("redirect_uri", "")
    if app is None:
        raise OAuthFailure("invalid_client_id", "client identifier invalid")
    parts = urlsplit(redirect)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OAuthFailure("redirect_uri_mismatch", "redirect_uri must match configuration")
    if query.get("response_type") != "code":
        raise OAuthFailure("unsupported_response_type", "response type not supported")
    code = secrets.token_urlsafe(32)
    analyst = apps.user("analyst@demo-org.example")
    assert analyst is not None
    sessions.save_code(
        code,
        {
            "client_id": app.consumer_key,
            "redirect_uri": redirect,
            "user_id": analyst.user_id,
            "challenge": query.get("code_challenge"),
            "method": query.get("code_challenge_method", "S256"),
        },
    )
    params = {"code": code}
    if "state" in query:
        params["state"] = query["state"]
    joiner = "&" if parts.query else "?"
    existing = dict(parse_qsl(parts.query))
    return redirect + joiner + urlencode({k: v for k, v in params.items() if k not in existing})
