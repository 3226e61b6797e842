"""``OAuth2Auth``: an httpx.Auth that holds a token, logs in, and refreshes exactly once under load.

The token is refreshed before it expires (``leeway`` seconds early) and again when a request comes back
401. Refreshes are *single-flight*: every refresh runs on aikit's loop thread under one
``asyncio.Lock``, and a caller that waited for the lock reuses the token another caller just got, so
20 concurrent requests holding the same stale token cause exactly one call to the token endpoint,
whether they run on aikit's loop, on another event loop, or in sync ``httpx.Client`` threads.

Login flows (each with a sync method for notebooks and an ``a``-prefixed async twin):

- :meth:`OAuth2Auth.login_client_credentials` (service to service),
- :meth:`OAuth2Auth.login_pkce` (authorization code + PKCE with a loopback redirect, local kernel),
  or :meth:`start_pkce` + :meth:`finish_pkce` (paste the redirect URL, remote kernel),
- :meth:`OAuth2Auth.start_device_login` + :meth:`finish_device_login` (RFC 8628; the default for
  remote kernels and Binder, see :func:`is_remote_kernel`).

Token persistence is opt-in (``persist="file"`` or ``"keyring"``); tokens are never written into the
notebook and every repr masks them.

>>> from aikit.auth.oauth import OAuth2Client
>>> auth = OAuth2Auth(OAuth2Client(client_id="c", token_url="http://127.0.0.1:9/token"))
>>> auth.status().state
'not connected'
"""

from __future__ import annotations

import asyncio
import os
import webbrowser
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from aikit._runtime import LoopLocal, get_loop, in_runtime_thread, run_sync
from aikit.auth.loopback import LoopbackRedirect
from aikit.auth.oauth import AuthorizationRequest, DeviceAuthorization, OAuth2Client
from aikit.auth.tokens import Token, TokenStore, token_store
from aikit.exceptions import AuthError

__all__ = ["AuthStatus", "OAuth2Auth", "is_remote_kernel"]

T = TypeVar("T")


def is_remote_kernel() -> bool:
    """True on Binder, JupyterHub or Colab, where a loopback redirect cannot reach the kernel."""
    markers = (
        "BINDER_LAUNCH_HOST",
        "BINDER_REPO_URL",
        "BINDER_REQUEST",
        "BINDER_SERVICE_HOST",
        "JUPYTERHUB_SERVICE_PREFIX",
        "COLAB_RELEASE_TAG",
    )
    return any(os.environ.get(m) for m in markers) or bool(os.environ.get("AIKIT_REMOTE_KERNEL"))


@dataclass(frozen=True)
class AuthStatus:
    """What a login panel shows: ``state`` is connected / expired / not connected / error."""

    state: str
    expires_in: float | None = None
    detail: str = ""


