"""Every module's docstring examples run, as diskcache's ``tests/test_doctest.py`` does.

Examples that need something a test machine does not have (a real provider key, a live kernel, a
server started elsewhere) are marked ``+SKIP`` in the docstring itself; everything else runs here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import aikit

#: Modules that run something when imported (the ``python -m aikit`` entry point).
NOT_IMPORTABLE = {"aikit.__main__"}
MODULES = sorted(
    {"aikit"}
    | {m.name for m in pkgutil.walk_packages(aikit.__path__, "aikit.") if m.name not in NOT_IMPORTABLE}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see stdout)"
