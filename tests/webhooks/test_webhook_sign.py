"""aikit's signer (what ``simulate`` and the benchmark send) against the providers' official verifiers.

If the signer were wrong in the same way as the verifier, the scheme tests could not see it; here the
official libraries (standardwebhooks, stripe, slack_sdk, hubspot, twilio) check its signatures, and
every scheme round-trips through :class:`~aikit.webhooks.verify.Verifier`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from aikit.webhooks.sign import sign
from aikit.webhooks.verify import HmacSpec, Incoming, SourceConfig, Verifier


def test_signer_matches_official_verifiers(standard_secret: str) -> None:
    import standardwebhooks
    import stripe
    from hubspot.utils.signature import Signature
    from slack_sdk.signature import SignatureVerifier
    from twilio.request_validator import RequestValidator

    body = b'{"id": "evt_1", "type": "x"}'
    std = sign(SourceConfig("s", "standard", (standard_secret,)), body, url="")
    standardwebhooks.Webhook(standard_secret).verify(body, std.headers)
    st = sign(SourceConfig("s", "stripe", ("whsec_abc",)), body, url="")
    stripe.WebhookSignature.verify_header(body.decode(), st.headers["stripe-signature"], "whsec_abc", 300)
    sl = sign(SourceConfig("s", "slack", ("sl",)), body, url="")
    assert SignatureVerifier("sl").is_valid_request(body, sl.headers)
    url = "https://hooks.example.com/hooks/crm?portalId=1"
    hs = sign(SourceConfig("s", "hubspot", ("cs",)), body, url=url)
    assert Signature.is_valid(
        signature=hs.headers["x-hubspot-signature-v3"],
        client_secret="cs",
        request_body=body.decode(),
        http_uri=url,
        signature_version="v3",
        timestamp=hs.headers["x-hubspot-request-timestamp"],
    )
    form = b"MessageSid=SM1&Body=hi+there&Body=again"
    tw = sign(
        SourceConfig("s", "twilio", ("tok",)), form, url=url, content_type="application/x-www-form-urlencoded"
    )
    from werkzeug.datastructures import MultiDict

    params = MultiDict([("MessageSid", "SM1"), ("Body", "hi there"), ("Body", "again")])
    assert RequestValidator("tok").validate(url, params, tw.headers["x-twilio-signature"])
    tj = sign(SourceConfig("s", "twilio", ("tok",)), body, url=url)
    assert RequestValidator("tok").validate(
        f"{url}&{tj.query.split('&')[-1]}", body.decode(), tj.headers["x-twilio-signature"]
    )


@pytest.mark.parametrize(
    "scheme",
    [
        "standard",
        "stripe",
        "github",
        "slack",
        "hubspot",
        "shopify",
        "twilio",
        "zoom",
        "linear",
        "intercom",
        "hmac",
    ],
)
def test_sign_then_verify_roundtrip(scheme: str, standard_secret: str, hmac_spec: dict[str, Any]) -> None:
    secret = standard_secret if scheme == "standard" else "roundtrip-secret"
    options: dict[str, object] = {"hmac": HmacSpec(**hmac_spec)} if scheme == "hmac" else {}
    cfg = SourceConfig("s", scheme, (secret,), **options)  # type: ignore[arg-type]
    body = json.dumps({"id": "e1", "type": "t", "webhookTimestamp": int(time.time() * 1000)}).encode()
    url = "http://127.0.0.1:9/hooks/s"
    signed = sign(cfg, body, url=url)
    full = f"{url}?{signed.query}" if signed.query else url
    query = full.split("?", 1)[1] if "?" in full else ""
    assert Verifier(cfg).verify(Incoming("POST", full, query, signed.headers, body)).events
