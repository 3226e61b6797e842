"""Static-credential ``httpx.Auth`` classes: API key (header or query), Bearer, Basic.

Each accepts a plain string or a :class:`~aikit.auth.secrets.Secret` and reveals it only when a request
is signed, so the auth object itself, its ``repr`` and any exception raised around it stay masked.
They work with ``httpx.Client`` and ``httpx.AsyncClient`` alike (httpx drives ``auth_flow`` for both).

>>> import httpx
>>> auth = ApiKeyAuth("sk-live-123", header="x-api-key")
>>> auth
ApiKeyAuth(header='x-api-key', key='***')
>>> request = next(auth.auth_flow(httpx.Request("GET", "http://127.0.0.1/")))
>>> request.headers["x-api-key"]
'sk-live-123'
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx

from aikit.auth.secrets import Secret, reveal
from aikit.exceptions import ConfigError

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth"]


def _plain(value: str | Secret, what: str) -> str:
    plain = reveal(value)
    if not plain:
        raise ConfigError(f"{what} is empty")
    return plain


class ApiKeyAuth(httpx.Auth):
    """Send an API key in a header (default ``x-api-key``) or in a query parameter.

    Parameters
    ----------
    key : str or Secret
        The API key.
    header : str, optional
        Header name (default ``"x-api-key"`` unless ``query`` is given).
    query : str, optional
        Query parameter name, e.g. ``"api_key"``; mutually exclusive with ``header``.
    prefix : str
        Prepended to the key in the header, e.g. ``"Token "``.

    Examples
    --------
    >>> import httpx
    >>> r = next(ApiKeyAuth("k1", query="api_key").auth_flow(httpx.Request("GET", "http://127.0.0.1/x?a=1")))
    >>> str(r.url)
    'http://127.0.0.1/x?a=1&api_key=k1'
    """

    def __init__(
        self,
        key: str | Secret,
        *,
        header: str | None = None,
        query: str | None = None,
        prefix: str = "",
    ) -> None:
        if header and query:
            raise ConfigError("ApiKeyAuth takes header= or query=, not both")
        self._key = key
        self.query = query
        self.header = None if query else (header or "x-api-key")
        self.prefix = prefix
        if not isinstance(key, Secret):
            _plain(key, "the API key")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = _plain(self._key, "the API key")
        if self.query:
            request.url = request.url.copy_merge_params({self.query: key})
        else:
            assert self.header is not None
            request.headers[self.header] = f"{self.prefix}{key}"
        yield request

    def __repr__(self) -> str:
        where = f"query={self.query!r}" if self.query else f"header={self.header!r}"
        return f"ApiKeyAuth({where}, key='***')"


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` with a static token.

    >>> import httpx
    >>> next(BearerAuth("t0k").auth_flow(httpx.Request("GET", "http://127.0.0.1/"))).headers["authorization"]
    'Bearer t0k'
    """

    def __init__(self, token: str | Secret) -> None:
        self._token = token
        if not isinstance(token, Secret):
            _plain(token, "the bearer token")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {_plain(self._token, 'the bearer token')}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"


class BasicAuth(httpx.Auth):
    """HTTP Basic with a username and a (masked) password.

    >>> import httpx
    >>> next(BasicAuth("ann", "pw").auth_flow(httpx.Request("GET", "http://127.0.0.1/"))).headers["authorization"]
    'Basic YW5uOnB3'
    """

    def __init__(self, username: str, password: str | Secret) -> None:
        if not username:
            raise ConfigError("BasicAuth needs a username")
        self.username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        password = _plain(self._password, "the password")
        raw = f"{self.username}:{password}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"
