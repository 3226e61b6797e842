"""authlib's OAuth 2.0 server classes wired to the in-memory :class:`~aikit.local.oauth.store.OAuthStore`.

authlib ships the protocol (grant validation, PKCE, error responses); a framework integration supplies
request objects, persistence and token generation. This module is that integration for the local demo
server, framework-free: the ASGI layer reads each request into a :class:`RawRequest` and hands it over.

Grants: authorization code with PKCE required for every client, S256 only (RFC 9700 section 2.1.1,
OAuth 2.1: ``plain`` and a missing challenge are refused at ``/authorize``), refresh token (rotated:
the old refresh token is revoked on use, and presenting a rotated one again revokes its whole family,
RFC 9700 section 4.14.2), client credentials, device code (RFC 8628) and JWT bearer (RFC 7523).
Endpoints: device authorization, revocation (RFC 7009), introspection (RFC 7662).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Payload, OAuth2Request, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant

from aikit.local.oauth.store import AuthCode, DemoClient, DeviceRecord, IssuedToken, OAuthStore

__all__ = [
    "AUTH_CODE_TTL_S",
    "DEMO_USER",
    "DeviceCodeGrant",
    "DeviceEndpoint",
    "LocalAuthorizationServer",
    "RawRequest",
]

#: The resource owner every demo grant is issued to.
DEMO_USER = "analyst@example.com"
#: Authorization codes expire after this many seconds (RFC 6749 recommends at most 10 minutes).
AUTH_CODE_TTL_S = 300.0
_ANY_AUTH = ["client_secret_basic", "client_secret_post", "none"]


@dataclass
class RawRequest:
    """An HTTP request already read from the wire: what authlib needs, nothing framework-specific."""

    method: str
    url: str
    headers: Mapping[str, str]  # must be case-insensitive (authlib reads "Authorization")
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, data: dict[str, str]) -> None:
        self._data = data
        self._datalist = {k: [v] for k, v in data.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, raw: RawRequest) -> None:
        super().__init__(raw.method, raw.url, headers=raw.headers)
        self._raw = raw
        self.payload = _Payload({**raw.query, **raw.form})

    @property
    def args(self) -> dict[str, str]:
        return self._raw.query

    @property
    def form(self) -> dict[str, str]:
        return self._raw.form


class LocalAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's generic AuthorizationServer bound to an :class:`OAuthStore`."""

    def __init__(
        self,
        store: OAuthStore,
        *,
        access_token_ttl: int,
        refresh_token_ttl: int | None,
        device_interval: float,
        base_url: Callable[[], str],
    ) -> None:
        super().__init__(scopes_supported=None)
        self.store = store
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.device_interval = device_interval
        self.base_url = base_url
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda **_: secrets.token_urlsafe(32),
                lambda **_: secrets.token_urlsafe(40),
                lambda client, grant_type: self.access_token_ttl,
            ),
        )
        self.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(DeviceCodeGrant)
        self.register_grant(JWTGrant)
        self.register_endpoint(DeviceEndpoint)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # framework hooks
    def query_client(self, client_id: str) -> DemoClient | None:
        return self.store.client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        now = time.time()
        client: DemoClient = request.client
        previous = getattr(request, "refresh_token", None)  # a refresh: the new token joins its family
        family = previous.family if isinstance(previous, IssuedToken) else secrets.token_hex(8)
        self.store.save_token(
            IssuedToken(
                access_token=token["access_token"],
                client_id=client.client_id,
                user=request.user,
                scope=token.get("scope", ""),
                expires_in=int(token.get("expires_in", self.access_token_ttl)),
                issued_at=now,
                refresh_token=token.get("refresh_token"),
                refresh_expires_at=None if self.refresh_token_ttl is None else now + self.refresh_token_ttl,
                client=client,
                family=family,
            )
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return _Request(request)

    def create_json_request(self, request: Any) -> Any:  # pragma: no cover - no JSON endpoints
        raise NotImplementedError("the demo server has no JSON-body OAuth endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE as OAuth 2.1 has it: every authorization request carries an S256 challenge."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge and code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256 (the only method this server offers; plain is refused)"
            )
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _ANY_AUTH

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.store.save_code(
            AuthCode(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                user=request.user,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )
        )

    def query_authorization_code(self, code: str, client: DemoClient) -> AuthCode | None:
        store: OAuthStore = self.server.store
        return store.code(code, client.client_id, AUTH_CODE_TTL_S)

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.store.delete_code(authorization_code.code)

    def authenticate_user(self, authorization_code: AuthCode) -> str:
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _ANY_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        store: OAuthStore = self.server.store
        token = store.by_refresh(refresh_token)
        if token is not None and token.refresh_revoked:
            # A rotated (or revoked) refresh token came back: it leaked, or its family is being replayed.
            # Whoever holds the newest one loses it too (RFC 9700 section 4.14.2).
            store.revoke_family(token.family)
            return None
        return token if token is not None and token.refresh_usable() else None

    def authenticate_user(self, refresh_token: IssuedToken) -> str | None:
        return refresh_token.user or refresh_token.client_id

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        with self.server.store.lock:
            refresh_token.refresh_revoked = True
            refresh_token.access_revoked = True


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]


