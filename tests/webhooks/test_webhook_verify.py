"""Pure verification: published test vectors, malformed input, configuration errors, edge cases.

aikit's own signer is checked against the official verifiers in ``test_webhook_sign.py``.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from aikit.exceptions import ConfigError, SignatureError
from aikit.webhooks.sign import sign
from aikit.webhooks.verify import HmacSpec, Incoming, SourceConfig, Verifier

SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
HUBSPOT_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)


def _verifier(scheme: str, *secrets: str, at: float | None = None, **options: object) -> Verifier:
    cfg = SourceConfig("s", scheme, secrets, **options)  # type: ignore[arg-type]
    return Verifier(cfg) if at is None else Verifier(cfg, clock=lambda: at)


def _req(
    headers: dict[str, str], body: bytes, url: str = "http://127.0.0.1/hooks/s", method: str = "POST"
) -> Incoming:
    query = url.split("?", 1)[1] if "?" in url else ""
    return Incoming(method, url, query, {k.lower(): v for k, v in headers.items()}, body)


def test_github_vector() -> None:
    sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    v = _verifier("github", "It's a Secret to Everybody")
    assert v.verify(_req({"X-Hub-Signature-256": sig}, b"Hello, World!")).events[0].body == b"Hello, World!"
    with pytest.raises(SignatureError):
        v.verify(_req({"X-Hub-Signature-256": sig}, b"Hello, World?"))


def test_standard_webhooks_vector() -> None:
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    v = _verifier("standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", at=1614265330)
    accepted = v.verify(_req(headers, b'{"test": 2432232314}'))
    assert accepted.events[0].dedupe_key == "id:msg_p5jXN8AQM9LWM0D4loKWxJek"
    svix = {k.replace("webhook-", "svix-"): val for k, val in headers.items()}
    assert v.verify(_req(svix, b'{"test": 2432232314}')).events[0].event_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    late = _verifier("standard", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", at=1614265330 + 301)
    with pytest.raises(SignatureError) as info:
        late.verify(_req(headers, b'{"test": 2432232314}'))
    assert info.value.reason == "stale"  # type: ignore[attr-defined]


def test_slack_vector() -> None:
    sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    v = _verifier("slack", "8f742231b10e8888abcd99yyyzzz85a5", at=1531420618 + 10)
    headers = {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": sig}
    event = v.verify(_req(headers, SLACK_BODY)).events[0]
    assert event.event_type == "slash_command"
    early = _verifier("slack", "8f742231b10e8888abcd99yyyzzz85a5", at=1531420618 - 301)
    with pytest.raises(SignatureError) as info:
        early.verify(_req(headers, SLACK_BODY))
    assert info.value.reason == "future"  # type: ignore[attr-defined]


def test_twilio_vectors() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    v = _verifier("twilio", "12345", public_url="https://mycompany.com/myapp.php")
    req = Incoming(
        "POST",
        "http://127.0.0.1/hooks/s?foo=1&bar=2",
        "foo=1&bar=2",
        {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
        urlencode(params).encode(),
    )
    accepted = v.verify(req)
    assert accepted.reply is not None and b"<Response/>" in accepted.reply.body
    assert accepted.events[0].event_type == "call"
    # with the default port spelled out, as Twilio's own validator allows
    v443 = _verifier("twilio", "12345", public_url="https://mycompany.com:443/myapp.php")
    assert v443.verify(req).events
    body = b'{"property": "value", "boolean": true}'
    digest = sign(SourceConfig("s", "twilio", ("12345",)), body, url=url).query.split("bodySHA256=")[1]
    assert digest.startswith("0a1ff763") and digest.endswith("6620")


def test_hubspot_v1_v2_vectors() -> None:
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    v1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    opt_in = _verifier("hubspot", secret, hubspot_versions=("v1", "v2", "v3"))
    headers = {"X-HubSpot-Signature": v1, "X-HubSpot-Signature-Version": "v1"}
    events = opt_in.verify(_req(headers, HUBSPOT_BODY)).events
    assert [e.event_type for e in events] == ["contact.creation"]
    v2 = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    get = _req({"X-HubSpot-Signature": v2, "X-HubSpot-Signature-Version": "v2"}, b"", method="GET")
    get_public = _verifier(
        "hubspot", secret, hubspot_versions=("v2",), public_url="https://www.example.com/webhook_uri"
    )
    assert get_public.verify(get).events
    # v1/v2 carry no timestamp: they are refused unless opted in
    with pytest.raises(SignatureError):
        _verifier("hubspot", secret).verify(_req(headers, HUBSPOT_BODY))


@pytest.mark.parametrize(
    ("scheme", "headers", "body"),
    [
        ("standard", {"webhook-id": "x", "webhook-timestamp": "now", "webhook-signature": "garbage"}, b"{}"),
        (
            "standard",
            {
                "webhook-id": "x",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,not-base64!!",
            },
            b"\xff\xfe",
        ),
        ("stripe", {"stripe-signature": "t=1, v1=abc"}, b"{}"),
        ("stripe", {"stripe-signature": "nonsense"}, b"{}"),
        ("stripe", {"stripe-signature": "t=99999999999999999999,v1=00"}, b"{}"),
        ("github", {"x-hub-signature-256": "sha1=abc"}, b"{}"),
        ("slack", {"x-slack-request-timestamp": "-5", "x-slack-signature": "v0=aa"}, b"{}"),
        ("hubspot", {"x-hubspot-signature-v3": "\u00e9", "x-hubspot-request-timestamp": "1e3"}, b"[]"),
        ("twilio", {"x-twilio-signature": "x"}, b"\xff=\xfe"),
        ("zoom", {"x-zm-request-timestamp": "", "x-zm-signature": "v0="}, b""),
        ("linear", {"linear-signature": "zz"}, b"not json"),
        ("intercom", {"x-hub-signature": "sha256=00"}, b"{}"),
        ("hmac", {"x-signature": ""}, b"{}"),
    ],
)
def test_malformed_is_signature_error(
    scheme: str, headers: dict[str, str], body: bytes, standard_secret: str
) -> None:
    v = _verifier(scheme, standard_secret if scheme == "standard" else "secret")
    with pytest.raises(SignatureError) as info:
        v.verify(_req(headers, body))
    assert str(info.value) == "webhook verification failed"


def test_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="unknown webhook scheme"):
        SourceConfig("s", "paypal", ("x",))
    with pytest.raises(ConfigError, match="secret"):
        SourceConfig("s", "stripe", ())
    with pytest.raises(ConfigError, match="tolerance"):
        SourceConfig("s", "stripe", ("x",), tolerance=0)
    with pytest.raises(ConfigError, match="timestamp_header"):
        HmacSpec(template="{timestamp}.{body}")
    with pytest.raises(ConfigError, match="algorithm"):
        HmacSpec(algorithm="md5")


def test_secrets_never_in_repr() -> None:
    cfg = SourceConfig("s", "stripe", ("whsec_canary_value",))
    assert "canary" not in repr(cfg) and "canary" not in repr(Verifier(cfg))


def test_hubspot_batch_gives_one_event_per_item_with_signed_ids() -> None:
    cfg = SourceConfig("s", "hubspot", ("cs",), hubspot_versions=("v1",))
    v = Verifier(cfg)
    items = [
        {"eventId": i, "subscriptionType": "ticket.creation", "occurredAt": 1564113600000} for i in range(3)
    ]
    body = json.dumps(items).encode()
    import hashlib

    headers = {
        "x-hubspot-signature": hashlib.sha256(b"cs" + body).hexdigest(),
        "x-hubspot-signature-version": "v1",
    }
    events = v.verify(_req(headers, body)).events
    assert [e.dedupe_key for e in events] == ["id:0", "id:1", "id:2"]
    assert [json.loads(e.body)["eventId"] for e in events] == [0, 1, 2]
    assert events[0].provider_ts == 1564113600.0


@pytest.mark.parametrize("scheme", ["github", "shopify", "linear"])
def test_unsigned_id_headers_never_enter_the_dedupe_key(scheme: str) -> None:
    """GitHub's delivery id (Shopify's webhook id, Linear's delivery) is not signed: a redelivery with
    a new id is the same event, and reusing an id with another (signed) body is a new one."""
    cfg = SourceConfig("s", scheme, ("gh",))
    body = b'{"a":1,"type":"push","webhookTimestamp":%d}' % int(time.time() * 1000)
    first = sign(cfg, body, url="", event_id="delivery-1")
    again = sign(cfg, body, url="", event_id="delivery-2")
    other = sign(cfg, body.replace(b'"a":1', b'"a":2'), url="", event_id="delivery-1")
    k1 = Verifier(cfg).verify(_req(first.headers, body)).events[0]
    k2 = Verifier(cfg).verify(_req(again.headers, body)).events[0]
    k3 = Verifier(cfg).verify(_req(other.headers, body.replace(b'"a":1', b'"a":2'))).events[0]
    assert k1.dedupe_key == k2.dedupe_key and k1.dedupe_key.startswith("sha256:")
    assert k1.event_id == "delivery-1" and k2.event_id == "delivery-2"  # kept, just not keyed on
    assert k3.dedupe_key != k1.dedupe_key


def test_twilio_shared_key_hmac_sha256_variant() -> None:
    """Twilio's SharedKey signatures (settings header algorithm=HMAC_SHA256), signed by the official lib."""
    from twilio.request_validator import RequestValidator

    url = "https://hooks.example.com/hooks/s"
    params = {"MessageSid": "SM9", "MessageStatus": "sent"}
    sig = RequestValidator("shared-key").compute_signature(url, params, algorithm="HMAC_SHA256")
    headers = {
        "x-twilio-signature": sig,
        "x-twilio-webhooks-signature-settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    }
    v = _verifier("twilio", "shared-key", public_url=url)
    body = urlencode(params).encode()
    assert v.verify(_req(headers, body)).events[0].event_type == "message.sent"
    with pytest.raises(SignatureError):  # the same signature read as the legacy SHA-1 scheme fails
        v.verify(_req({"x-twilio-signature": sig}, body))


def test_github_sha1_only_when_opted_in() -> None:
    import hashlib
    import hmac

    body = b'{"zen": "x"}'
    legacy = {"x-hub-signature": "sha1=" + hmac.new(b"gh", body, hashlib.sha1).hexdigest()}
    with pytest.raises(SignatureError):
        _verifier("github", "gh").verify(_req(legacy, body))
    assert _verifier("github", "gh", github_sha1=True).verify(_req(legacy, body)).events


def test_hubspot_v3_accepts_the_documented_decoded_uri() -> None:
    """HubSpot's docs decode a few percent-escapes (e.g. %3A) in the URI before signing."""
    from hubspot.utils.signature import Signature

    body = "[]"
    ts = str(int(time.time() * 1000))
    raw_url = "https://hooks.example.com/hooks/crm?when=10%3A30&path=%2Fa"
    decoded = "https://hooks.example.com/hooks/crm?when=10:30&path=/a"
    sig = Signature.get_signature("cs", body, "v3", http_uri=decoded, http_method="POST", timestamp=ts)
    v = _verifier("hubspot", "cs", public_url="https://hooks.example.com/hooks/crm")
    req = Incoming(
        "POST",
        "http://127.0.0.1/hooks/crm?when=10%3A30&path=%2Fa",
        raw_url.split("?", 1)[1],
        {"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": ts},
        body.encode(),
    )
    assert v.verify(req).events == ()
