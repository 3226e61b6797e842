"""The notebook-facing API: lifecycle, simulate, events/stats, the HTML view, hosting hints, CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import aikit
from aikit.exceptions import ConfigError, MissingCredentialError, WebhookError
from aikit.webhooks.cli import parse_source
from aikit.webhooks.hosting import detect_hosting
from aikit.webhooks.listener import WebhookListener
from aikit.webhooks.verify import SCHEMES


def test_exported_and_import_is_side_effect_free() -> None:
    code = (
        "import threading, aikit, aikit.webhooks, aikit.webhooks.listener;"
        "assert aikit.WebhookListener is aikit.webhooks.listener.WebhookListener;"
        "print(threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"


def test_start_is_idempotent_and_urls(aikit_home: Path) -> None:
    hook = WebhookListener(port=0)
    with pytest.raises(WebhookError, match="start"):
        _ = hook.url
    hook.add_source("stripe", scheme="stripe", secret="whsec_x")
    try:
        hook.start()
        port, thread = hook.port, hook._server.thread
        assert hook.start() is hook and hook.port == port and hook._server.thread is thread
        assert hook.url_for("stripe") == f"http://127.0.0.1:{port}/hooks/stripe"
        assert hook.store.path == aikit_home / "webhooks.sqlite"  # default store under $AIKIT_HOME
        with pytest.raises(ConfigError, match="add_source"):
            hook.url_for("nope")
    finally:
        hook.stop()
    assert not hook.running
    hook.stop()  # twice is fine


def test_rerunning_the_cell_replaces_the_previous_listener(aikit_home: Path) -> None:
    first = WebhookListener(port=0).start()
    second = WebhookListener(port=0).start()  # same default store: the first one is stopped
    try:
        assert not first.running and second.running
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"http://127.0.0.1:{first.port}/hooks/x")
    finally:
        second.stop()


def test_port_in_use_is_a_clear_error(aikit_home: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        busy = WebhookListener(port=sock.getsockname()[1], store=aikit_home / "busy.sqlite")
        with pytest.raises(WebhookError, match="cannot listen"):
            busy.start()


def test_add_source_validation() -> None:
    hook = WebhookListener(port=0)
    with pytest.raises(ConfigError, match="secret"):
        hook.add_source("a", scheme="stripe")
    with pytest.raises(ConfigError, match="not both"):
        hook.add_source("a", scheme="stripe", secret="x", secrets=["y"])
    with pytest.raises(ConfigError, match="unknown webhook scheme"):
        hook.add_source("a", scheme="paypal", secret="x")
    with pytest.raises(ConfigError, match="/"):
        hook.add_source("a/b", scheme="github", secret="x")


def test_simulate_every_scheme_end_to_end(
    hook: WebhookListener, standard_secret: str, hmac_spec: dict[str, object]
) -> None:
    for scheme in SCHEMES:
        extra: dict[str, object] = {"hmac": hmac_spec} if scheme == "hmac" else {}
        if scheme in ("hubspot", "twilio"):
            extra["public_url"] = f"https://hooks.example.com/hooks/{scheme}"
        hook.add_source(
            scheme, scheme=scheme, secret=standard_secret if scheme == "standard" else "sim-secret", **extra
        )
        payload: object = {"id": f"e-{scheme}", "type": "demo.created"}
        if scheme == "hubspot":
            payload = [{"eventId": 1, "subscriptionType": "demo.created"}]
        resp = hook.simulate(scheme, payload)
        assert resp.status_code == 200, (scheme, resp.text)
    df = hook.events()
    assert sorted(df["source"]) == sorted(SCHEMES)
    assert hook.stats()["status"] == {"received": len(SCHEMES)}


def test_events_filters_and_stats(hook: WebhookListener) -> None:
    hook.add_source("a", scheme="github", secret="s")
    hook.add_source("b", scheme="shopify", secret="s")
    for i in range(3):
        hook.simulate("a", {"i": i})
    hook.simulate("b", {"order": 1}, headers={"x-shopify-topic": "orders/create"})
    assert len(hook.events()) == 4
    assert hook.events(source="b")["event_type"].tolist() == ["orders/create"]
    assert hook.events(limit=2)["id"].tolist() == [3, 4]
    assert len(hook.events(since=timedelta(minutes=5))) == 4
    assert len(hook.events(since=datetime.now(UTC) + timedelta(minutes=1))) == 0
    assert len(hook.events(since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())) == 4
    assert len(hook.events(status="pending")) == 0
    df = hook.events()
    assert str(df["received_at"].dtype).startswith("datetime64") and df["payload"][0] == {"i": 0}
    assert list(df.columns[:5]) == ["id", "source", "event_type", "event_id", "status"]
    stats = hook.stats()
    assert stats["sources"]["a"]["stored"] == 3 and stats["status"]["received"] == 4
    empty = WebhookListener(port=0, store=hook.store.path.parent / "empty.sqlite")
    assert len(empty.events()) == 0  # readable without starting


def test_hosting_detection() -> None:
    assert detect_hosting({}).warning is None
    hub = detect_hosting({"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/", "JUPYTERHUB_API_TOKEN": "secret-token"})
    assert (
        hub.kind == "jupyterhub"
        and "secret-token" not in repr(hub)
        and "/proxy/<port>/" in (hub.warning or "")
    )
    assert detect_hosting({"BINDER_LAUNCH_HOST": "https://mybinder.org/"}).kind == "binder"


def test_background_threads_never_print(aikit_home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with WebhookListener(port=0, max_attempts=1) as hook:
        hook.add_source("gh", scheme="github", secret="s")
        hook.on("gh")(lambda event: 1 / 0)
        hook.simulate("gh", {"x": 1})
        httpx.post(hook.url_for("gh"), content=b"\xff" * 10, headers={"x-hub-signature-256": "sha256=zz"})
        import socket

        with socket.create_connection(("127.0.0.1", hook.port or 0)) as sock:  # broken HTTP
            sock.sendall(b"NOT HTTP\r\n\r\n")
            sock.recv(100)
        assert hook.wait_idle(10)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_cli_parse_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_source("crm:hubspot:A,B", {"A": "new", "B": "old"}) == ("crm", "hubspot", ["new", "old"])
    with pytest.raises(MissingCredentialError, match="NOPE_SECRET"):
        parse_source("x:github:NOPE_SECRET", {})
    with pytest.raises(ConfigError, match="NAME:SCHEME"):
        parse_source("x:github", {})
    from aikit.cli import main

    assert main(["listen", "--port", "0", "--source", "x:github:NOPE_SECRET_VAR"]) == 2
    assert "NOPE_SECRET_VAR" in capsys.readouterr().err
    assert main(["listen"]) == 2


def test_wait_idle_times_out_while_a_handler_runs(hook: WebhookListener) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    release = threading.Event()
    hook.on("gh")(lambda event: release.wait(5))
    hook.simulate("gh", {"x": 1})
    t0 = time.monotonic()
    assert hook.wait_idle(0.3) is False and time.monotonic() - t0 < 2
    release.set()
    assert hook.wait_idle(10)


def test_lazy_export_listed() -> None:
    assert "WebhookListener" in aikit.__all__


def test_restart_same_object_and_replay_needs_a_handler(aikit_home: Path) -> None:
    hook = WebhookListener(port=0)
    hook.add_source("gh", scheme="github", secret="s")
    with hook:
        hook.simulate("gh", {"x": 1})
        with pytest.raises(WebhookError, match="no handler matches"):
            hook.replay(1)
        with pytest.raises(WebhookError, match="no stored event"):
            hook.replay(99)
    assert not hook.running
    with hook:  # start again after stop: same store, new server
        assert hook.simulate("gh", {"x": 2}).status_code == 200
        assert len(hook.events()) == 2
    with pytest.raises(WebhookError, match="start the listener"):
        hook.replay(1)
