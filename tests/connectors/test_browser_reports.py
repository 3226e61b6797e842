"""Real browser (Debian chromium): the sync and upsert reports as a notebook shows them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from browser_kit import chromium_page, chromium_ready

import aikit
from aikit.local.crm import DemoCRM

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"


@pytest.mark.browser
@pytest.mark.skipif(not chromium_ready(), reason="Debian chromium is not installed")
def test_sync_and_upsert_reports_render(crm: DemoCRM, crm_token: str) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    hs = aikit.HubSpot(token=crm_token, base_url=crm.url)
    _, first = hs.sync("tickets", ["subject"])
    ids = hs.fetch("tickets", ["subject"], typed=False, limit=2)["id"]
    hs.push("tickets", pd.DataFrame({"id": ids, "subject": "renamed <b>bold</b>"}))
    _, second = hs.sync("tickets", deleted=True)
    pushed = hs.push(
        "contacts",
        pd.DataFrame({"email": ["new.one@upsert.example"], "firstname": ["New"]}),
        upsert=True,
        id_property="email",
    )
    page_html = "".join(
        f"<section id='{name}' style='margin:12px;font-family:sans-serif'>{obj._repr_html_()}</section>"
        for name, obj in (("first", first), ("second", second), ("upsert", pushed))
    )
    with playwright.sync_playwright() as p, chromium_page(p, width=1100, height=700) as page:
        page.set_content(f"<html><body>{page_html}</body></html>")
        first_text = page.inner_text("#first")
        second_text = page.inner_text("#second")
        upsert_text = page.inner_text("#upsert")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "sync_reports_browser.png"), full_page=True)
    assert "Full sync" in first_text and "read changes since the beginning" in first_text
    assert "Incremental sync" in second_text and "\n2\nchanged" in second_text
    assert "Push complete" in upsert_text and "created" in upsert_text
