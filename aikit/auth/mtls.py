"""Mutual TLS: present a client certificate with httpx.

httpx 0.28 takes client certificates through an ``ssl.SSLContext`` passed as ``verify=``. The helpers
build that context (client cert + key, optional private CA bundle) and the clients around it. The key
password may be a :class:`~aikit.auth.secrets.Secret`; it is revealed only to ``load_cert_chain``.

>>> ctx = mtls_context(certfile="client.pem", keyfile="client.key", cafile="ca.pem")  # doctest: +SKIP
>>> client = mtls_client(certfile="client.pem", keyfile="client.key", cafile="ca.pem",
...                      base_url="https://127.0.0.1:8443")                            # doctest: +SKIP
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from aikit.auth.secrets import Secret, reveal
from aikit.exceptions import ConfigError

__all__ = ["mtls_client", "mtls_context", "mtls_sync_client"]


def mtls_context(
    *,
    certfile: str | Path,
    keyfile: str | Path | None = None,
    password: str | Secret | None = None,
    cafile: str | Path | None = None,
) -> ssl.SSLContext:
    """A verifying client ``SSLContext`` that presents ``certfile``/``keyfile``.

    Parameters
    ----------
    certfile : path
        PEM client certificate (may also hold the key).
    keyfile : path, optional
        PEM private key when it is not in ``certfile``.
    password : str or Secret, optional
        Password of an encrypted key.
    cafile : path, optional
        CA bundle that signed the *server* certificate (private CAs); default the system store.

    Raises
    ------
    ConfigError
        A file is missing or the key does not match the certificate (the message never holds the key).
    """
    for label, path in (("certfile", certfile), ("keyfile", keyfile), ("cafile", cafile)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"mTLS {label} not found: {path}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cafile) if cafile else None)
    try:
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, password=reveal(password))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"Could not load the client certificate/key ({exc.reason or 'bad key or password'})"
        ) from None
    return context


def mtls_client(
    *,
    certfile: str | Path,
    keyfile: str | Path | None = None,
    password: str | Secret | None = None,
    cafile: str | Path | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that authenticates with a client certificate (``kwargs`` go to httpx)."""
    context = mtls_context(certfile=certfile, keyfile=keyfile, password=password, cafile=cafile)
    return httpx.AsyncClient(verify=context, **kwargs)


def mtls_sync_client(
    *,
    certfile: str | Path,
    keyfile: str | Path | None = None,
    password: str | Secret | None = None,
    cafile: str | Path | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """The sync twin of :func:`mtls_client`."""
    context = mtls_context(certfile=certfile, keyfile=keyfile, password=password, cafile=cafile)
    return httpx.Client(verify=context, **kwargs)
