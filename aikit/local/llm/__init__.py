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

from typing import TYPE_CHECKING

from aikit import _lazy

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

_LAZY = {
    "LocalModel": "aikit.local.llm.models",
    "find_model": "aikit.local.llm.models",
    "list_models": "aikit.local.llm.models",
    "LocalEndpoint": "aikit.local.llm.servers",
    "aensure_server": "aikit.local.llm.servers",
    "astop_servers": "aikit.local.llm.servers",
    "ensure_server": "aikit.local.llm.servers",
    "running_servers": "aikit.local.llm.servers",
    "stop_servers": "aikit.local.llm.servers",
}
__getattr__, __dir__ = _lazy.exports(__name__, _LAZY)
