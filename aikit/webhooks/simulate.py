"""Send a test event to a running listener, signed exactly as the source's provider would sign it.

:class:`Simulator` is what :meth:`WebhookListener.simulate` uses: it encodes the payload the way
the provider sends it (:func:`~aikit.webhooks.sign.encode_payload`), signs it with the source's
first secret (:func:`~aikit.webhooks.sign.sign`, over ``public_url`` when the scheme signs the URL)
and POSTs it over loopback on one reused ``httpx.Client``.

>>> from aikit.webhooks.sources import make_source
>>> src = make_source("gh", "github", "s3cret")
>>> body, headers, target = prepare(src, {"zen": "hi"}, "http://127.0.0.1:1/hooks/gh")
>>> body, target, headers["x-hub-signature-256"][:7]
(b'{"zen": "hi"}', 'http://127.0.0.1:1/hooks/gh', 'sha256=')
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from aikit.webhooks.sign import encode_payload, sign
from aikit.webhooks.sources import Source

if TYPE_CHECKING:
    import httpx

__all__ = ["Simulator", "prepare"]


def prepare(
    src: Source,
    payload: Any,
    local_url: str,
    *,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str], str]:
    """The body, headers and target URL of a provider-signed request for ``payload`` to ``src``."""
    body, ctype = encode_payload(src.config.scheme, payload, content_type)
    public = src.config.public_url
    signed_url = public.split("?", 1)[0] if public else local_url
    signed = sign(src.config, body, url=signed_url, event_id=event_id, content_type=ctype)
    send_headers = {"content-type": ctype, **signed.headers, **(headers or {})}
    target = f"{local_url}?{signed.query}" if signed.query else local_url
    return body, send_headers, target


class Simulator:
    """Posts provider-signed test events; the HTTP client is created on first use."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def post(
        self,
        src: Source,
        payload: Any,
        local_url: str,
        *,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        event_id: str | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """Sign ``payload`` for ``src`` (see :func:`prepare`) and POST it to ``local_url``."""
        body, send_headers, target = prepare(
            src, payload, local_url, headers=headers, content_type=content_type, event_id=event_id
        )
        return self._http().post(target, content=body, headers=send_headers, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client (a later :meth:`post` opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client()
            return self._client
