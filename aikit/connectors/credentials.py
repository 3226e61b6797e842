"""Connector credentials that follow the one credential order, and auth objects a login panel holds.

:class:`ResolvedTokenAuth` is the Bearer auth of a client built without ``token=``: the token found
in this kernel's session (the login panel), the environment, ``.env`` or the keyring
(:func:`aikit.auth.secrets.resolve_key`). When the CRM answers 401 (``EXPIRED_AUTHENTICATION`` for
an expired OAuth access token), the token is looked up again in the same order and, if a different
one is found there now (a new token entered in the panel), the request is sent once more with it;
the client keeps working without being rebuilt. An auth that refreshes by itself
(:class:`aikit.auth.OAuth2Auth`: one refresh for any number of concurrent requests) is used as is;
:func:`as_auth` also accepts the login panel's :class:`aikit.auth.OAuthService`.

>>> auth = ResolvedTokenAuth(["DOC_CRM_TOKEN"], Secret("canary-1", name="DOC_CRM_TOKEN", source="session"))
>>> auth
ResolvedTokenAuth(variable='DOC_CRM_TOKEN', token='***')
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Protocol

import httpx

from aikit.auth.secrets import Secret, resolve_key, reveal
from aikit.exceptions import ConfigError

__all__ = ["HasAuth", "ResolvedTokenAuth", "as_auth"]


class HasAuth(Protocol):
    """Something holding an ``httpx.Auth`` (the login panel's :class:`aikit.auth.OAuthService`)."""

    @property
    def auth(self) -> httpx.Auth: ...


class ResolvedTokenAuth(httpx.Auth):
    """``Authorization: Bearer`` with a token from the credential order, looked up again after a 401."""

    def __init__(self, variables: Sequence[str], found: Secret) -> None:
        self.variables = list(variables)
        self._token = found
        self.reloads = 0

    def __repr__(self) -> str:
        return f"ResolvedTokenAuth(variable={self.variables[0]!r}, token='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = reveal(self._token)
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = resolve_key(self.variables, None, required=False)
        if fresh is None or reveal(fresh) == sent:
            return
        self._token = fresh
        self.reloads += 1
        request.headers["Authorization"] = f"Bearer {reveal(fresh)}"
        yield request


def as_auth(auth: httpx.Auth | HasAuth | Any) -> httpx.Auth:
    """An ``httpx.Auth``, or the ``auth`` of a login-panel service (:class:`aikit.auth.OAuthService`)."""
    if isinstance(auth, httpx.Auth):
        return auth
    inner = getattr(auth, "auth", None)
    if isinstance(inner, httpx.Auth):
        return inner
    raise ConfigError(
        f"auth= takes an httpx.Auth (for example aikit.auth.OAuth2Auth) or a login-panel OAuthService, "
        f"not {type(auth).__name__}"
    )
