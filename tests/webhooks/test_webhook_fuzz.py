"""Malformed headers, bodies and raw requests never get a 5xx (and never 410) from the live listener."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aikit.webhooks.listener import WebhookListener
from aikit.webhooks.verify import SCHEMES

HEADER_NAMES = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-delivery",
    "x-github-event",
    "x-slack-request-timestamp",
    "x-slack-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-signature",
    "x-hubspot-signature-version",
    "x-hubspot-request-timestamp",
    "x-shopify-hmac-sha256",
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "x-zm-request-timestamp",
    "x-zm-signature",
    "linear-signature",
    "x-acme-signature",
    "x-acme-timestamp",
    "x-acme-id",
    "content-type",
]
# Header values: printable latin-1 (what HTTP can carry), with the shapes the parsers look for.
VALUE_PIECES = st.sampled_from(
    [
        "t=",
        "v1=",
        "v0=",
        "v1,",
        ",",
        " ",
        "=",
        "sha256=",
        "sha1=",
        "1700000000",
        "-1",
        "99999999999999999999",
        "ÿ",
        "%",
        "\t",
    ]
)
header_value = st.one_of(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
    ),
    st.lists(VALUE_PIECES, max_size=8).map("".join),
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_value, max_size=6)
bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"[]",
            b"{}",
            b"null",
            b"[1,2",
            b'{"type": "url_verification"}',
            b'{"event": "endpoint.url_validation"}',
            b"\xff\xfe",
        ]
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3),
        max_leaves=8,
    ).map(lambda v: repr(v).encode()),
)
queries = st.sampled_from(["", "bodySHA256=abc", "bodySHA256=", "a=%ff&b", "token=x&&=", "x=" + "%" * 5])


@pytest.fixture(scope="module")
def fuzz_hook(
    tmp_path_factory: pytest.TempPathFactory, standard_secret: str, hmac_spec: dict[str, Any]
) -> Iterator[WebhookListener]:
    store = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite"
    with WebhookListener(port=0, store=store) as hook:
        for scheme in SCHEMES:
            secret = standard_secret if scheme == "standard" else f"{scheme}-secret"
            extra = {"hmac": hmac_spec} if scheme == "hmac" else {}
            hook.add_source(
                scheme, scheme=scheme, secret=secret, hubspot_versions=("v1", "v2", "v3"), **extra
            )
        hook.add_source("small", scheme="github", secret="s", max_body=16)
        yield hook


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as c:
        yield c


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    source=st.sampled_from([*SCHEMES, "small", "missing"]),
    hdrs=headers,
    body=bodies,
    query=queries,
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
)
def test_fuzzed_requests_never_5xx(
    fuzz_hook: WebhookListener,
    client: httpx.Client,
    source: str,
    hdrs: dict[str, str],
    body: bytes,
    query: str,
    method: str,
) -> None:
    url = f"{fuzz_hook.url}/hooks/{source}" + (f"?{query}" if query else "")
    encoded = {k: v.strip(" \t").encode("latin-1") for k, v in hdrs.items()}  # h11 forbids edge blanks
    resp = client.request(method, url, content=body, headers=encoded)
    assert resp.status_code < 500 and resp.status_code != 410, (resp.status_code, resp.text)
    assert resp.status_code in (401, 404, 405, 413, 429), (
        resp.status_code
    )  # nothing unsigned gets in (429: the per-client failed-signature limit)


RAW = [
    b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /hooks/%ff%00 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"POST /hooks/github?\xff HTTP/1.1\r\nHost: \xff\r\nX-Hub-Signature-256: sha256=\xff\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"GARBAGE\r\n\r\n",
    b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab",  # then hang up early
]


@pytest.mark.parametrize("raw", RAW)
def test_raw_malformed_http_never_5xx(fuzz_hook: WebhookListener, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", fuzz_hook.port), timeout=5) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    if data:
        status = int(data.split(b" ", 2)[1])
        assert status < 500 and status != 410, data[:200]
    # the listener is still healthy afterwards
    assert httpx.post(f"{fuzz_hook.url}/hooks/github", content=b"{}").status_code in (
        401,
        429,
    )  # 429: per-client budget


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SCHEMES), body=bodies)
def test_correctly_signed_odd_bodies_are_stored_not_500(
    fuzz_hook: WebhookListener, client: httpx.Client, source: str, body: bytes
) -> None:
    """A genuine sender's odd body (not JSON, empty, binary) is kept as raw bytes, never a 5xx."""
    from aikit.webhooks.sign import sign

    config = fuzz_hook._sources[source].config
    url = fuzz_hook.url_for(source)
    signed = sign(config, body, url=url)
    target = f"{url}?{signed.query}" if signed.query else url
    resp = client.post(target, content=body, headers=signed.headers)
    assert resp.status_code < 500, resp.text
    if source != "twilio":  # Twilio signs the parsed form parameters: a non-UTF-8 form cannot verify
        assert resp.status_code == 200, (source, body, resp.text)
