"""Real browser: the demo OAuth server's device page, and the page its Approve button leads to.

The user opens the link a notebook shows, checks the code, clicks Approve and reads a page saying
what happened (not raw JSON); the notebook's login then completes. An unknown code gets a page that
says how to get a new one. Screenshots: ``reports/screenshots/device_*.png``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from browser_kit import chromium_page, chromium_ready

from aikit.auth import OAuth2Auth, OAuth2Client
from aikit.local.oauth.server import OAuthServer

SHOTS = Path(__file__).resolve().parents[1] / "reports" / "screenshots"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed (see /tmp/apt.log)")
def test_approve_in_the_browser_says_what_happened(oauth_server: OAuthServer) -> None:
    from playwright.sync_api import sync_playwright

    auth = OAuth2Auth(OAuth2Client(**oauth_server.client_config("aikit-cli")))
    device = auth.start_device_login()
    tokens: list[object] = []
    waiter = threading.Thread(target=lambda: tokens.append(auth.finish_device_login(device, timeout=30)))
    waiter.start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, chromium_page(p, width=900, height=700) as page:
        page.goto(device.link)
        assert page.title().startswith("Sign in a notebook")
        assert page.locator("input[name=user_code]").input_value() == device.user_code
        assert "analyst@example.com" in page.inner_text("body")
        page.fill("input[name=password]", oauth_server.demo_login["password"])
        page.screenshot(path=str(SHOTS / "device_page.png"))
        page.locator("button.approve").click()
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        page.screenshot(path=str(SHOTS / "device_approved.png"))
        assert page.locator("h1").inner_text() == "Approved"
        assert device.user_code in text and "close this tab" in text
        assert "{" not in text and '"ok"' not in text  # a page, not JSON
        page.goto(f"{oauth_server.url}/device")
        page.fill("input[name=user_code]", "NOPE-NOPE")
        page.fill("input[name=password]", oauth_server.demo_login["password"])
        page.locator("button.approve").click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "This code is not valid"
        assert "Start the sign-in again in the notebook" in page.inner_text("body")
        page.goto(f"{oauth_server.url}/device")  # a wrong password gets a page, not JSON, and no approval
        page.fill("input[name=user_code]", "ANYC-ODE1")
        page.fill("input[name=password]", "not-the-password")
        page.locator("button.approve").click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "Wrong user or password"
    waiter.join(30)
    assert tokens, "the notebook's device login did not complete after Approve"
