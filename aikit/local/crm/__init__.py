"""The demo CRM: a local, SQLite-backed server speaking a faithful subset of HubSpot's CRM v3 API.

>>> from aikit.local.crm import DemoCRM
>>> server = DemoCRM(seed=0).start()           # doctest: +SKIP
>>> server.url, server.token                    # doctest: +SKIP

Or from a shell: ``aikit serve crm --port 8765 --token demo-token``. Modules:

* data: ``schema`` (object, association and webhook event types), ``wire`` (HubSpot's error shape,
  timestamps and string values), ``store`` (SQLite: objects and associations), ``property_store``
  (property definitions, groups, value checks), ``webhook_store`` (webhook apps and subscriptions),
  ``search`` (filter semantics), ``seed`` (the demo dataset);
* endpoints, each ``Call -> (status, body)``: ``objects``, ``properties``, ``associations``,
  ``subscriptions``;
* serving: ``app`` (ASGI: auth, rate limits via ``ratelimit``, errors), ``webhooks`` (signed
  deliveries with retries), ``server`` (:class:`DemoCRM`, in a thread), ``cli`` (``aikit serve crm``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikit import _lazy

if TYPE_CHECKING:
    from aikit.local.crm.server import DemoCRM

__all__ = ["DemoCRM"]


__getattr__, __dir__ = _lazy.exports(__name__, {"DemoCRM": "aikit.local.crm.server"})
