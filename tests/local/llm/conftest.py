"""Offline-LLM tests: a test marked ``local_llm`` runs the embedded model, and is skipped (with the
reason) when the runtime or the model file is not installed."""

from __future__ import annotations

import functools
import importlib.util

import pytest

from aikit.exceptions import LocalModelError
from aikit.local.llm.models import find_model


@functools.cache
def _model_missing() -> str | None:
    """Why the offline model cannot run here (runtime or model missing), or None."""
    if importlib.util.find_spec("xllamacpp") is None:
        return 'runtime missing: pip install "aikit[local]"'
    try:
        find_model(None)
    except LocalModelError as exc:
        return f"no local model: {exc}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("local_llm") is not None and (reason := _model_missing()) is not None:
        pytest.skip(reason)
