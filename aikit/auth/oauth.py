"""OAuth 2.0 client protocol steps: one async method per grant, over httpx.

:class:`OAuth2Client` knows a provider's endpoints and the client's credentials and performs single
protocol steps: client credentials, authorization code with PKCE (build the URL, exchange the
redirect), device authorization (RFC 8628: start, poll), refresh, revocation (RFC 7009) and JWT bearer
assertions (RFC 7523). It holds no token state; :class:`~aikit.auth.session.OAuth2Auth` does.

URL building, PKCE and redirect parsing use authlib's sans-I/O pieces (``prepare_grant_uri``,
``create_s256_code_challenge``, ``parse_authorization_code_response``). authlib's own httpx
integration is not used because it subclasses ``httpx2`` clients, not the ``httpx`` aikit runs on.

>>> client = OAuth2Client(client_id="aikit-cli", token_url="http://127.0.0.1:9/token",
...                       authorize_url="http://127.0.0.1:9/authorize")
>>> req = client.authorization_request("http://127.0.0.1:8765/callback")
>>> req.url.startswith("http://127.0.0.1:9/authorize?response_type=code&client_id=aikit-cli")
True
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response, prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from aikit._runtime import LoopLocal
from aikit.auth.masking import Scrubber
from aikit.auth.secrets import Secret, reveal
from aikit.auth.tokens import Token
from aikit.auth.urls import SplitURL, protect_logs, redact_urls, split_url
from aikit.exceptions import AuthError, ConfigError, OAuthError

__all__ = ["DEVICE_GRANT", "JWT_BEARER_GRANT", "AuthorizationRequest", "DeviceAuthorization", "OAuth2Client"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

_HINTS = {
    "invalid_grant": "the grant (code, refresh token or device code) is invalid, expired or revoked",
    "invalid_client": "the client id or secret is wrong",
    "access_denied": "the user denied the request",
    "expired_token": "the device code expired before it was approved",
    "unauthorized_client": "this client may not use this grant type",
    "invalid_scope": "the requested scope is not allowed",
}


@dataclass(frozen=True)
class AuthorizationRequest:
    """A started authorization-code login: open :attr:`url`, then hand the redirect URL back.

    The PKCE ``code_verifier`` and ``state`` stay here (masked in the repr).
    """

    url: str
    redirect_uri: str
    state: str
    code_verifier: str

    def __repr__(self) -> str:
        return (
            f"AuthorizationRequest(url={self.url!r}, redirect_uri={self.redirect_uri!r}, code_verifier='***')"
        )


@dataclass(frozen=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 section 3.2). Show ``user_code`` and the link."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float

    @property
    def link(self) -> str:
        """The best link to show: the complete one (code pre-filled) when the server sent it."""
        return self.verification_uri_complete or self.verification_uri

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    def __repr__(self) -> str:
        return (
            f"DeviceAuthorization(user_code={self.user_code!r}, verification_uri={self.verification_uri!r}, "
            f"expires_in={int(self.expires_at - time.time())}s, device_code='***')"
        )


class OAuth2Client:
    """A provider's endpoints plus this client's credentials; every method is one protocol step.

    Parameters
    ----------
    client_id : str
    token_url : str
    client_secret : str or Secret, optional
        Confidential clients only; public clients (PKCE, device) send just ``client_id``.
    authorize_url, device_authorization_url, revocation_url : str, optional
    scope : str, optional
        Space-separated scopes requested by default.
    transport : httpx.AsyncBaseTransport, optional
        Injected transport (tests); the default talks to the network.
    timeout : float
        Per-request timeout in seconds.

    Examples
    --------
    >>> OAuth2Client(client_id="svc", client_secret="s3cret", token_url="http://127.0.0.1:9/token")
    OAuth2Client(client_id='svc', token_url='http://127.0.0.1:9/token', client_secret='***')
    """

    def __init__(
        self,
        *,
        client_id: str,
        token_url: str,
        client_secret: str | Secret | None = None,
        authorize_url: str | None = None,
        device_authorization_url: str | None = None,
        revocation_url: str | None = None,
        scope: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not client_id or not token_url:
            raise ConfigError("OAuth2Client needs client_id and token_url")
        protect_logs()
        given = {"token_url": token_url, "authorize_url": authorize_url, "revocation_url": revocation_url,
                 "device_authorization_url": device_authorization_url}  # fmt: skip
        #: Each endpoint taken apart once: a ``user:password@`` is sent as Basic, nothing shows it.
        self._urls: dict[str, SplitURL] = {k: split_url(v) for k, v in given.items() if v}
        if client_secret is not None and any(u.login for u in self._urls.values()):
            raise ConfigError(
                "an endpoint URL carries a user:password@ login and the client has a client_secret; both "
                "go in the Authorization header: keep one"
            )
        self._scrub = Scrubber()
        for secret in (s for u in self._urls.values() for s in u.secrets):
            self._scrub.add(secret)
        self.client_id = client_id
        self.token_url: str = self._urls["token_url"].url
        self._client_secret = client_secret
        self.authorize_url = self._plain("authorize_url")
        self.device_authorization_url = self._plain("device_authorization_url")
        self.revocation_url = self._plain("revocation_url")
        self.scope = scope
        self._transport = transport
        self._timeout = timeout
        self._http: LoopLocal[httpx.AsyncClient] = LoopLocal(self._new_http, close=_aclose)

    def _failure(self, body: dict[str, Any], status: int, what: str) -> OAuthError:
        """The server's OAuth error, its message masked (a server may echo a secret back)."""
        self._scrub.add(reveal(self._client_secret) if self._client_secret is not None else None)
        error = _oauth_error(body, status, what)
        error.args = (redact_urls(self._scrub(str(error.args[0]))),)
        return error

    def _plain(self, name: str) -> str | None:
        url = self._urls.get(name)
        return None if url is None else url.url

    def _shown(self, url: str) -> str:
        for split in self._urls.values():
            if split.url == url:
                return split.shown
        return redact_urls(url)

    def __repr__(self) -> str:
        secret = ", client_secret='***'" if self._client_secret else ""
        return (
            f"OAuth2Client(client_id={self.client_id!r}, token_url={self._shown(self.token_url)!r}{secret})"
        )

    @property
    def is_public(self) -> bool:
        return self._client_secret is None

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=self._timeout)

    def _client(self) -> httpx.AsyncClient:
        """This event loop's HTTP client (one per loop: it works after a fork or a loop restart)."""
        return self._http.get()

    async def aclose(self) -> None:
        """Close this event loop's HTTP connection pool (safe to call twice)."""
        http = self._http.pop()
        if http is not None:
            await http.aclose()

    def _auth(self, data: dict[str, str], url: str) -> httpx.Auth | None:
        secret = reveal(self._client_secret)
        if secret is None:
            data["client_id"] = self.client_id
            login = next((u.login for u in self._urls.values() if u.url == url and u.login), None)
            return None if login is None else httpx.BasicAuth(login[0], login[1].reveal())
        return httpx.BasicAuth(self.client_id, secret)

    async def _post(self, url: str, data: dict[str, str], *, authenticate: bool = True) -> httpx.Response:
        auth = self._auth(data, url) if authenticate else None
        try:
            return await self._client().post(url, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise AuthError(
                f"Could not reach the authorization server at {self._shown(url)}: {type(exc).__name__}"
            ) from exc

    async def _token_request(self, data: dict[str, str], *, what: str) -> Token:
        response = await self._post(self.token_url, data)
        body = _json(response)
        if response.status_code == 200:
            return Token.from_response(body)
        raise self._failure(body, response.status_code, what)

    async def client_credentials(self, scope: str | None = None) -> Token:
        """Client credentials grant (RFC 6749 section 4.4): a confidential client gets its own token."""
        if self.is_public:
            raise ConfigError("The client credentials grant needs a client_secret")
        data = {"grant_type": "client_credentials"}
        if scope or self.scope:
            data["scope"] = scope or self.scope or ""
        return await self._token_request(data, what="client credentials login")

    def authorization_request(self, redirect_uri: str, *, scope: str | None = None) -> AuthorizationRequest:
        """Build the authorization URL with a fresh ``state`` and PKCE S256 challenge (no I/O)."""
        if not self.authorize_url:
            raise ConfigError("This OAuth2Client has no authorize_url")
        verifier = generate_token(64)
        state = generate_token(24)
        url = prepare_grant_uri(
            self.authorize_url,
            self.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=scope or self.scope,
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return AuthorizationRequest(url=url, redirect_uri=redirect_uri, state=state, code_verifier=verifier)

    async def exchange_code(
        self, request: AuthorizationRequest, redirect_url: str, *, code_verifier: str | None = None
    ) -> Token:
        """Exchange the redirect URL (``...?code=...&state=...``) for a token, checking ``state``.

        ``code_verifier`` overrides the request's verifier (tests use it to prove PKCE is enforced).
        """
        params = dict(httpx.URL(redirect_url.strip()).params)
        if "error" in params:
            raise OAuthError(
                f"Login failed: {params['error']} ({_HINTS.get(params['error'], 'see the provider page')}).",
                error=params["error"],
            )
        if params.get("state") != request.state:
            raise AuthError(
                "The redirect's state does not match this login (stale or forged redirect); start again."
            )
        try:
            parsed = parse_authorization_code_response(redirect_url.strip(), state=request.state)
        except Exception as exc:  # authlib's MissingCodeException / MismatchingStateException
            raise AuthError(
                "The pasted URL carries no authorization code; copy the full redirect URL."
            ) from exc
        data = {
            "grant_type": "authorization_code",
            "code": parsed["code"],
            "redirect_uri": request.redirect_uri,
            "code_verifier": code_verifier if code_verifier is not None else request.code_verifier,
        }
        return await self._token_request(data, what="authorization code exchange")

    async def start_device_authorization(self, scope: str | None = None) -> DeviceAuthorization:
        """Device authorization request (RFC 8628 section 3.1)."""
        if not self.device_authorization_url:
            raise ConfigError("This OAuth2Client has no device_authorization_url")
        data: dict[str, str] = {}
        if scope or self.scope:
            data["scope"] = scope or self.scope or ""
        response = await self._post(self.device_authorization_url, data)
        body = _json(response)
        if response.status_code != 200:
            raise self._failure(body, response.status_code, "device login")
        try:
            return DeviceAuthorization(
                device_code=str(body["device_code"]),
                user_code=str(body["user_code"]),
                verification_uri=str(body.get("verification_uri") or body["verification_url"]),
                verification_uri_complete=body.get("verification_uri_complete"),
                expires_at=time.time() + float(body.get("expires_in", 600)),
                interval=float(body.get("interval", 5)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthError("The device authorization response is malformed.") from exc

    async def poll_device_token(
        self,
        device: DeviceAuthorization,
        *,
        timeout: float | None = None,
        min_interval: float = 0.05,
        on_pending: Callable[[int], None] | None = None,
    ) -> Token:
        """Poll the token endpoint until the user approves, denies, or the code expires.

        ``on_pending(polls)`` is called after each "authorization_pending" answer (widgets update).
        """
        polls = 0
        deadline = device.expires_at if timeout is None else min(device.expires_at, time.time() + timeout)
        interval = max(device.interval, min_interval)
        data = {"grant_type": DEVICE_GRANT, "device_code": device.device_code}
        while True:
            response = await self._post(self.token_url, dict(data))
            body = _json(response)
            if response.status_code == 200:
                return Token.from_response(body)
            error = body.get("error")
            if error == "slow_down":
                interval += 5.0
            elif error != "authorization_pending":
                raise self._failure(body, response.status_code, "device login")
            polls += 1
            if on_pending is not None:
                on_pending(polls)
            if time.time() + interval > deadline:
                raise OAuthError(
                    f"Device login timed out: nobody approved code {device.user_code} in time. Start again.",
                    error="expired_token" if device.expired else "timeout",
                )
            await asyncio.sleep(interval)

    async def refresh(self, token: Token) -> Token:
        """Refresh grant (RFC 6749 section 6); keeps the old refresh token if none comes back."""
        if not token.refresh_token:
            raise AuthError("This token has no refresh token; log in again.")
        data = {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
        try:
            new = await self._token_request(data, what="token refresh")
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise OAuthError(
                    "The refresh token was rejected: it was revoked or has expired. Log in again "
                    "(for example OAuth2Auth.login_device() or login_pkce()).",
                    error="invalid_grant",
                    status=exc.status,
                ) from None
            raise
        return new.with_refresh_token(token.refresh_token)

    async def revoke(self, token: str, *, hint: str = "refresh_token") -> None:
        """Token revocation (RFC 7009): the server answers 200 even for unknown tokens."""
        if not self.revocation_url:
            raise ConfigError("This OAuth2Client has no revocation_url")
        response = await self._post(self.revocation_url, {"token": token, "token_type_hint": hint})
        if response.status_code != 200:
            raise self._failure(_json(response), response.status_code, "revocation")

    async def jwt_bearer(self, assertion: str, scope: str | None = None) -> Token:
        """JWT bearer grant (RFC 7523 section 2.1): trade a signed assertion for a token."""
        data = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        if scope or self.scope:
            data["scope"] = scope or self.scope or ""
        response = await self._post(self.token_url, data, authenticate=False)
        body = _json(response)
        if response.status_code == 200:
            return Token.from_response(body)
        raise self._failure(body, response.status_code, "JWT bearer login")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _oauth_error(body: dict[str, Any], status: int, what: str) -> OAuthError:
    error = str(body.get("error") or f"http_{status}")
    described = body.get("error_description")
    hint = _HINTS.get(error, "see the authorization server's response")
    detail = f": {described}" if isinstance(described, str) and described else ""
    return OAuthError(f"The {what} failed with '{error}' ({hint}){detail}.", error=error, status=status)


async def _aclose(http: httpx.AsyncClient) -> None:
    await http.aclose()
