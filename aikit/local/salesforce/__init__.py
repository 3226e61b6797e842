"""The demo Salesforce org: a local HTTPS server speaking a faithful subset of Salesforce's REST API.

>>> from aikit.local.salesforce import DemoSalesforce
>>> org = DemoSalesforce(seed=0).start()       # doctest: +SKIP
>>> org.url, org.token, org.ca_file             # doctest: +SKIP

Or from a shell: ``aikit serve salesforce --port 8443``. Modules:

* data: ``schema`` (Account, Contact, Case, Opportunity, User and their describe), ``wire`` (ids,
  timestamps, the error shape), ``validate`` (field-level checks), ``store`` (SQLite, mirrored in
  memory), ``seed`` (the demo CRM's companies as Salesforce records), ``soql`` (the parser) and
  ``query`` (running it);
* endpoints, each ``Call -> Reply``: ``rest`` (query, sObjects, collections, limits), ``bulk``
  (Bulk API 2.0 query jobs), ``describe`` (describe and limits bodies), ``oauth`` (token endpoint,
  sessions, connected apps);
* serving: ``org`` (shared state, API budget, cursors), ``app`` (ASGI), ``tls`` (the local CA),
  ``server`` (:class:`DemoSalesforce`), ``cli`` (``aikit serve salesforce``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikit import _lazy

if TYPE_CHECKING:
    from aikit.local.salesforce.server import DemoSalesforce

__all__ = ["DemoSalesforce"]


__getattr__, __dir__ = _lazy.exports(__name__, {"DemoSalesforce": "aikit.local.salesforce.server"})
