"""RFC 7523 JWT bearer assertions (service accounts), signed with PyJWT.

A service account holds a private key; it signs a short-lived JWT (``iss``/``sub`` = the account,
``aud`` = the token endpoint) and trades it for an access token with the
``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant. :func:`jwt_bearer_auth` returns an
:class:`~aikit.auth.session.OAuth2Auth` that signs a fresh assertion whenever it needs a new token.

>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> from cryptography.hazmat.primitives import serialization
>>> pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
...     serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
>>> a = jwt_bearer_assertion(issuer="svc", audience="http://127.0.0.1:9/token",
...                          private_key=pem, algorithm="ES256")
>>> a.count(".")
2
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt as pyjwt

from aikit.auth.oauth import OAuth2Client
from aikit.auth.secrets import Secret, reveal
from aikit.auth.session import OAuth2Auth
from aikit.auth.tokens import Token
from aikit.exceptions import AuthError

__all__ = ["jwt_bearer_assertion", "jwt_bearer_auth"]


def jwt_bearer_assertion(
    *,
    issuer: str,
    audience: str,
    private_key: str | Secret,
    subject: str | None = None,
    lifetime: float = 300.0,
    algorithm: str = "RS256",
    key_id: str | None = None,
    claims: dict[str, Any] | None = None,
) -> str:
    """Sign an RFC 7523 section 3 assertion: ``iss``, ``sub``, ``aud``, ``iat``, ``exp``, ``jti``.

    Parameters
    ----------
    issuer : str
        The service account (usually the client id).
    audience : str
        The authorization server's token endpoint URL.
    private_key : str or Secret
        PEM private key (RSA for RS256, EC P-256 for ES256).
    subject : str, optional
        The principal the token is for; default the issuer.
    lifetime : float
        Seconds until ``exp`` (keep it short: minutes).
    """
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject or issuer,
        "aud": audience,
        "iat": now,
        "exp": now + int(lifetime),
        "jti": uuid.uuid4().hex,
    }
    payload.update(claims or {})
    headers = {"kid": key_id} if key_id else None
    key = reveal(private_key)
    if not key:
        raise AuthError("The JWT private key is empty.")
    try:
        return pyjwt.encode(payload, key, algorithm=algorithm, headers=headers)
    except (pyjwt.PyJWTError, ValueError, TypeError) as exc:
        # Never echo the key: the message names the algorithm and the problem only.
        raise AuthError(f"Could not sign the JWT assertion with {algorithm}: {type(exc).__name__}") from None


def jwt_bearer_auth(
    client: OAuth2Client,
    *,
    private_key: str | Secret,
    issuer: str | None = None,
    subject: str | None = None,
    algorithm: str = "RS256",
    scope: str | None = None,
    **kwargs: Any,
) -> OAuth2Auth:
    """An :class:`OAuth2Auth` that gets (and re-gets) tokens with signed JWT assertions.

    Examples
    --------
    >>> client = OAuth2Client(client_id="svc", token_url="http://127.0.0.1:9/token")
    >>> jwt_bearer_auth(client, private_key="-----BEGIN PRIVATE KEY-----...")
    OAuth2Auth(client_id='svc', state='not connected', token=None)
    """

    async def fetch() -> Token:
        assertion = jwt_bearer_assertion(
            issuer=issuer or client.client_id,
            audience=client.token_url,
            private_key=private_key,
            subject=subject,
            algorithm=algorithm,
        )
        return await client.jwt_bearer(assertion, scope)

    return OAuth2Auth(client, fetch=fetch, **kwargs)
