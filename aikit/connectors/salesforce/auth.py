"""Logins for :class:`aikit.Salesforce`, built on :mod:`aikit.auth` (one refresh under load, masked tokens).

Each helper returns an :class:`~aikit.auth.session.OAuth2Auth`: it gets a session on first use and gets
a new one when Salesforce answers ``INVALID_SESSION_ID`` (one login for many concurrent requests), so
a long notebook run never dies on an expired session.

- :func:`salesforce_jwt_auth`: OAuth 2.0 JWT bearer flow, server to server (a connected app with the
  certificate of ``private_key``; ``iss`` = consumer key, ``sub`` = username, ``aud`` = the login URL,
  three minutes to live).
- :func:`salesforce_client_credentials_auth`: client credentials flow on the org's My Domain (runs as
  the app's integration user).
- :func:`salesforce_web_auth`: web server flow with PKCE and refresh tokens, for people (the login
  panel's Salesforce entry, :func:`aikit.auth.services.salesforce_service`).

>>> auth = salesforce_client_credentials_auth("3MVG9-key", "s3cret", my_domain_url="https://acme.my.salesforce.com")
>>> auth
OAuth2Auth(client_id='3MVG9-key', state='not connected', token=None)
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from aikit.auth.jwt import jwt_bearer_assertion
from aikit.auth.oauth import OAuth2Client
from aikit.auth.secrets import Secret, reveal
from aikit.auth.services import SALESFORCE_LOGIN_URL, salesforce_service
from aikit.auth.session import OAuth2Auth
from aikit.auth.tokens import Token
from aikit.exceptions import ConfigError

__all__ = [
    "salesforce_client_credentials_auth",
    "salesforce_jwt_auth",
    "salesforce_web_auth",
    "tls_transport",
]


def tls_transport(ca_file: str | Path | None) -> httpx.AsyncHTTPTransport | None:
    """A transport that trusts ``ca_file`` (a private CA such as the demo org's), else None (defaults)."""
    if ca_file is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA file {str(ca_file)!r}: {exc}") from exc
    return httpx.AsyncHTTPTransport(verify=context)


def _pem(private_key: str | Path | Secret) -> str | Secret:
    if isinstance(private_key, Secret):
        return private_key
    text = str(private_key)
    if "-----BEGIN" in text:
        return text
    path = Path(text).expanduser()
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the private key file {str(path)!r}: {exc.strerror}") from exc


def salesforce_jwt_auth(
    consumer_key: str,
    username: str,
    private_key: str | Path | Secret,
    *,
    login_url: str = SALESFORCE_LOGIN_URL,
    audience: str | None = None,
    ca_file: str | Path | None = None,
    persist: str | None = None,
) -> OAuth2Auth:
    """The JWT bearer flow: sign an assertion with ``private_key`` and trade it for a session.

    Parameters
    ----------
    consumer_key : str
        The connected app's consumer key (the JWT's ``iss``).
    username : str
        The Salesforce user to act as (``sub``); the app must be pre-authorised for that user.
    private_key : str, Path or Secret
        PEM text or a PEM file of the key whose certificate the connected app holds.
    login_url : str
        ``https://login.salesforce.com``, ``https://test.salesforce.com`` (sandboxes) or a My Domain.
    audience : str, optional
        The ``aud`` claim (default: ``login_url``).
    ca_file : str or Path, optional
        A private CA to trust (the demo org's ``ca_file``).

    Examples
    --------
    >>> auth = salesforce_jwt_auth("3MVG9-key", "ops@acme.example", "-----BEGIN PRIVATE KEY-----...")
    >>> auth.client.token_url
    'https://login.salesforce.com/services/oauth2/token'
    """
    key = _pem(private_key)
    root = login_url.rstrip("/")
    client = OAuth2Client(
        client_id=consumer_key, token_url=f"{root}/services/oauth2/token", transport=tls_transport(ca_file)
    )

    async def fetch() -> Token:
        assertion = jwt_bearer_assertion(
            issuer=consumer_key,
            audience=audience or root,
            subject=username,
            private_key=key,
            lifetime=180.0,  # Salesforce accepts assertions that expire within three minutes
        )
        return await client.jwt_bearer(assertion)

    return OAuth2Auth(
        client, fetch=fetch, persist=persist, key=f"salesforce-jwt:{consumer_key}:{username}@{root}"
    )


def salesforce_client_credentials_auth(
    consumer_key: str,
    consumer_secret: str | Secret,
    *,
    my_domain_url: str,
    ca_file: str | Path | None = None,
    persist: str | None = None,
) -> OAuth2Auth:
    """The client credentials flow on ``my_domain_url`` (``https://acme.my.salesforce.com``).

    Salesforce refuses this flow on ``login.salesforce.com``; the org's My Domain is required.

    Examples
    --------
    >>> salesforce_client_credentials_auth("k", "s", my_domain_url="https://login.salesforce.com")
    Traceback (most recent call last):
    ...
    aikit.exceptions.ConfigError: the client credentials flow needs the org's My Domain URL \
(https://yourorg.my.salesforce.com), not https://login.salesforce.com
    """
    root = my_domain_url.rstrip("/")
    if root in (SALESFORCE_LOGIN_URL, "https://test.salesforce.com"):
        raise ConfigError(
            f"the client credentials flow needs the org's My Domain URL (https://yourorg.my.salesforce.com), "
            f"not {root}"
        )
    if not reveal(consumer_secret) and not (
        isinstance(consumer_secret, Secret) and not consumer_secret.available
    ):
        raise ConfigError("the client credentials flow needs the connected app's consumer secret")
    client = OAuth2Client(
        client_id=consumer_key,
        client_secret=consumer_secret,
        token_url=f"{root}/services/oauth2/token",
        transport=tls_transport(ca_file),
    )
    return OAuth2Auth.client_credentials(client, persist=persist, key=f"salesforce-cc:{consumer_key}@{root}")


def salesforce_web_auth(
    consumer_key: str,
    consumer_secret: str | Secret | None = None,
    *,
    login_url: str = SALESFORCE_LOGIN_URL,
    ca_file: str | Path | None = None,
    persist: str | None = None,
) -> OAuth2Auth:
    """The web server flow with PKCE: call ``auth.login_pkce()`` (or the login panel) once, then use it.

    Examples
    --------
    >>> auth = salesforce_web_auth("3MVG9-key", login_url="https://test.salesforce.com")
    >>> auth.client.authorize_url
    'https://test.salesforce.com/services/oauth2/authorize'
    """
    service = salesforce_service(
        consumer_key, consumer_secret, login_url=login_url, ca_file=None if ca_file is None else str(ca_file),
        persist=persist,
    )  # fmt: skip
    return service.auth
