"""Webhook fixtures: a real listener on 127.0.0.1 with a fresh SQLite store per test, and the schemes.

The scheme cases sign requests with the providers' official libraries (or their documented recipe
where none exists). They are deliberately independent of ``aikit.webhooks.sign``: the listener must
accept what the provider's own code produces. Tests reach them through fixtures: ``case`` (every
scheme), ``timestamped_case``, ``cases`` (by name), ``standard_secret`` and ``hmac_spec``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import standardwebhooks
import stripe
import svix.webhooks
from hubspot.utils.signature import Signature
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from aikit.webhooks.listener import WebhookListener
from aikit.webhooks.store import Store

#: A secret that must never show up in a repr, a DataFrame, an error or the store file.
CANARY = "whsec_Q2FuYXJ5LXNlY3JldC1kby1ub3QtbGVhaw=="


@pytest.fixture
def hook(aikit_home: Path) -> Iterator[WebhookListener]:
    """A started listener with no sources; tests add what they need (sources are served live)."""
    listener = WebhookListener(port=0, store=aikit_home / "hooks.sqlite", retry=(0.02, 0.05, 0.05, 0.05))
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def canary() -> str:
    """A signing secret that must never leak (see :data:`CANARY`)."""
    return CANARY


def _select(where: WebhookListener | Store | Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    path = where if isinstance(where, Path) else where.path if isinstance(where, Store) else where.store.path
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, params))
    finally:
        conn.close()


@pytest.fixture
def select() -> Callable[..., list[sqlite3.Row]]:
    """``select(hook_or_store_or_path, sql, *params)``: rows read straight from the file, read-only,
    on a connection of the test's own (what is on disk, not what the store says)."""
    return _select


@dataclass(frozen=True)
class Signed:
    """A request as the provider's own code signs it."""

    headers: dict[str, str]
    body: bytes
    query: str = ""


@dataclass(frozen=True)
class Case:
    """One scheme: how to build a body for a timestamp and sign it with a secret (official code)."""

    name: str
    scheme: str
    secrets: tuple[str, str]  # (old, new) for the rotation test
    sign: Callable[[str, int, str, int], Signed]  # (secret, unix ts, signed URL, n) -> request
    has_timestamp: bool
    options: dict[str, Any] = field(default_factory=dict)
    official: bool = True

    def url(self, hook: WebhookListener) -> str:
        return hook.url_for(self.name)

    def public_url(self, hook: WebhookListener) -> str:
        return str(self.options.get("public_url") or hook.url_for(self.name))


def event_body(n: int, **extra: Any) -> bytes:
    return json.dumps({"id": f"evt_{n}", "type": "invoice.paid", "n": n, **extra}).encode()


def _standard(secret: str, ts: int, url: str, n: int) -> Signed:
    body = event_body(n)
    sig = standardwebhooks.Webhook(secret).sign(
        msg_id=f"msg_{n}", timestamp=datetime.fromtimestamp(ts, UTC), data=body.decode()
    )
    return Signed({"webhook-id": f"msg_{n}", "webhook-timestamp": str(ts), "webhook-signature": sig}, body)


def _svix(secret: str, ts: int, url: str, n: int) -> Signed:
    body = event_body(n)
    sig = svix.webhooks.Webhook(secret).sign(
        msg_id=f"msg_{n}", timestamp=datetime.fromtimestamp(ts, UTC), data=body.decode()
    )
    return Signed({"svix-id": f"msg_{n}", "svix-timestamp": str(ts), "svix-signature": sig}, body)


def _stripe(secret: str, ts: int, url: str, n: int) -> Signed:
    body = event_body(n)
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=ts)
    return Signed({"stripe-signature": header}, body)


def _github(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"action": "opened", "number": n}).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Signed(
        {"x-hub-signature-256": sig, "x-github-event": "issues", "x-github-delivery": f"d-{n}"}, body
    )


def _slack(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps(
        {"type": "event_callback", "event_id": f"Ev{n}", "event": {"type": "app_mention"}}
    ).encode()
    sig = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    return Signed({"x-slack-request-timestamp": str(ts), "x-slack-signature": sig}, body)


def _hubspot(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps([{"eventId": n, "subscriptionType": "ticket.creation", "objectId": 7}]).encode()
    ms = str(ts * 1000)
    sig = Signature.get_signature(secret, body.decode(), "v3", http_uri=url, http_method="POST", timestamp=ms)
    return Signed({"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": ms}, body)


def _shopify(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"id": n, "email": "a@example.com"}).encode()
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return Signed(
        {"x-shopify-hmac-sha256": sig, "x-shopify-topic": "orders/create", "x-shopify-webhook-id": f"w{n}"},
        body,
    )


def _twilio_form(secret: str, ts: int, url: str, n: int) -> Signed:
    params = {"MessageSid": f"SM{n}", "MessageStatus": "delivered", "To": "+15005550006", "Body": "hi there"}
    sig = RequestValidator(secret).compute_signature(url, params)
    return Signed(
        {"x-twilio-signature": sig, "content-type": "application/x-www-form-urlencoded"},
        urlencode(params).encode(),
    )


def _twilio_json(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"type": "com.twilio.messaging.inbound-message.received", "n": n}).encode()
    validator = RequestValidator(secret)
    query = f"bodySHA256={validator.compute_hash(body.decode())}"
    sig = validator.compute_signature(f"{url}?{query}", {})
    return Signed({"x-twilio-signature": sig}, body, query)


