"""The gateway guarantees: a retry schedule that survives restarts, replay, dead letters and their
alerts, transform and filter, allowlists, rate limits that an unsigned flood cannot spend, dedupe on
signed fields only, retention and redaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from aikit.webhooks.dispatcher import DeadLetter
from aikit.webhooks.handlers import Event
from aikit.webhooks.listener import WebhookListener

WH = "whsec_" + "Z2F0ZXdheS10ZXN0LXNlY3JldC1ieXRlcw=="
ALERT_SECRET = "whsec_" + "YWxlcnQtc2VjcmV0LWJ5dGVzLTEyMzQ="


def _github(body: bytes, secret: str, delivery: str) -> dict[str, str]:
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": sig, "x-github-event": "push", "x-github-delivery": delivery}


def test_restart_mid_schedule_resumes_from_the_store(aikit_home: Path, select: Callable[..., Any]) -> None:
    store = aikit_home / "h.sqlite"
    with WebhookListener(port=0, store=store, retry=(1.5, 1.5), jitter=0.0) as hook:
        hook.add_source("std", scheme="standard", secret=WH)

        @hook.on("std")
        def push(event: Event) -> None:
            raise ConnectionError("CRM unreachable")

        hook.simulate("std", {"type": "t"})
        deadline = time.monotonic() + 5
        while (
            not select(hook, "SELECT 1 FROM handler_runs WHERE status='failed'")
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
    (status, attempts, next_at, error) = select(
        store, "SELECT status, attempts, next_at, last_error FROM handler_runs"
    )[0]
    assert (status, attempts) == ("failed", 1) and "ConnectionError: CRM unreachable" in error
    ran_at: list[float] = []
    with WebhookListener(port=0, store=store, retry=(1.5, 1.5), jitter=0.0) as again:  # the kernel restarted
        again.add_source("std", scheme="standard", secret=WH)

        @again.on("std")  # registered after the restart: picks up the pending event
        def push(event: Event) -> str:
            ran_at.append(time.time())
            return f"attempt {event.attempt}"

        assert again.wait_idle(10)
    assert len(ran_at) == 1 and ran_at[0] >= next_at - 0.05  # not before its persisted retry time
    assert select(store, "SELECT status, attempts FROM handler_runs")[0][:] == ("done", 2)
    assert json.loads(select(store, "SELECT value FROM handler_results")[0][0]) == "attempt 2"


def test_replay_dead_letters_bulk_and_one_handler(aikit_home: Path, select: Callable[..., Any]) -> None:
    letters: list[DeadLetter] = []
    with WebhookListener(
        port=0, store=aikit_home / "h.sqlite", retry=(0.01,), on_dead=letters.append
    ) as hook:
        hook.add_source("std", scheme="standard", secret=WH)
        hook.add_source("other", scheme="standard", secret=WH)
        fixed = {"yes": False}
        counts = {"sync_crm": 0, "log": 0}

        @hook.on("std")
        def sync_crm(event: Event) -> str:
            counts["sync_crm"] += 1
            if not fixed["yes"]:
                raise RuntimeError("bad mapping")
            return "synced"

        @hook.on("std")
        def log(event: Event) -> str:
            counts["log"] += 1
            return "logged"

        hook.on("other")(lambda event: "fine")
        for n in range(3):
            hook.simulate("std", {"type": "t", "n": n})
        hook.simulate("other", {"type": "t"})
        assert hook.wait_idle(10)
        dead = hook.dead()
        assert dead["id"].tolist() == [1, 2, 3] and set(dead["handler"]) == {"sync_crm"}
        assert dead["attempts"].tolist() == [2, 2, 2] and dead["payload"][0]["n"] == 0
        assert (
            "RuntimeError: bad mapping" in dead["last_error"][0]
            and dead["error"][0] == "RuntimeError: bad mapping"
        )
        assert sorted(letter.event.id for letter in letters) == [1, 2, 3] and letters[0].handler.endswith(
            "sync_crm"
        )
        assert hook.events(status="dead")["id"].tolist() == [1, 2, 3]
        assert counts == {"sync_crm": 6, "log": 3}

        fixed["yes"] = True
        assert hook.replay(status="dead", handler="sync_crm") == [1, 2, 3]
        assert hook.wait_idle(10)
        assert counts == {"sync_crm": 9, "log": 3}  # only the chosen handler ran again, nothing re-stored
        assert hook.dead().empty and hook.events()["status"].tolist() == ["done"] * 4
        assert select(hook, "SELECT count(*) FROM events")[0][0] == 4

        assert hook.replay(source="std", since=time.time() - 60) == [1, 2, 3]  # every handler of a source
        assert hook.wait_idle(10)
        assert counts == {"sync_crm": 12, "log": 6}
        assert hook.replay(event_ids=[4]) == [4]
        with pytest.raises(Exception, match="no registered handler"):
            hook.replay(1, handler="nobody")
        with pytest.raises(Exception, match="say what to replay"):
            hook.replay()


def test_dead_letter_alert_reaches_a_local_server_signed(aikit_home: Path) -> None:
    with WebhookListener(port=0, store=aikit_home / "alerts.sqlite") as receiver:
        receiver.add_source("alerts", scheme="standard", secret=ALERT_SECRET)  # verifies the signature
        got: list[Any] = []
        receiver.on("alerts")(lambda event: got.append(event.payload))
        with WebhookListener(
            port=0,
            store=aikit_home / "h.sqlite",
            retry=(),
            alert_url=receiver.url_for("alerts"),
            alert_secret=ALERT_SECRET,
        ) as hook:
            hook.add_source("gh", scheme="github", secret="gh-secret")

            @hook.on("gh")
            def deploy(event: Event) -> None:
                raise ValueError("token gh-secret rejected")  # the secret in an error never travels

            hook.simulate("gh", {"ref": "main"})
            assert hook.wait_idle(10)
            deadline = time.monotonic() + 10
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            assert hook.stats()["alerts"] == {"sent": 1, "failed": 0}
        assert receiver.wait_idle(10)
    assert len(got) == 1
    alert = got[0]
    assert alert["type"] == "webhook.dead" and alert["source"] == "gh" and alert["handler"].endswith("deploy")
    assert "ValueError: token *** rejected" in alert["error"] and "gh-secret" not in json.dumps(alert)


def test_transform_and_filter_run_before_handlers_not_before_the_store(hook: WebhookListener) -> None:
    seen: list[Any] = []
    hook.add_source(
        "gh",
        scheme="github",
        secret="gh-secret",
        filter=lambda event: event.payload.get("ref") == "refs/heads/main",
        transform=lambda event: {"branch": event.payload["ref"].rsplit("/", 1)[-1]},
    )
    hook.on("gh")(lambda event: seen.append(event.payload))
    hook.simulate("gh", {"ref": "refs/heads/main"})
    hook.simulate("gh", {"ref": "refs/heads/feature"})
    assert hook.wait_idle(10)
    assert seen == [{"branch": "main"}]
    df = hook.events()
    assert df["status"].tolist() == ["done", "filtered"]
    assert df["payload"].tolist() == [{"ref": "refs/heads/main"}, {"ref": "refs/heads/feature"}]  # raw kept


def test_unsigned_flood_does_not_spend_a_genuine_senders_rate_limit(
    hook: WebhookListener, http: httpx.Client
) -> None:
    hook.add_source("gh", scheme="github", secret="gh-secret", rate_limit=(1.0, 2.0))
    url = hook.url_for("gh")
    flood = [
        http.post(url, content=b'{"x":1}', headers={"x-github-event": "push"}).status_code for _ in range(30)
    ]
    assert set(flood) <= {401, 429} and 401 in flood and flood[-1] == 429  # past the per-client budget
    body = b'{"genuine": true}'
    assert http.post(url, content=body, headers=_github(body, "gh-secret", "d-1")).status_code == 200
    stats = hook.stats()["sources"]["gh"]
    assert stats["stored"] == 1 and stats["signature_limited"] >= 1 and "rate_limited" not in stats


def test_allowlist_with_and_without_a_trusted_proxy(hook: WebhookListener, http: httpx.Client) -> None:
    body = b'{"x": 1}'
    hook.add_source("direct", scheme="github", secret="s", allow=["192.30.252.0/22"])
    headers = _github(body, "s", "d")
    assert http.post(hook.url_for("direct"), content=body, headers=headers).status_code == 403  # 127.0.0.1
    spoofed = {**headers, "x-forwarded-for": "192.30.252.7"}  # no trusted proxy: the header is ignored
    assert http.post(hook.url_for("direct"), content=body, headers=spoofed).status_code == 403
    hook.add_source(
        "tunnel", scheme="github", secret="s", allow=["192.30.252.0/22"], trusted_proxies=["127.0.0.1/32"]
    )
    via = {**headers, "x-forwarded-for": "192.30.252.7"}
    assert http.post(hook.url_for("tunnel"), content=body, headers=via).status_code == 200
    forged = {**headers, "x-forwarded-for": "192.30.252.7, 6.6.6.6"}  # the tunnel saw 6.6.6.6
    assert http.post(hook.url_for("tunnel"), content=body, headers=forged).status_code == 403
    assert [r["client"] for r in hook.rejections()][-1] == "6.6.6.6"


@pytest.mark.parametrize(
    ("scheme", "id_header"), [("github", "x-github-delivery"), ("shopify", "x-shopify-webhook-id")]
)
def test_redelivery_with_a_new_unsigned_id_is_a_duplicate(
    hook: WebhookListener, scheme: str, id_header: str
) -> None:
    hook.add_source("p", scheme=scheme, secret="s3cret")
    calls: list[str | None] = []
    hook.on("p")(lambda event: calls.append(event.event_id))
    payload = {"id": 1, "type": "orders/create"}
    assert hook.simulate("p", payload, event_id="first").json() == {"ok": True}
    again = hook.simulate("p", payload, event_id="changed-by-redelivery")
    assert again.json() == {"ok": True, "duplicate": True}
    assert hook.wait_idle(10)
    assert calls == ["first"] and len(hook.events()) == 1


def test_retention_prunes_handled_events(aikit_home: Path, select: Callable[..., Any]) -> None:
    store = aikit_home / "h.sqlite"
    with WebhookListener(port=0, store=store) as hook:
        hook.add_source("gh", scheme="github", secret="s")
        hook.simulate("gh", {"n": 1})
    conn_rows = select(store, "SELECT count(*) FROM events")[0][0]
    assert conn_rows == 1
    import sqlite3

    with sqlite3.connect(store) as conn:  # age the row by 40 days
        conn.execute("UPDATE events SET received_at = received_at - 40 * 86400")
    with WebhookListener(port=0, store=store, retention=30) as hook:
        deadline = time.monotonic() + 5
        while hook.pruned == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hook.pruned == 1 and hook.stats()["pruned"] == 1
    assert select(store, "SELECT count(*) FROM events")[0][0] == 0


def test_redaction_by_pattern_of_names_and_secret_forms(
    hook: WebhookListener, select: Callable[..., Any]
) -> None:
    hook.add_source("std", scheme="standard", secret=WH)
    raw = WH.removeprefix("whsec_")

    @hook.on("std")
    def leaky(event: Event) -> None:
        raise ValueError(f"bad key {raw} / {WH}")

    headers = {
        "X-Webhook-Key": "hdr-key-1",
        "x-auth": "hdr-auth-2",
        "X-Api-Key": "hdr-api-3",
        "X-Trace": "keep-me",
    }
    query = "secret=q1&password=q2&sig=q3&signature=q4&apikey=q5&client_secret=q6&portal=7"
    src = hook._sources["std"]
    from aikit.webhooks.sign import sign

    body = b'{"type": "t"}'
    signed = sign(src.config, body, url="")
    resp = httpx.post(f"{hook.url_for('std')}?{query}", content=body, headers={**signed.headers, **headers})
    assert resp.status_code == 200
    assert hook.wait_idle(10)
    row = select(hook, "SELECT headers, query, last_error FROM events")[0]
    stored_headers = json.loads(row[0])
    for name in ("x-webhook-key", "x-auth", "x-api-key", "webhook-signature"):
        assert stored_headers[name] == "[redacted]", name
    assert stored_headers["x-trace"] == "keep-me"
    for value in ("q1", "q2", "q3", "q4", "q5", "q6"):
        assert f"={value}" not in row[1]
    assert "portal=7" in row[1]
    assert raw not in row[2] and WH not in row[2] and "bad key ***" in row[2]
    data = hook.store.path.read_bytes()
    assert raw.encode() not in data and b"hdr-key-1" not in data
