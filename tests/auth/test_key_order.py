"""aikit.AI resolves its key in the one order (explicit > session > env > .env > keyring), end to end.

The fake provider accepts exactly one key at a time, so a call that succeeds proves which level the
client used. The session store is what the login panel and ``aikit.auth.set_secret`` fill.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import aikit
from aikit.exceptions import MissingCredentialError, ProviderHTTPError
from aikit.local.crm import DemoCRM
from aikit.testing import FakeConfig, FakeProvider

MODEL = "openai:gpt-4o-mini"
SCHEMA = {"type": "object", "properties": {"tone": {"type": "string"}}, "required": ["tone"]}


@pytest.fixture
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "AIKIT_API_KEY", "HUBSPOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def accept(fake: FakeProvider, fake_config: FakeConfig) -> Iterator[Callable[[str], None]]:
    """``accept(key)``: the fake provider takes only ``key`` until the test ends."""

    def accept(key: str) -> None:
        fake.configure(api_key=key)

    yield accept
    fake.configure(api_key=fake_config.api_key)


def _chat(fake: FakeProvider, **kwargs: Any) -> str:
    return aikit.AI(MODEL, base_url=fake.base_url, cache=False, **kwargs).chat("hi").text


@pytest.mark.usefixtures("no_key_in_env")
def test_each_level_beats_the_next(
    fake: FakeProvider,
    accept: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    fake_keyring: Callable[..., dict[tuple[str, str], str]],
) -> None:
    with pytest.raises(MissingCredentialError, match="OPENAI_API_KEY"):
        _chat(fake)
    fake_keyring(usable=True)[("aikit", "OPENAI_API_KEY")] = "sk-from-keyring"
    accept("sk-from-keyring")
    assert _chat(fake).startswith("fake-")
    Path(".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")  # the cwd is a fresh tmp dir
    accept("sk-from-dotenv")
    assert _chat(fake).startswith("fake-")  # .env beats keyring
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    accept("sk-from-env")
    assert _chat(fake).startswith("fake-")  # environment beats .env
    aikit.auth.set_secret("OPENAI_API_KEY", "sk-from-session")
    accept("sk-from-session")
    assert _chat(fake).startswith("fake-")  # session beats environment
    accept("sk-explicit")
    assert _chat(fake, api_key="sk-explicit").startswith("fake-")  # explicit beats session
    with pytest.raises(ProviderHTTPError, match="401"):
        _chat(fake)  # and without it the session key is used, which the provider now refuses


@pytest.mark.usefixtures("no_key_in_env")
def test_a_session_key_for_the_fallback_variable_beats_the_environment(
    fake: FakeProvider, accept: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-specific")
    aikit.auth.set_secret("AIKIT_API_KEY", "sk-session-fallback")
    accept("sk-session-fallback")
    assert _chat(fake).startswith("fake-")
    aikit.auth.forget_secret("AIKIT_API_KEY")
    accept("sk-env-specific")
    assert _chat(fake).startswith("fake-")


@pytest.mark.usefixtures("no_key_in_env")
def test_a_pending_secret_resolves_from_the_session(
    fake: FakeProvider, accept: Callable[[str], None]
) -> None:
    pending = aikit.auth.Secret(None, name="OPENAI_API_KEY", source="pending")  # what secret() returns
    aikit.auth.set_secret("OPENAI_API_KEY", "sk-typed-later")
    accept("sk-typed-later")
    assert _chat(fake, api_key=pending).startswith("fake-")


@pytest.mark.usefixtures("no_key_in_env")
def test_session_keys_leave_no_trace(
    fake: FakeProvider,
    accept: Callable[[str], None],
    aikit_home: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "sk-" + "CANARY-session-3b7e1f"
    crm_canary = "pat-" + "CANARY-session-9c4d2a"
    caplog.set_level(logging.DEBUG)
    accept(canary)
    aikit.auth.set_secret("OPENAI_API_KEY", canary)
    aikit.auth.set_secret("HUBSPOT_TOKEN", crm_canary)
    ai = aikit.AI(MODEL, base_url=fake.base_url)  # default disk cache and call log under AIKIT_HOME
    ai.chat("secret-free prompt", schema=SCHEMA)
    assert ai.chat("secret-free prompt", schema=SCHEMA).cached
    list(ai.stream("stream me"))
    with pytest.raises(ProviderHTTPError) as failed:
        ai.chat("FAIL400")
    with DemoCRM(token=crm_canary) as server:
        crm = aikit.HubSpot(base_url=server.url)
        frame = crm.fetch("contacts", limit=20)
        rest = aikit.RestSource(
            server.url, records="results", pagination=None, token_variable="HUBSPOT_TOKEN"
        )
        rows = rest.fetch("/crm/v3/objects/companies")
    texts = [
        repr(ai),
        repr(ai.describe()),
        str(failed.value),
        repr(crm),
        repr(crm.session),
        repr(rest),
        frame.to_csv(),
        rows.to_csv(),
        ai.calls(all=True).to_csv(),
        repr(aikit.auth.lookup_secret("OPENAI_API_KEY")),
        caplog.text,
    ]
    ai.close()
    for secret in (canary, crm_canary):
        assert not any(secret in text for text in texts)
    files = [p for p in aikit_home.rglob("*") if p.is_file()]
    assert any(p.name == "calls.sqlite" for p in files) and any("cache" in str(p) for p in files)
    for path in files:
        data = path.read_bytes()
        assert canary.encode() not in data and crm_canary.encode() not in data, path
