"""Every file aikit writes under $AIKIT_HOME is 0600 and every directory 0700, from creation:
SQLite's -wal/-shm companions included (they copy the database file's mode when they are made)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

import aikit
from aikit.settings import ensure_dir, settings
from aikit.testing import FakeProvider
from aikit.webhooks.listener import WebhookListener

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX modes")


def _modes(home: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            path = Path(root) / name
            found[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_every_state_file_is_private_after_a_full_run(
    aikit_home: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIKIT_HOME", str(aikit_home / "fresh"))  # created by aikit itself
    old = os.umask(0o022)  # the usual default: what aikit must not rely on
    try:
        home = settings().home
        ai = aikit.AI("compat:fake-model", base_url=fake.base_url, api_key=fake.config.api_key)
        assert ai.chat("hello", max_tokens=8).text
        assert ai.chat("hello", max_tokens=8).cached
        frame = pd.DataFrame({"text": ["a", "b", "c"]})
        frame.ai.map("Summarise: {text}", ai=ai, progress=False)
        assert len(ai.calls()) >= 2
        with WebhookListener(port=0) as hook:  # the default store under $AIKIT_HOME
            hook.add_source("gh", scheme="github", secret="s")
            hook.on("gh")(lambda event: event.memo("k", lambda: "v"))
            hook.simulate("gh", {"n": 1})
            assert hook.wait_idle(10)
        ai.close()
    finally:
        os.umask(old)
    modes = _modes(home)
    names = set(modes)
    assert {"calls.sqlite", "webhooks.sqlite", "cache"} <= names, names
    assert any(n.endswith("-wal") for n in names) or any(n.endswith("-shm") for n in names), names
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (home / name).is_dir() else 0o600)
    }
    assert wrong == {}


def test_an_existing_home_left_open_by_an_older_aikit_is_closed(aikit_home: Path) -> None:
    aikit_home.chmod(0o755)
    ensure_dir(aikit_home / "cache")
    assert stat.S_IMODE(aikit_home.stat().st_mode) == 0o700
    elsewhere = aikit_home.parent / "not-aikits"
    elsewhere.mkdir(mode=0o755, exist_ok=True)
    elsewhere.chmod(0o755)
    ensure_dir(elsewhere / "store")  # a directory the user chose keeps its mode; the new one is 0700
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755
    assert stat.S_IMODE((elsewhere / "store").stat().st_mode) == 0o700
