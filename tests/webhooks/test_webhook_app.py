"""The ASGI app over real HTTP: hygiene (405/404/413/429/401), handshakes, 2xx after commit, 503.

Real uvicorn, real SQLite, loopback; rows are read back from the file with the ``select`` fixture.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aikit.webhooks.listener import WebhookListener


def _gh(secret: str, body: bytes, delivery: str = "d1") -> dict[str, str]:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": sig, "x-github-event": "push", "x-github-delivery": delivery}


@pytest.fixture
def rows(select: Callable[..., Any]) -> Callable[[WebhookListener], int]:
    """Events in a listener's store file."""
    return lambda hook: int(select(hook, "SELECT count(*) FROM events")[0][0])


def test_post_only_unknown_source_and_never_410(hook: WebhookListener, http: httpx.Client) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        resp = http.request(method, hook.url_for("gh"))
        assert resp.status_code == 405, method
        assert resp.headers["allow"] == "POST"
    assert http.post(hook.url + "/hooks/nope", content=b"{}").status_code == 404
    assert http.post(hook.url + "/other", content=b"{}").status_code == 404
    assert http.post(hook.url + "/hooks/", content=b"{}").status_code == 404


def test_duplicate_is_200_stored_once(
    hook: WebhookListener, http: httpx.Client, rows: Callable[[WebhookListener], int]
) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    body = b'{"ref":"main"}'
    first = http.post(hook.url_for("gh"), content=body, headers=_gh("s", body))
    again = http.post(hook.url_for("gh"), content=body, headers=_gh("s", body))
    assert first.json() == {"ok": True}
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert rows(hook) == 1
    assert hook.stats()["sources"]["gh"]["duplicates"] == 1


def test_body_limit_413_after_bounded_drain(
    hook: WebhookListener, http: httpx.Client, rows: Callable[[WebhookListener], int]
) -> None:
    hook.add_source("gh", scheme="github", secret="s", max_body=1024)
    big = b"x" * 200_000
    resp = http.post(hook.url_for("gh"), content=big, headers=_gh("s", big))
    assert resp.status_code == 413  # the sender reads the answer, not a broken pipe

    def chunks():  # no Content-Length: chunked transfer, still refused at the limit
        for _ in range(50):
            yield b"y" * 4096

    resp = http.post(hook.url_for("gh"), content=chunks(), headers=_gh("s", b""))
    assert resp.status_code == 413
    small = b'{"ok":1}'
    assert http.post(hook.url_for("gh"), content=small, headers=_gh("s", small)).status_code == 200
    assert rows(hook) == 1


def test_oversize_beyond_drain_limit_closes_cleanly(hook: WebhookListener) -> None:
    """A huge declared body: 413 once DRAIN_LIMIT bytes are read, then the server closes (bounded)."""
    from aikit.webhooks.app import DRAIN_LIMIT

    hook.add_source("gh", scheme="github", secret="s", max_body=10)
    with socket.create_connection(("127.0.0.1", hook.port or 0), timeout=10) as sock:
        head = b"POST /hooks/gh HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
        sock.sendall(head + b"z" * (DRAIN_LIMIT + 1))  # far short of the declared 100 MB
        data = b""
        while chunk := sock.recv(4096):  # ends when the server closes: it did not wait for 100 MB
            data += chunk
    assert data.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in data.lower()


def test_rate_limit_429_with_retry_after(hook: WebhookListener, http: httpx.Client) -> None:
    hook.add_source("gh", scheme="github", secret="s", rate_limit=(0.2, 2.0))
    codes = []
    for i in range(4):
        body = json.dumps({"i": i}).encode()
        resp = http.post(hook.url_for("gh"), content=body, headers=_gh("s", body, f"d{i}"))
        codes.append(resp.status_code)
        if resp.status_code == 429:
            assert int(resp.headers["retry-after"]) >= 1
    assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_generic_401_for_every_failure(hook: WebhookListener, http: httpx.Client) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    body = b"{}"
    variants = [
        {},
        {"x-hub-signature-256": "nonsense"},
        {"x-hub-signature-256": "sha256=" + "0" * 64},
        {"x-hub-signature-256": "sha256=\u00ff".encode("latin-1")},  # type: ignore[dict-item]
        _gh("other", body),
    ]
    answers = {
        (r.status_code, r.content)
        for r in (http.post(hook.url_for("gh"), content=body, headers=h) for h in variants)
    }
    assert answers == {(401, b'{"error":"unauthorized"}')}
    reasons = {r["reason"] for r in hook.rejections()}
    assert {"signature missing", "signature malformed", "signature mismatch"} <= reasons


