"""help() and Shift-Tab show the whole call: each sync method of ``AI`` has its async twin's signature."""

from __future__ import annotations

import inspect
import pydoc

import pytest

from aikit.client import AI, AsyncAI

#: (AI method, AsyncAI method it runs)
PAIRS = [
    ("chat", "achat"),
    ("achat", "achat"),
    ("stream", "astream"),
    ("astream", "astream"),
    ("cached", "cached"),
    ("cache_key", "cache_key"),
    ("estimate_tokens", "estimate_tokens"),
    ("price", "price"),
    ("stats", "stats"),
    ("calls", "calls"),
    ("describe", "describe"),
    ("close", "aclose"),
]


@pytest.mark.parametrize(("sync", "twin"), PAIRS)
def test_each_sync_method_has_the_signature_and_docstring_of_its_async_twin(sync: str, twin: str) -> None:
    facade, core = getattr(AI, sync), getattr(AsyncAI, twin)
    assert inspect.signature(facade) == inspect.signature(core)
    assert (facade.__doc__ or "").startswith(inspect.cleandoc(core.__doc__ or "")[:60])


def test_help_of_chat_lists_every_argument_not_kwargs() -> None:
    params = inspect.signature(AI.chat).parameters
    assert {"prompt", "system", "schema", "temperature", "max_tokens", "cache", "observer"} <= set(params)
    text = pydoc.render_doc(AI.chat, renderer=pydoc.plaintext)
    assert str(inspect.signature(AI.chat)) in text
    assert "Structured output" in text and "InvalidOutputError" in text


def test_every_public_async_method_of_the_core_has_a_facade() -> None:
    core = {n for n, m in vars(AsyncAI).items() if inspect.iscoroutinefunction(m) and not n.startswith("_")}
    facades = {twin for _, twin in PAIRS}
    assert core <= facades
