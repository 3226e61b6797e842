"""Shared helpers of the offline-LLM tests."""

from __future__ import annotations

import importlib.util

import pytest

from aikit.exceptions import LocalModelError
from aikit.local.llm.models import find_model


def model_missing() -> str | None:
    """Why the offline model cannot run here (runtime or model missing), or None."""
    if importlib.util.find_spec("xllamacpp") is None:
        return 'runtime missing: pip install "aikit[local]"'
    try:
        find_model(None)
    except LocalModelError as exc:
        return str(exc)
    return None


_REASON = model_missing()
#: ``pytestmark = needs_local_model`` in a module whose tests run the model.
needs_local_model = [pytest.mark.local_llm, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]
