"""Each public sync method of HubSpot and RestSource is generated from its async twin (signature, docs)."""

from __future__ import annotations

import inspect

import pytest

from aikit.connectors.hubspot import HubSpot
from aikit.connectors.rest import RestSource


def _pairs(cls: type) -> list[tuple[str, str]]:
    public = {name for name in dir(cls) if not name.startswith("_")}
    return sorted((name, f"a{name}") for name in public if f"a{name}" in public)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (HubSpot, ["close", "create_property", "fetch", "owners", "pipelines", "push", "sync", "sync_into"]),
        (RestSource, ["close", "fetch"]),
    ],
)
def test_sync_twins_have_the_async_signature_and_docstring(cls: type, expected: list[str]) -> None:
    pairs = _pairs(cls)
    if cls is HubSpot:  # "a" + "sync" is a keyword: its async twin is async_ (PEP 8)
        pairs = sorted([*pairs, ("sync", "async_")])
    assert [sync for sync, _ in pairs] == expected
    for sync_name, async_name in pairs:
        sync, asynchronous = getattr(cls, sync_name), getattr(cls, async_name)
        assert inspect.iscoroutinefunction(asynchronous) and not inspect.iscoroutinefunction(sync)
        assert inspect.signature(sync) == inspect.signature(asynchronous), sync_name
        doc = inspect.cleandoc(asynchronous.__doc__ or "")
        assert doc and sync.__doc__.startswith(doc) and f"``{async_name}``" in sync.__doc__
    fetch = inspect.signature(cls.fetch)  # type: ignore[attr-defined]
    assert "limit" in fetch.parameters and fetch.parameters["limit"].kind is inspect.Parameter.KEYWORD_ONLY
