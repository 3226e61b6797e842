"""The demo CRM: a local, SQLite-backed server speaking a faithful subset of HubSpot's CRM v3 API.

>>> from aikit.local.crm import DemoCRM
>>> server = DemoCRM(seed=0).start()           # doctest: +SKIP
>>> server.url, server.token                    # doctest: +SKIP

Or from a shell: ``aikit serve crm --port 8765 --token demo-token``. Modules: ``schema`` (object and
association types), ``store`` (SQLite), ``search`` (filter semantics), ``objects`` / ``catalog`` (the
endpoints), ``ratelimit``, ``webhooks`` (signed deliveries), ``app`` (ASGI), ``server`` (the thread),
``seed`` (the demo dataset), ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aikit.local.crm.server import DemoCRM

__all__ = ["DemoCRM"]


def __getattr__(name: str) -> Any:
    if name == "DemoCRM":
        from aikit.local.crm.server import DemoCRM

        return DemoCRM
    raise AttributeError(f"module 'aikit.local.crm' has no attribute {name!r}")
