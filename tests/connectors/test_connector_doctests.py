"""The examples in the CRM modules' docstrings run (those not marked ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "aikit.connectors.frames",
    "aikit.connectors.push",
    "aikit.connectors.pacing",
    "aikit.connectors.report",
    "aikit.connectors.session",
    "aikit.connectors.where",
    "aikit.connectors.rest",
    "aikit.connectors.hubspot",
    "aikit.local.crm.schema",
    "aikit.local.crm.search",
    "aikit.local.crm.store",
    "aikit.local.crm.ratelimit",
    "aikit.local.crm.seed",
    "aikit.local.crm.webhooks",
    "aikit.local.crm.server",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
