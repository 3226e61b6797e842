"""Sign a request the way each provider does: the mirror image of :mod:`aikit.webhooks.verify`.

Used by :meth:`WebhookListener.simulate` (demos, CI) and by the benchmark. The tests check these
signatures against the providers' official libraries, so a bug here cannot hide a bug in the verifier.

>>> cfg = SourceConfig("gh", "github", ("It's a Secret to Everybody",))
>>> sign(cfg, b"Hello, World!", url="http://127.0.0.1/hooks/gh").headers["x-hub-signature-256"][:14]
'sha256=757107e'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aikit.webhooks.verify import SourceConfig, Verifier

__all__ = ["Signed", "encode_payload", "sign"]


@dataclass(frozen=True)
class Signed:
    """Headers to send and the query string to append to the URL (Twilio JSON adds ``bodySHA256``)."""

    headers: dict[str, str]
    query: str = ""


def encode_payload(scheme: str, payload: Any, content_type: str | None = None) -> tuple[bytes, str]:
    """The body bytes and content type a provider would send for ``payload``.

    Bytes and text are sent as they are; dicts and lists as JSON, except a Twilio dict, which is a
    form post (Twilio signs the form parameters).

    >>> encode_payload("twilio", {"MessageSid": "SM1"})
    (b'MessageSid=SM1', 'application/x-www-form-urlencoded')
    """
    if isinstance(payload, bytes):
        return payload, content_type or "application/json"
    if isinstance(payload, str):
        return payload.encode(), content_type or "application/json"
    if scheme == "twilio" and isinstance(payload, dict) and content_type is None:
        return urlencode(payload, doseq=True).encode(), "application/x-www-form-urlencoded"
    return json.dumps(payload).encode(), content_type or "application/json"


def sign(
    config: SourceConfig,
    body: bytes,
    *,
    url: str,
    now: float | None = None,
    event_id: str | None = None,
    secret_index: int = 0,
    content_type: str = "application/json",
) -> Signed:
    """Sign ``body`` for ``config`` as its provider would.

    Parameters
    ----------
    config : SourceConfig
        The source; its ``secret_index``-th secret signs.
    body : bytes
        The exact bytes that will be sent.
    url : str
        The URL the provider would sign (HubSpot v3, Twilio): the source's ``public_url`` when set.
    now : float, optional
        Unix time for the timestamp headers (default: now).
    event_id : str, optional
        The id header value for schemes that carry one (default: a fresh uuid).
    content_type : str
        ``application/x-www-form-urlencoded`` makes Twilio sign the form parameters.

    Returns
    -------
    Signed
        Headers (lower-case names) and an optional query string.
    """
    key = Verifier(config)._keys[secret_index]
    ts = int(time.time() if now is None else now)
    eid = event_id or uuid.uuid4().hex
    hex256 = hmac.digest(key, body, "sha256").hex()
    scheme = config.scheme
    if scheme == "standard":
        sig = base64.b64encode(hmac.digest(key, f"{eid}.{ts}.".encode() + body, "sha256")).decode()
        return Signed({"webhook-id": eid, "webhook-timestamp": str(ts), "webhook-signature": f"v1,{sig}"})
    if scheme == "stripe":
        sig = hmac.digest(key, f"{ts}.".encode() + body, "sha256").hex()
        return Signed({"stripe-signature": f"t={ts},v1={sig}"})
    if scheme == "github":
        headers = {"x-hub-signature-256": f"sha256={hex256}", "x-github-delivery": eid}
        return Signed({**headers, "x-github-event": _type_of(body) or "ping"})
    if scheme in ("slack", "zoom"):
        sig = hmac.digest(key, f"v0:{ts}:".encode() + body, "sha256").hex()
        names = ("x-slack-request-timestamp", "x-slack-signature")
        if scheme == "zoom":
            names = ("x-zm-request-timestamp", "x-zm-signature")
        return Signed({names[0]: str(ts), names[1]: f"v0={sig}"})
    if scheme == "hubspot":
        ms = str(ts * 1000)
        msg = f"POST{url}".encode() + body + ms.encode()
        sig = base64.b64encode(hmac.digest(key, msg, "sha256")).decode()
        return Signed({"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": ms})
    if scheme == "shopify":
        sig = base64.b64encode(hmac.digest(key, body, "sha256")).decode()
        return Signed({"x-shopify-hmac-sha256": sig, "x-shopify-webhook-id": eid})
    if scheme == "twilio":
        return _twilio(key, body, url, eid, content_type)
    if scheme == "linear":
        return Signed({"linear-signature": hex256, "linear-delivery": eid})
    if scheme == "intercom":
        return Signed({"x-hub-signature": "sha1=" + hmac.digest(key, body, "sha1").hex()})
    return _generic(config, key, body, url, ts, eid)


def _type_of(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("type")
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _twilio(key: bytes, body: bytes, url: str, eid: str, content_type: str) -> Signed:
    headers = {"i-twilio-idempotency-token": eid}
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        signed = url + "".join(n + v for n in sorted(form) for v in sorted(set(form[n])))
        headers["x-twilio-signature"] = base64.b64encode(hmac.digest(key, signed.encode(), "sha1")).decode()
        return Signed(headers)
    query = f"bodySHA256={hashlib.sha256(body).hexdigest()}"
    sep = "&" if urlsplit(url).query else "?"
    signed_url = f"{url}{sep}{query}"
    headers["x-twilio-signature"] = base64.b64encode(hmac.digest(key, signed_url.encode(), "sha1")).decode()
    existing = urlsplit(url).query
    return Signed(headers, f"{existing}&{query}" if existing else query)


def _generic(config: SourceConfig, key: bytes, body: bytes, url: str, ts: int, eid: str) -> Signed:
    spec = config.hmac
    assert spec is not None
    headers: dict[str, str] = {}
    ts_text = str(ts * 1000 if spec.timestamp_unit == "ms" else ts)
    if spec.timestamp_header:
        headers[spec.timestamp_header] = ts_text
    if spec.id_header:
        headers[spec.id_header] = eid
    subst = {"{timestamp}": ts_text, "{id}": eid, "{method}": "POST", "{url}": url}
    pieces = []
    for part in spec.template.split("{body}"):
        for name, text in subst.items():
            part = part.replace(name, text)
        pieces.append(part.encode("utf-8"))
    digest = hmac.digest(key, body.join(pieces), spec.algorithm)
    if spec.encoding == "hex":
        value = digest.hex()
    elif spec.encoding == "base64":
        value = base64.b64encode(digest).decode()
    else:
        value = base64.urlsafe_b64encode(digest).decode()
    headers[spec.header] = spec.prefix + value
    return Signed(headers)
