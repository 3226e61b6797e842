"""Every scheme over real HTTP: valid accepted; tampered, stale, future, wrong-secret rejected; rotation.

Requests are signed by the providers' official libraries (standardwebhooks, svix, stripe, slack_sdk,
hubspot-api-client, twilio) or by the documented recipe where no library exists (GitHub, Shopify,
Zoom, Linear, Intercom, generic HMAC).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import httpx

from aikit.webhooks.listener import WebhookListener

GENERIC_401 = b'{"error":"unauthorized"}'


def _add(hook: WebhookListener, case: Any, secrets: tuple[str, ...]) -> None:
    hook.add_source(case.name, scheme=case.scheme, secrets=list(secrets), **case.options)


def _post(http: httpx.Client, hook: WebhookListener, case: Any, req: Any) -> httpx.Response:
    url = case.url(hook) + (f"?{req.query}" if req.query else "")
    headers = {"content-type": "application/json", **req.headers}
    return http.post(url, content=req.body, headers=headers)


def _rows(select: Callable[..., Any], hook: WebhookListener, source: str) -> int:
    return int(select(hook, "SELECT count(*) FROM events WHERE source=?", source)[0][0])


def test_valid_tampered_wrong_secret(
    hook: WebhookListener, http: httpx.Client, case: Any, select: Callable[..., Any]
) -> None:
    old, _ = case.secrets
    _add(hook, case, (old,))
    now = int(time.time())
    signed = case.sign(old, now, case.public_url(hook), 1)
    ok = _post(http, hook, case, signed)
    assert ok.status_code == 200, ok.text
    assert _rows(select, hook, case.name) == 1

    tampered = dataclasses.replace(signed, body=signed.body.replace(b"1", b"2", 1) + b" ")
    bad = _post(http, hook, case, tampered)
    assert (bad.status_code, bad.content) == (401, GENERIC_401)

    wrong = case.sign(
        "not-the-secret" if case.scheme != "standard" else case.secrets[1], now, case.public_url(hook), 2
    )
    bad = _post(http, hook, case, wrong)
    assert (bad.status_code, bad.content) == (401, GENERIC_401)

    stripped = dataclasses.replace(
        signed, headers={k: v for k, v in signed.headers.items() if k == "content-type"}
    )
    assert _post(http, hook, case, stripped).status_code == 401
    assert _rows(select, hook, case.name) == 1


def test_stale_and_future_timestamps_rejected(
    hook: WebhookListener, http: httpx.Client, timestamped_case: Any, select: Callable[..., Any]
) -> None:
    case = timestamped_case
    old, _ = case.secrets
    _add(hook, case, (old,))
    now = int(time.time())
    window = 60 if case.scheme == "linear" else 300
    for n, ts in enumerate((now - window - 120, now + window + 120)):
        resp = _post(http, hook, case, case.sign(old, ts, case.public_url(hook), 10 + n))
        assert (resp.status_code, resp.content) == (401, GENERIC_401), ts - now
    inside = _post(http, hook, case, case.sign(old, now - window + 30, case.public_url(hook), 20))
    assert inside.status_code == 200
    assert _rows(select, hook, case.name) == 1


def test_rotation_accepts_old_and_new(
    hook: WebhookListener, http: httpx.Client, case: Any, select: Callable[..., Any]
) -> None:
    old, new = case.secrets
    _add(hook, case, (new, old))
    now = int(time.time())
    for n, secret in enumerate((old, new)):
        resp = _post(http, hook, case, case.sign(secret, now, case.public_url(hook), 100 + n))
        assert resp.status_code == 200, (secret, resp.text)
    assert _rows(select, hook, case.name) == 2


def test_url_signing_schemes_use_public_url_plus_query(
    hook: WebhookListener, http: httpx.Client, cases: dict[str, Any]
) -> None:
    """HubSpot v3 and Twilio sign the URL: public_url + the incoming query string, not the local URL."""
    _hubspot, _twilio_form = cases["hubspot"].sign, cases["twilio"].sign

    public = "https://hooks.example.com/hooks/crm"
    hook.add_source("crm", scheme="hubspot", secret="cs", public_url=public)
    hook.add_source("sms", scheme="twilio", secret="tok", public_url="https://hooks.example.com/hooks/sms")
    now = int(time.time())
    for name, signer, base in (
        (("crm", _hubspot, public)),
        ("sms", _twilio_form, "https://hooks.example.com/hooks/sms"),
    ):
        good = signer("cs" if name == "crm" else "tok", now, f"{base}?portal=62515&x=1", 1)
        resp = http.post(hook.url_for(name) + "?portal=62515&x=1", content=good.body, headers=good.headers)
        assert resp.status_code == 200, (name, resp.text)
        # the same signature without the query, or signed for the local URL, is refused
        resp = http.post(hook.url_for(name), content=good.body, headers=good.headers)
        assert resp.status_code == 401
        local = signer("cs" if name == "crm" else "tok", now, hook.url_for(name), 2)
        assert http.post(hook.url_for(name), content=local.body, headers=local.headers).status_code == 401


def test_twilio_json_body_hash_must_match(
    hook: WebhookListener, http: httpx.Client, cases: dict[str, Any]
) -> None:
    _twilio_json = cases["twiljson"].sign

    hook.add_source("tj", scheme="twilio", secret="tok", public_url="https://hooks.example.com/hooks/tj")
    signed = _twilio_json("tok", int(time.time()), "https://hooks.example.com/hooks/tj", 1)
    resp = http.post(
        hook.url_for("tj") + "?" + signed.query, content=signed.body + b" ", headers=signed.headers
    )
    assert resp.status_code == 401
    resp = http.post(hook.url_for("tj") + "?" + signed.query, content=signed.body, headers=signed.headers)
    assert resp.status_code == 200


def test_stripe_ignores_v0_and_rejects_v0_only(hook: WebhookListener, http: httpx.Client) -> None:
    import stripe

    hook.add_source("st", scheme="stripe", secret="whsec_x")
    body = b'{"id":"evt_v0","type":"charge.succeeded"}'
    now = int(time.time())
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_x", timestamp=now)
    v0_only = header.replace("v1=", "v0=")
    assert (
        http.post(hook.url_for("st"), content=body, headers={"stripe-signature": v0_only}).status_code == 401
    )
    assert (
        http.post(
            hook.url_for("st"), content=body, headers={"stripe-signature": header + ",v0=abc"}
        ).status_code
        == 200
    )


def test_standard_skips_unknown_versions(
    hook: WebhookListener, http: httpx.Client, cases: dict[str, Any], standard_secret: str
) -> None:
    hook.add_source("sw", scheme="standard", secret=standard_secret)
    signed = cases["std"].sign(standard_secret, int(time.time()), "", 5)
    headers = {
        **signed.headers,
        "webhook-signature": "v1a,AAAA v2,BBBB " + signed.headers["webhook-signature"],
    }
    assert http.post(hook.url_for("sw"), content=signed.body, headers=headers).status_code == 200
    headers["webhook-signature"] = "v1a,AAAA v2," + signed.headers["webhook-signature"].split(",", 1)[1]
    assert http.post(hook.url_for("sw"), content=signed.body, headers=headers).status_code == 401