class DeviceCodeGrant(_DeviceCodeGrant):  # type: ignore[misc]
    def query_device_credential(self, device_code: str) -> DeviceRecord | None:
        store: OAuthStore = self.server.store
        return store.device(device_code)

    def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
        record = self.server.store.device_by_user_code(user_code)
        if record is None or record.approved is None:
            return None
        return record.user or DEMO_USER, record.approved

    def should_slow_down(self, credential: DeviceRecord) -> bool:
        now = time.time()
        too_soon = credential.interval > 0 and now - credential.last_poll < credential.interval * 0.5
        credential.last_poll = now
        return too_soon

    def create_token_response(self) -> Any:
        result = super().create_token_response()
        # A device code is single use: forget it once it produced a token.
        with self.server.store.lock:
            self.request.credential.expires_at = 0.0
        return result


class JWTGrant(JWTBearerGrant):  # type: ignore[misc]
    def resolve_issuer_client(self, issuer: str) -> DemoClient | None:
        client = self.server.store.client(issuer)
        return client if client is not None and client.jwt_public_key else None

    def resolve_client_public_key(self, client: DemoClient) -> Any:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
        from joserfc.jwk import ECKey, OKPKey, RSAKey

        if not client.jwt_public_key:
            raise ValueError("client has no JWT public key")
        pem = client.jwt_public_key.encode()
        public = load_pem_public_key(pem)
        if isinstance(public, rsa.RSAPublicKey):
            return RSAKey.import_key(pem)
        if isinstance(public, ec.EllipticCurvePublicKey):
            return ECKey.import_key(pem)
        return OKPKey.import_key(pem)

    def authenticate_user(self, subject: str) -> str:
        return subject

    def get_audiences(self) -> list[str]:
        base = self.server.base_url()
        return [f"{base}/token", base]

    def has_granted_permission(self, client: DemoClient, user: str) -> bool:
        return True


class DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    ENDPOINT_NAME = "device_authorization"

    def __init__(self, server: LocalAuthorizationServer) -> None:
        super().__init__(server)
        self.INTERVAL = server.device_interval

    def get_verification_uri(self) -> str:
        return f"{self.server.base_url()}/device"

    def save_device_credential(self, client_id: str, scope: str | None, data: dict[str, Any]) -> None:
        client = self.server.store.client(client_id)
        self.server.store.save_device(
            DeviceRecord(
                device_code=data["device_code"],
                user_code=data["user_code"],
                client_id=client_id,
                scope=client.get_allowed_scope(scope) if client else (scope or ""),
                expires_at=time.time() + data["expires_in"],
                interval=float(data["interval"]),
            )
        )


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = _ANY_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        store: OAuthStore = self.server.store
        return store.find(token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        # Revoking either half ends the grant: both the access and the refresh token stop working.
        with self.server.store.lock:
            token.access_revoked = True
            token.refresh_revoked = True


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = _ANY_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        store: OAuthStore = self.server.store
        return store.find(token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client: DemoClient, request: OAuth2Request) -> bool:
        return True

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": token.user,
            "token_type": "Bearer",
            "exp": int(token.issued_at + token.expires_in),
            "iat": int(token.issued_at),
        }
