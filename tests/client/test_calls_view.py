"""``ai.calls()`` shows this client's calls (what ``ai.stats()`` counts); ``all=True`` the whole log."""

from __future__ import annotations

import aikit
from aikit.testing import FakeProvider


def _ai(fake: FakeProvider) -> aikit.AI:
    return aikit.AI("openai:gpt-4o-mini", base_url=fake.base_url, api_key=fake.config.api_key)


def test_calls_default_to_this_client_and_all_gives_the_history(fake: FakeProvider) -> None:
    earlier = _ai(fake)
    for i in range(4):
        earlier.chat(f"an earlier run's prompt {i}")
    earlier.close()
    ai = _ai(fake)  # same provider, model and base URL: a later session of the same notebook
    ai.chat("first")
    ai.chat("second")
    ai.chat("first")  # a cache hit is a row too
    mine = ai.calls()
    assert set(mine.session) == {ai.session}
    assert list(mine.outcome) == ["ok", "ok", "cache_hit"]
    assert len(mine) == ai.stats()["requests"] == 3
    history = ai.calls(all=True)
    assert len(history) == 7 and set(history.session) == {earlier.session, ai.session}
    assert "this client" in (aikit.AI.calls.__doc__ or "") and "all=True" in (aikit.AI.calls.__doc__ or "")
