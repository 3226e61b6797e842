"""A local certificate authority and a 127.0.0.1 server certificate, made once under ``$AIKIT_HOME``.

Salesforce clients (simple-salesforce among them) build ``https://`` URLs from any instance URL, so the
demo org speaks TLS. Nothing switches verification off: clients trust the demo's own CA through
``ca_file``, exactly as they would trust a corporate CA. The files live in
``$AIKIT_HOME/salesforce/tls`` (directory 0700, every file 0600): ``ca.pem`` (the CA certificate to give
clients), ``ca-key.pem``, ``server.pem`` and ``server-key.pem`` (for ``127.0.0.1`` and ``localhost``).
They are made on first use and reused while valid; a lock file keeps two processes from writing them
at once.

>>> import tempfile
>>> from pathlib import Path
>>> files = ensure_certificates(Path(tempfile.mkdtemp()))
>>> sorted(p.name for p in files.directory.iterdir() if p.suffix == ".pem")
['ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem']
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aikit.exceptions import ConfigError
from aikit.settings import ensure_dir, settings

__all__ = ["TlsFiles", "ensure_certificates"]

_VALID_DAYS = 825  # what browsers accept for a server certificate
_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    """Where the demo org's CA and server certificate are."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def certfile(self) -> Path:
        return self.directory / "server.pem"

    @property
    def keyfile(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def ca_keyfile(self) -> Path:
        return self.directory / "ca-key.pem"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _still_good(files: TlsFiles) -> bool:
    from cryptography import x509

    try:
        ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
        cert = x509.load_pem_x509_certificate(files.certfile.read_bytes())
        files.keyfile.stat()
    except (OSError, ValueError):
        return False
    now = dt.datetime.now(dt.UTC)
    fresh = all(c.not_valid_after_utc - now > _RENEW_BEFORE for c in (ca, cert))
    return fresh and cert.issuer == ca.subject


def _make(files: TlsFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    pem = serialization.Encoding.PEM
    private = serialization.PrivateFormat.PKCS8
    try:
        ca_key = serialization.load_pem_private_key(files.ca_keyfile.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
        if ca_cert.not_valid_after_utc - now <= _RENEW_BEFORE:
            raise ValueError("expiring")
    except (OSError, ValueError):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aikit demo"),
                x509.NameAttribute(NameOID.COMMON_NAME, "aikit demo Salesforce local CA"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(files.ca_keyfile, ca_key.private_bytes(pem, private, serialization.NoEncryption()))
        _write_private(files.ca_file, ca_cert.public_bytes(pem))
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(files.keyfile, key.private_bytes(pem, private, serialization.NoEncryption()))
    _write_private(files.certfile, cert.public_bytes(pem))


def ensure_certificates(directory: Path | None = None) -> TlsFiles:
    """The demo org's TLS files, made now if missing, expiring or mismatched (default under AIKIT_HOME).

    Raises
    ------
    ConfigError
        ``cryptography`` is not installed (``pip install 'aikit[auth]'``) or the directory is not writable.
    """
    try:
        import cryptography  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the demo Salesforce org needs 'cryptography': pip install 'aikit[serve,auth]'"
        ) from exc
    where = directory if directory is not None else settings().home / "salesforce" / "tls"
    try:
        ensure_dir(where)
        os.chmod(where, 0o700)
        files = TlsFiles(where)
        with _locked(where):
            if not _still_good(files):
                _make(files)
    except OSError as exc:
        raise ConfigError(f"cannot write the demo org's certificates under {where}: {exc}") from exc
    return files
