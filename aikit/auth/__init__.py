"""Credentials and authentication for aikit and any httpx client.

>>> from aikit.auth import secret, BearerAuth
>>> key = secret("DOC_INIT_KEY", "sk-doc")     # explicit > session > env > .env > keyring > prompt
>>> BearerAuth(key)
BearerAuth(token='***')

- :func:`secret` / :class:`Secret` / :func:`resolve_key`: resolve a credential in one documented order
  (explicit > session > env > ``.env`` > keyring, :mod:`aikit.auth.secrets`); masked everywhere.
- :func:`register_prompter`: how the widget side plugs in the password box (:mod:`aikit.auth.prompt`).
- :class:`ApiKeyAuth`, :class:`BearerAuth`, :class:`BasicAuth`: static httpx auth.
- :class:`OAuth2Client` + :class:`OAuth2Auth`: OAuth 2.0 (client credentials, authorization code +
  PKCE, device code, refresh with one refresh under concurrency, revocation), needs ``aikit[auth]``.
- :func:`jwt_bearer_auth` (RFC 7523 service accounts) and :func:`mtls_client` (client certificates).

Every name loads on first use (the OAuth ones need authlib); this package never imports widgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikit import _lazy

# name -> module that defines it, imported on first access (PEP 562): ``import aikit.auth.secrets``
# and ``import aikit`` (which registers the default prompter) load neither httpx nor authlib.
_LAZY: dict[str, str] = {
    "ApiKeyAuth": "aikit.auth.httpx_auth",
    "ApiKeyService": "aikit.auth.services",
    "AuthStatus": "aikit.auth.session",
    "AuthorizationRequest": "aikit.auth.oauth",
    "BasicAuth": "aikit.auth.httpx_auth",
    "BearerAuth": "aikit.auth.httpx_auth",
    "DeviceAuthorization": "aikit.auth.oauth",
    "FileTokenStore": "aikit.auth.tokens",
    "KeyringTokenStore": "aikit.auth.tokens",
    "LoopbackRedirect": "aikit.auth.loopback",
    "MemoryTokenStore": "aikit.auth.tokens",
    "OAuth2Auth": "aikit.auth.session",
    "OAuth2Client": "aikit.auth.oauth",
    "OAuthService": "aikit.auth.services",
    "Secret": "aikit.auth.secrets",
    "Token": "aikit.auth.tokens",
    "forget_secret": "aikit.auth.secrets",
    "interaction_mode": "aikit.auth.prompt",
    "is_interactive": "aikit.auth.prompt",
    "is_remote_kernel": "aikit.auth.session",
    "jwt_bearer_assertion": "aikit.auth.jwt",
    "jwt_bearer_auth": "aikit.auth.jwt",
    "lookup_secret": "aikit.auth.secrets",
    "mtls_client": "aikit.auth.mtls",
    "mtls_context": "aikit.auth.mtls",
    "mtls_sync_client": "aikit.auth.mtls",
    "register_prompter": "aikit.auth.prompt",
    "resolve_key": "aikit.auth.secrets",
    "secret": "aikit.auth.secrets",
    "set_secret": "aikit.auth.secrets",
}

if TYPE_CHECKING:  # pragma: no cover
    from aikit.auth.httpx_auth import ApiKeyAuth, BasicAuth, BearerAuth
    from aikit.auth.jwt import jwt_bearer_assertion, jwt_bearer_auth
    from aikit.auth.loopback import LoopbackRedirect
    from aikit.auth.mtls import mtls_client, mtls_context, mtls_sync_client
    from aikit.auth.oauth import AuthorizationRequest, DeviceAuthorization, OAuth2Client
    from aikit.auth.prompt import interaction_mode, is_interactive, register_prompter
    from aikit.auth.secrets import Secret, forget_secret, lookup_secret, resolve_key, secret, set_secret
    from aikit.auth.services import ApiKeyService, OAuthService
    from aikit.auth.session import AuthStatus, OAuth2Auth, is_remote_kernel
    from aikit.auth.tokens import FileTokenStore, KeyringTokenStore, MemoryTokenStore, Token

__all__ = [
    "ApiKeyAuth",
    "ApiKeyService",
    "AuthStatus",
    "AuthorizationRequest",
    "BasicAuth",
    "BearerAuth",
    "DeviceAuthorization",
    "FileTokenStore",
    "KeyringTokenStore",
    "LoopbackRedirect",
    "MemoryTokenStore",
    "OAuth2Auth",
    "OAuth2Client",
    "OAuthService",
    "Secret",
    "Token",
    "forget_secret",
    "interaction_mode",
    "is_interactive",
    "is_remote_kernel",
    "jwt_bearer_assertion",
    "jwt_bearer_auth",
    "lookup_secret",
    "mtls_client",
    "mtls_context",
    "mtls_sync_client",
    "register_prompter",
    "resolve_key",
    "secret",
    "set_secret",
]


__getattr__, __dir__ = _lazy.exports(__name__, _LAZY)
