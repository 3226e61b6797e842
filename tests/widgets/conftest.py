"""Every widget test starts with an empty session store and no .env (tests/conftest.py: clean_credentials)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_credentials(clean_credentials: None) -> None:
    """Apply the shared ``clean_credentials`` fixture to every test here."""
