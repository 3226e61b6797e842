"""``aikit.AI("local")``: the embedded model starts at the first call (not in the constructor)."""

from __future__ import annotations

import time

import pytest

import aikit

pytestmark = pytest.mark.local_llm  # skipped with the reason when the model is missing (conftest.py)


def test_local_is_lazy_then_answers_deterministically_and_caches() -> None:
    from aikit.local.llm.servers import running_servers

    before = len(running_servers())
    t0 = time.perf_counter()
    ai = aikit.AI("local")
    assert time.perf_counter() - t0 < 0.5 and len(running_servers()) == before  # nothing started yet
    assert ai.aio.cache_key("Say OK", max_tokens=5) == ai.aio.cache_key("Say OK", max_tokens=5, temperature=0)
    r = ai.chat("Reply with the single word OK.", max_tokens=8)
    assert r.text.strip() and not r.cached and r.cost_usd == 0.0 and r.usage.output_tokens > 0
    assert len(running_servers()) >= 1
    again = ai.chat("Reply with the single word OK.", max_tokens=8)
    assert again.cached and again.text == r.text
    fresh = ai.chat("Reply with the single word OK.", max_tokens=8, cache="off")
    assert fresh.text == r.text  # temperature 0 by default: deterministic
