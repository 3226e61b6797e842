"""Shared constants of the connector tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

#: The demo CRM token in connector tests; also a canary that must never show up in output.
TOKEN = "canary-tok-7f3a9c1e5b"
