"""Shared constants and helpers of the demo CRM tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import httpx

from aikit.local.crm import DemoCRM

TOKEN = "test-token-4b1d"


def client(server: DemoCRM, token: str = TOKEN) -> httpx.Client:
    """A sync httpx client for raw API calls with the Bearer token."""
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
