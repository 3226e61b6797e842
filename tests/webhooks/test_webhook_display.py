"""The listener in a notebook: the HTML summary, the live monitor, and which side imports which.

``aikit.webhooks`` never imports ``aikit.widgets``: the summary is plain HTML, and ``hook.widget()``
opens whatever monitor factory is registered in :mod:`aikit.webhooks.monitor` (the top-level
``aikit`` package registers the ipywidgets one, imported only when a monitor is opened).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aikit.exceptions import WebhookError
from aikit.webhooks import monitor
from aikit.webhooks.listener import WebhookListener


def test_html_view_shows_url_sources_events_rejections(
    hook: WebhookListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.add_source("stripe", scheme="stripe", secret="whsec_hidden_value")
    hook.simulate("stripe", {"id": "evt_9", "type": "invoice.paid"})
    httpx.post(hook.url_for("stripe"), content=b"{}")  # rejected
    html = hook._repr_html_()
    for needle in (
        hook.url_for("stripe"),
        "invoice.paid",
        "signature missing",
        "1 (hidden)",
        "Last rejections",
    ):
        assert needle in html
    assert "whsec_hidden_value" not in html
    assert "tunnel" in html  # local machine: how to expose it
    monkeypatch.setenv("BINDER_REPO_URL", "https://github.com/example/repo")
    html = hook._repr_html_()
    assert "Binder" in html and "Jupyter token" in html and "never" in html
    assert repr(hook).startswith("<WebhookListener http://127.0.0.1:")


def test_live_widget_refreshes_and_stops(hook: WebhookListener) -> None:
    hook.add_source("gh", scheme="github", secret="s")
    monitor = hook.widget(interval=0.2)
    try:
        assert "gh" in monitor.html.value and "none yet" in monitor.html.value
        hook.simulate("gh", {"x": 1})
        deadline = time.monotonic() + 5
        while "received" not in monitor.html.value and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "received" in monitor.html.value
    finally:
        monitor.close()
    monitor._thread.join(2)
    assert not monitor._thread.is_alive()


_NO_WIDGETS = textwrap.dedent(
    """
    import sys
    from aikit.webhooks.listener import WebhookListener

    with WebhookListener(port=0, store=sys.argv[1]) as hook:
        hook.add_source("gh", scheme="github", secret="s")
        hook.on("gh")(lambda event: "handled")
        assert hook.simulate("gh", {"x": 1}).status_code == 200
        assert hook.wait_idle(10)
        hook.events(); hook.stats(); html = hook._repr_html_()
        assert "gh" in html
        before = sorted(m for m in sys.modules if m.startswith(("aikit.widgets", "ipywidgets")))
        monitor = hook.widget(interval=0.2)
        after = type(monitor).__module__ + "." + type(monitor).__name__
        monitor.close()
    print(before, after)
    """
)


def test_webhooks_never_import_widgets_until_a_monitor_is_opened(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_WIDGETS, str(tmp_path / "w.sqlite")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.strip() == "[] aikit.widgets.webhooks.WebhookMonitor"


def test_widget_opens_the_registered_monitor(hook: WebhookListener) -> None:
    opened: list[tuple[Any, float]] = []
    previous = monitor.set_monitor(lambda listener, interval: opened.append((listener, interval)) or "view")
    try:
        assert hook.widget(interval=0.3) == "view" and opened == [(hook, 0.3)]
        monitor.set_monitor(None)
        with pytest.raises(WebhookError, match=r"WebhookMonitor\(hook\)"):
            hook.widget()
    finally:
        monitor.set_monitor(previous)


def test_the_summary_renders_before_start_and_with_an_unreadable_store(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-database.sqlite"
    garbage.write_bytes(b"this is not SQLite" * 100)
    hook = WebhookListener(port=0, store=garbage).add_source("gh", scheme="github", secret="hidden-secret")
    html = hook._repr_html_()
    assert "not started" in html and "(not started)" in html and "none yet" in html
    assert "hidden-secret" not in html and "1 (hidden)" in html
