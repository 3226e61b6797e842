"""The examples in the webhook modules' docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "aikit.webhooks.app",
    "aikit.webhooks.cli",
    "aikit.webhooks.config",
    "aikit.webhooks.display",
    "aikit.webhooks.frame",
    "aikit.webhooks.handlers",
    "aikit.webhooks.hosting",
    "aikit.webhooks.listener",
    "aikit.webhooks.live",
    "aikit.webhooks.monitor",
    "aikit.webhooks.server",
    "aikit.webhooks.sign",
    "aikit.webhooks.simulate",
    "aikit.webhooks.sources",
    "aikit.webhooks.store",
    "aikit.webhooks.verify",
    "aikit.webhooks.view",
    "aikit.webhooks.writer",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
