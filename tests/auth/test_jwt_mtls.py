"""RFC 7523 JWT bearer service accounts (PyJWT signs, authlib verifies) and mutual TLS over loopback."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aikit.auth import (
    OAuth2Client,
    jwt_bearer_assertion,
    jwt_bearer_auth,
    mtls_client,
    mtls_context,
    mtls_sync_client,
)
from aikit.exceptions import AuthError, ConfigError, OAuthError
from aikit.local.oauth.server import OAuthServer


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_assertion_claims_follow_rfc7523() -> None:
    private, public = _rsa_pair()
    assertion = jwt_bearer_assertion(
        issuer="svc", audience="http://127.0.0.1:9/token", private_key=private, subject="bot"
    )
    claims = pyjwt.decode(assertion, public, algorithms=["RS256"], audience="http://127.0.0.1:9/token")
    assert claims["iss"] == "svc" and claims["sub"] == "bot"
    assert 0 < claims["exp"] - claims["iat"] <= 300 and claims["jti"]


def test_jwt_bearer_service_account_end_to_end(oauth_server: OAuthServer) -> None:
    private, public = _rsa_pair()
    oauth_server.register_jwt_client("svc-reporting", public)
    client = OAuth2Client(client_id="svc-reporting", token_url=f"{oauth_server.url}/token")
    auth = jwt_bearer_auth(client, private_key=private, subject="reports@example.com")
    response = httpx.get(f"{oauth_server.url}/userinfo", auth=auth)
    assert response.status_code == 200
    assert response.json() == {
        "sub": "reports@example.com",
        "client_id": "svc-reporting",
        "scope": "crm.read",
    }
    # expiry: a fresh assertion is signed and exchanged
    assert auth.token is not None
    oauth_server.expire_access_token(auth.token.access_token)
    assert httpx.get(f"{oauth_server.url}/userinfo", auth=auth).status_code == 200
    assert oauth_server.stats["urn:ietf:params:oauth:grant-type:jwt-bearer"] == 2


def test_jwt_signed_with_the_wrong_key_is_rejected(oauth_server: OAuthServer) -> None:
    _, public = _rsa_pair()
    other_private, _ = _rsa_pair()
    oauth_server.register_jwt_client("svc-x", public)
    client = OAuth2Client(client_id="svc-x", token_url=f"{oauth_server.url}/token")
    with pytest.raises(OAuthError) as info:
        httpx.get(f"{oauth_server.url}/userinfo", auth=jwt_bearer_auth(client, private_key=other_private))
    assert info.value.error == "invalid_grant"
    assert "BEGIN" not in str(info.value)


def test_bad_private_key_error_never_echoes_the_key() -> None:
    junk = "-----BEGIN PRIVATE KEY-----\nnot-a-key-CANARY\n-----END PRIVATE KEY-----"
    with pytest.raises(AuthError) as info:
        jwt_bearer_assertion(issuer="a", audience="b", private_key=junk)
    assert "CANARY" not in str(info.value)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    server: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    path: Path,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | None = None,
    password: bytes | None = None,
) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        path.with_suffix(".key").write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        )


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("aikit test CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "ca.pem", ca)
    _write(
        tmp_path / "server.pem", _cert("127.0.0.1", server_key, ca, ca_key, ca=False, server=True), server_key
    )
    _write(
        tmp_path / "client.pem",
        _cert("analyst", client_key, ca, ca_key, ca=False),
        client_key,
        password=b"pw-123",
    )
    return {name: tmp_path / f"{name}.pem" for name in ("ca", "server", "client")}


@pytest.fixture
def mtls_server(pki: dict[str, Path]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            cn = dict(x[0] for x in peer["subject"])["commonName"]
            body = f'{{"client": "{cn}"}}'.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki["ca"]))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(str(pki["server"]), str(pki["server"].with_suffix(".key")))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_mtls_client_certificate_is_presented_and_required(pki: dict[str, Path], mtls_server: str) -> None:
    import asyncio

    files = {
        "certfile": pki["client"],
        "keyfile": pki["client"].with_suffix(".key"),
        "password": "pw-123",
        "cafile": pki["ca"],
    }

    async def call() -> dict[str, str]:
        async with mtls_client(**files) as client:  # type: ignore[arg-type]
            return (await client.get(mtls_server + "/")).json()

    assert asyncio.run(call()) == {"client": "analyst"}
    with mtls_sync_client(**files) as sync:  # type: ignore[arg-type]
        assert sync.get(mtls_server + "/").json() == {"client": "analyst"}
    # Same CA trust but no client certificate: the server refuses the handshake.
    anonymous = httpx.Client(verify=ssl.create_default_context(cafile=str(pki["ca"])))
    with anonymous, pytest.raises(httpx.HTTPError):
        anonymous.get(mtls_server + "/")


def test_mtls_bad_inputs_are_clear_config_errors(pki: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="not found"):
        mtls_context(certfile=pki["client"].with_name("missing.pem"))
    with pytest.raises(ConfigError) as info:
        mtls_context(
            certfile=pki["client"], keyfile=pki["client"].with_suffix(".key"), password="wrong-pw-CANARY"
        )
    assert "CANARY" not in str(info.value)