def test_slack_url_verification_handshake(
    hook: WebhookListener, http: httpx.Client, cases: dict[str, Any], rows: Callable[[WebhookListener], int]
) -> None:
    from slack_sdk.signature import SignatureVerifier

    hook.add_source("slack", scheme="slack", secret="slk")
    body = json.dumps(
        {
            "type": "url_verification",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "token": "x",
        }
    ).encode()
    ts = str(int(time.time()))
    headers = {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": SignatureVerifier("slk").generate_signature(timestamp=ts, body=body),
    }
    resp = http.post(hook.url_for("slack"), content=body, headers=headers)
    assert resp.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert rows(hook) == 0
    unsigned = http.post(hook.url_for("slack"), content=body)
    assert unsigned.status_code == 401
    event = cases["slack"].sign("slk", int(time.time()), "", 3)
    assert http.post(hook.url_for("slack"), content=event.body, headers=event.headers).status_code == 200
    assert hook.events()["event_type"].tolist() == ["app_mention"]


def test_zoom_url_validation_handshake(
    hook: WebhookListener, http: httpx.Client, cases: dict[str, Any], rows: Callable[[WebhookListener], int]
) -> None:
    hook.add_source("zoom", scheme="zoom", secrets=["new-token", "old-token"])
    body = json.dumps(
        {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}}
    ).encode()
    ts = int(time.time())
    sig = "v0=" + hmac.new(b"old-token", f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    resp = http.post(
        hook.url_for("zoom"), content=body, headers={"x-zm-request-timestamp": str(ts), "x-zm-signature": sig}
    )
    expected = hmac.new(b"old-token", b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert resp.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert rows(hook) == 0
    ok = cases["zoom"].sign("new-token", ts, "", 1)
    assert http.post(hook.url_for("zoom"), content=ok.body, headers=ok.headers).status_code == 200


def test_hubspot_batch_one_row_per_item_and_redelivery_dedupes(hook: WebhookListener) -> None:
    hook.add_source("crm", scheme="hubspot", secret="cs")
    batch = [{"eventId": 100 + i, "subscriptionType": "ticket.creation", "objectId": i} for i in range(3)]
    assert hook.simulate("crm", batch).status_code == 200
    again = hook.simulate("crm", [*batch[:2], {"eventId": 200, "subscriptionType": "ticket.deletion"}])
    assert again.json() == {"ok": True}
    df = hook.events(source="crm")
    assert df["event_id"].tolist() == ["100", "101", "102", "200"]
    assert df["payload"][0] == batch[0]
    assert hook.stats()["sources"]["crm"]["duplicates"] == 2


def test_storage_failure_is_503_with_retry_after_then_recovers(
    hook: WebhookListener, http: httpx.Client, rows: Callable[[WebhookListener], int]
) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    warm = b'{"warm":1}'
    assert http.post(hook.url_for("gh"), content=warm, headers=_gh("s", warm, "w")).status_code == 200
    writer = hook.store.writer  # max_page_count is a setting of the writer's own connection
    pages = writer.call(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    writer.call(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))  # the disk is "full"
    body = json.dumps({"blob": "b" * 50_000}).encode()
    resp = http.post(hook.url_for("gh"), content=body, headers=_gh("s", body, "big"))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
    writer.call(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))
    resp = http.post(hook.url_for("gh"), content=body, headers=_gh("s", body, "big"))  # the sender's retry
    assert resp.status_code == 200
    assert rows(hook) == 2


def test_signatures_redacted_and_secret_never_leaks(
    hook: WebhookListener, http: httpx.Client, canary: str, select: Callable[..., Any]
) -> None:
    hook.add_source("std", scheme="standard", secret=canary)
    hook.add_source("gh", scheme="github", secret=canary)
    assert hook.simulate("std", {"type": "a.b", "n": 1}).status_code == 200
    body = b'{"x":1}'
    resp = http.post(
        hook.url_for("gh") + "?token=jupyter-token-canary&a=1", content=body, headers=_gh(canary, body)
    )
    assert resp.status_code == 200

    @hook.on("gh", "*")
    def boom(event):
        raise RuntimeError(f"bad key {canary}")

    hook.replay(hook.events(source="gh")["id"][0])
    assert hook.wait_idle(10)
    df = hook.events()
    stored = select(hook, "SELECT headers, query FROM events")
    assert all("[redacted]" in h for h, _ in stored)
    assert "jupyter-token-canary" not in json.dumps([list(r) for r in stored])
    raw = json.dumps(json.loads(stored[0][0]))
    assert "v1," not in raw
    texts = [
        repr(hook),
        hook._repr_html_(),
        df.to_string(),
        json.dumps(hook.stats(), default=str),
        str(hook.rejections()),
    ]
    texts.append(str(df["last_error"].tolist()))
    for text in texts:
        assert canary not in text and canary[6:] not in text
    hook.stop()
    for path in hook.store.path.parent.glob("hooks.sqlite*"):
        assert canary.encode() not in path.read_bytes()
