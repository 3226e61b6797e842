"""Shared test setup: every test gets its own AIKIT_HOME so no state leaks between tests or to ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _aikit_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("aikit-home")
    monkeypatch.setenv("AIKIT_HOME", str(home))
    for var in ("AIKIT_CACHE_DIR", "AIKIT_CALLLOG", "AIKIT_WEBHOOK_STORE"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def aikit_home(_aikit_home: Path) -> Path:
    """The AIKIT_HOME directory of this test."""
    return _aikit_home