async def _on_runtime(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on aikit's loop thread, wherever the caller's loop is."""
    loop = get_loop()
    if in_runtime_thread():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


class OAuth2Auth(httpx.Auth):
    """Bearer auth backed by an OAuth 2.0 token that it obtains, refreshes and optionally persists.

    Parameters
    ----------
    client : OAuth2Client
        The provider endpoints and client credentials.
    token : Token, optional
        A token you already have.
    fetch : callable, optional
        ``async () -> Token`` used when there is no token or no refresh token (client credentials,
        JWT bearer). Set by :meth:`client_credentials` and :func:`aikit.auth.jwt.jwt_bearer_auth`.
    persist : None, "file", "keyring" or a TokenStore
        Opt-in token persistence; default memory only.
    key : str, optional
        The persistence key (default ``"<client_id>@<token_url>"``).
    leeway : float
        Refresh this many seconds before expiry.

    Examples
    --------
    >>> from aikit.auth.oauth import OAuth2Client
    >>> client = OAuth2Client(client_id="svc", client_secret="s", token_url="http://127.0.0.1:9/token")
    >>> OAuth2Auth.client_credentials(client)
    OAuth2Auth(client_id='svc', state='not connected', token=None)
    """

    def __init__(
        self,
        client: OAuth2Client,
        *,
        token: Token | None = None,
        fetch: Callable[[], Awaitable[Token]] | None = None,
        persist: str | TokenStore | None = None,
        key: str | None = None,
        leeway: float = 60.0,
    ) -> None:
        self.client = client
        self.leeway = leeway
        self._fetch = fetch
        self._store = token_store(persist)
        self.key = key or f"{client.client_id}@{client.token_url}"
        self._token = token if token is not None else self._store.load(self.key)
        #: One lock per event loop (refreshes run on aikit's loop; after it restarts, a new lock).
        self._locks: LoopLocal[asyncio.Lock] = LoopLocal(asyncio.Lock)
        self.last_error: str | None = None
        self.refresh_count = 0

    @classmethod
    def client_credentials(
        cls, client: OAuth2Client, *, scope: str | None = None, **kwargs: Any
    ) -> OAuth2Auth:
        """An auth that fetches (and re-fetches on expiry) a client credentials token by itself."""
        return cls(client, fetch=lambda: client.client_credentials(scope), **kwargs)

    @property
    def token(self) -> Token | None:
        return self._token

    def _set(self, token: Token | None) -> None:
        self._token = token
        if token is None:
            self._store.delete(self.key)
        else:
            self._store.save(self.key, token)
            self.last_error = None

    def status(self) -> AuthStatus:
        """Connected (with seconds left), expired, not connected, or the last error."""
        token = self._token
        if self.last_error:
            return AuthStatus("error", None if token is None else token.expires_in, self.last_error)
        if token is None:
            return AuthStatus("not connected")
        left = token.expires_in
        if left is not None and left <= 0:
            can_renew = bool(token.refresh_token or self._fetch)
            return AuthStatus("expired", left, "renews on next request" if can_renew else "log in again")
        return AuthStatus("connected", left)

    def __repr__(self) -> str:
        token = "None" if self._token is None else "'***'"
        return (
            f"OAuth2Auth(client_id={self.client.client_id!r}, state={self.status().state!r}, token={token})"
        )

    async def _renew_if_current(self, stale: Token | None) -> Token:
        """Runs on aikit's loop. Renew unless another caller already replaced ``stale``."""
        async with self._locks.get():
            current = self._token
            if current is not None and current is not stale and not current.expires_within(self.leeway):
                return current
            try:
                if current is not None and current.refresh_token:
                    self.refresh_count += 1
                    new = await self.client.refresh(current)
                elif self._fetch is not None:
                    new = await self._fetch()
                else:
                    raise AuthError(
                        "Not logged in (or the token expired and cannot be refreshed): run a login first, "
                        "e.g. auth.login_device() or auth.login_pkce()."
                    )
            except AuthError as exc:
                self.last_error = str(exc)
                raise
            self._set(new)
            return new

    async def _valid_token(self) -> Token:
        token = self._token
        if token is None or token.expires_within(self.leeway):
            return await _on_runtime(self._renew_if_current(token))
        return token

    @staticmethod
    def _sign(request: httpx.Request, token: Token) -> None:
        request.headers["Authorization"] = f"Bearer {token.access_token}"

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._valid_token()
        self._sign(request, token)
        response = yield request
        if response.status_code == 401 and (token.refresh_token or self._fetch is not None):
            new = await _on_runtime(self._renew_if_current(token))
            self._sign(request, new)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token
        if token is None or token.expires_within(self.leeway):
            token = run_sync(self._renew_if_current(token))
        self._sign(request, token)
        response = yield request
        if response.status_code == 401 and (token.refresh_token or self._fetch is not None):
            new = run_sync(self._renew_if_current(token))
            self._sign(request, new)
            yield request

    async def _login(self, coro: Coroutine[Any, Any, Token]) -> Token:
        try:
            token = await _on_runtime(coro)
        except AuthError as exc:
            self.last_error = str(exc)
            raise
        self._set(token)
        return token

    async def alogin_client_credentials(self, scope: str | None = None) -> Token:
        return await self._login(self.client.client_credentials(scope))

    def login_client_credentials(self, scope: str | None = None) -> Token:
        """Client credentials login; returns the (masked) token."""
        return run_sync(self.alogin_client_credentials(scope))

    async def astart_device_login(self, scope: str | None = None) -> DeviceAuthorization:
        return await self.client.start_device_authorization(scope)

    def start_device_login(self, scope: str | None = None) -> DeviceAuthorization:
        """Start a device login: show ``user_code`` and ``link`` to the user, then call finish."""
        return run_sync(self.astart_device_login(scope))

    async def afinish_device_login(
        self,
        device: DeviceAuthorization,
        *,
        timeout: float | None = None,
        on_pending: Callable[[int], None] | None = None,
    ) -> Token:
        return await self._login(
            self.client.poll_device_token(device, timeout=timeout, on_pending=on_pending)
        )

    def finish_device_login(self, device: DeviceAuthorization, *, timeout: float | None = None) -> Token:
        """Poll until the device code is approved (or denied / expired)."""
        return run_sync(self.afinish_device_login(device, timeout=timeout))

    def login_device(
        self, *, on_code: Callable[[DeviceAuthorization], None] | None = None, timeout: float | None = None
    ) -> Token:
        """Device login in one call: ``on_code`` (default: print code and link) then wait."""
        device = self.start_device_login()
        if on_code is None:
            print(f"Open {device.link} and enter the code {device.user_code}")
        else:
            on_code(device)
        return self.finish_device_login(device, timeout=timeout)

    def start_pkce(self, redirect_uri: str, *, scope: str | None = None) -> AuthorizationRequest:
        """Paste mode (remote kernel): open ``request.url``, approve, then paste the final URL into finish."""
        return self.client.authorization_request(redirect_uri, scope=scope)

    async def afinish_pkce(self, request: AuthorizationRequest, redirect_url: str) -> Token:
        return await self._login(self.client.exchange_code(request, redirect_url))

    def finish_pkce(self, request: AuthorizationRequest, redirect_url: str) -> Token:
        """Exchange the pasted redirect URL for a token (state and PKCE verifier are checked)."""
        return run_sync(self.afinish_pkce(request, redirect_url))

    def login_pkce(
        self,
        *,
        open_browser: bool = True,
        on_url: Callable[[str], None] | None = None,
        timeout: float = 300.0,
        scope: str | None = None,
    ) -> Token:
        """Authorization code + PKCE with a loopback redirect listener (local kernels)."""
        with LoopbackRedirect() as listener:
            request = self.start_pkce(listener.redirect_uri, scope=scope)
            if on_url is not None:
                on_url(request.url)
            elif open_browser:
                webbrowser.open(request.url)
            redirect = listener.wait(timeout)
        return self.finish_pkce(request, redirect)

    async def alogout(self) -> None:
        token, self._token = self._token, None
        self._store.delete(self.key)
        self.last_error = None
        if token is not None and self.client.revocation_url:
            await self.client.revoke(token.refresh_token or token.access_token)

    def logout(self) -> None:
        """Revoke the token at the server (when it has a revocation endpoint) and forget it."""
        run_sync(self.alogout())