def _zoom(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"event": "meeting.started", "event_ts": ts * 1000, "payload": {"n": n}}).encode()
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return Signed({"x-zm-request-timestamp": str(ts), "x-zm-signature": sig}, body)


def _linear(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"type": "Issue", "action": "create", "webhookTimestamp": ts * 1000, "n": n}).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Signed({"linear-signature": sig, "linear-delivery": f"ld-{n}"}, body)


def _intercom(secret: str, ts: int, url: str, n: int) -> Signed:
    body = json.dumps({"id": f"notif_{n}", "topic": "conversation.user.created"}).encode()
    sig = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return Signed({"x-hub-signature": sig}, body)


HMAC_SPEC = {
    "header": "X-Acme-Signature",
    "prefix": "sha512=",
    "algorithm": "sha512",
    "encoding": "base64",
    "template": "{id}.{timestamp}.{body}",
    "timestamp_header": "X-Acme-Timestamp",
    "id_header": "X-Acme-Id",
}


def _hmac(secret: str, ts: int, url: str, n: int) -> Signed:
    body = event_body(n)
    signed = f"a-{n}.{ts}.".encode() + body
    sig = "sha512=" + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha512).digest()).decode()
    return Signed({"x-acme-signature": sig, "x-acme-timestamp": str(ts), "x-acme-id": f"a-{n}"}, body)


WH_OLD = "whsec_" + base64.b64encode(b"old-secret-bytes-0123456789ab").decode()
WH_NEW = "whsec_" + base64.b64encode(b"new-secret-bytes-0123456789ab").decode()

CASES = [
    Case("std", "standard", (WH_OLD, WH_NEW), _standard, True),
    Case("svix", "standard", (WH_OLD, WH_NEW), _svix, True),
    Case("stripe", "stripe", ("whsec_old", "whsec_new"), _stripe, True),
    Case("github", "github", ("gh-old", "gh-new"), _github, False, official=False),
    Case("slack", "slack", ("slack-old", "slack-new"), _slack, True),
    Case(
        "hubspot",
        "hubspot",
        ("hs-old", "hs-new"),
        _hubspot,
        True,
        {"public_url": "https://hooks.example.com/hooks/hubspot"},
    ),
    Case("shopify", "shopify", ("shop-old", "shop-new"), _shopify, False, official=False),
    Case(
        "twilio",
        "twilio",
        ("tw-old", "tw-new"),
        _twilio_form,
        False,
        {"public_url": "https://hooks.example.com/hooks/twilio"},
    ),
    Case(
        "twiljson",
        "twilio",
        ("tw-old", "tw-new"),
        _twilio_json,
        False,
        {"public_url": "https://hooks.example.com/hooks/twiljson"},
    ),
    Case("zoom", "zoom", ("zoom-old", "zoom-new"), _zoom, True, official=False),
    Case("linear", "linear", ("lin-old", "lin-new"), _linear, True, official=False),
    Case("intercom", "intercom", ("ic-old", "ic-new"), _intercom, False, official=False),
    Case("acme", "hmac", ("acme-old", "acme-new"), _hmac, True, {"hmac": HMAC_SPEC}, official=False),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    """Every scheme, one test each."""
    return request.param


@pytest.fixture(params=[c for c in CASES if c.has_timestamp], ids=lambda c: c.name)
def timestamped_case(request: pytest.FixtureRequest) -> Case:
    """The schemes whose signature covers a timestamp."""
    return request.param


@pytest.fixture
def cases() -> dict[str, Case]:
    """Every scheme case by source name (``cases["slack"].sign(secret, ts, url, n)``)."""
    return {c.name: c for c in CASES}


@pytest.fixture(scope="session")
def standard_secret() -> str:
    """A Standard Webhooks (``whsec_`` base64) secret."""
    return WH_OLD


@pytest.fixture(scope="session")
def hmac_spec() -> dict[str, Any]:
    """The generic ``hmac`` scheme's options used by the ``acme`` case."""
    return dict(HMAC_SPEC)
