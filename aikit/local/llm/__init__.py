"""The embedded offline LLM: llama.cpp servers in child processes, their model files, ``aikit serve ai``.

>>> from aikit.local.llm import ensure_server
>>> ensure_server().base_url                      # doctest: +SKIP
'http://127.0.0.1:41235/v1'

Modules: ``servers`` (start, share, watch, restart and stop one server per model and process;
``aikit.AI("local")`` reaches it through :mod:`aikit.client.backends`), ``serve`` (the child
process's entry point around ``xllamacpp.Server``), ``models`` (finding and pulling GGUF files),
``cli`` (``aikit serve ai``, the same server in the foreground) and ``models_cli`` (``aikit models``).
The names below are imported on first use, so importing this package loads nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aikit.local.llm.models import LocalModel, find_model, list_models
    from aikit.local.llm.servers import (
        LocalEndpoint,
        aensure_server,
        astop_servers,
        ensure_server,
        running_servers,
        stop_servers,
    )

__all__ = [
    "LocalEndpoint",
    "LocalModel",
    "aensure_server",
    "astop_servers",
    "ensure_server",
    "find_model",
    "list_models",
    "running_servers",
    "stop_servers",
]

_HOMES = {
    "LocalModel": "models",
    "find_model": "models",
    "list_models": "models",
    "LocalEndpoint": "servers",
    "aensure_server": "servers",
    "astop_servers": "servers",
    "ensure_server": "servers",
    "running_servers": "servers",
    "stop_servers": "servers",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'aikit.local.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"aikit.local.llm.{home}"), name)
