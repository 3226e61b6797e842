"""The Salesforce connector: SOQL to typed DataFrames, pushes through sObject Collections, org logins.

>>> import aikit
>>> sf = aikit.Salesforce(instance_url="https://acme.my.salesforce.com", auth="...")   # doctest: +SKIP

Modules: ``client`` (:class:`Salesforce`), ``soql`` (queries built with escaped literals, select lists),
``records`` (records and Bulk CSV <-> typed DataFrames), ``push`` (describe checks, diff, collection
writes), ``limits`` (Salesforce's error shape and retry rules, pacing to the API budget), ``auth``
(JWT bearer, client credentials and web server logins on :mod:`aikit.auth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aikit import _lazy

if TYPE_CHECKING:
    from aikit.connectors.salesforce.auth import (
        salesforce_client_credentials_auth,
        salesforce_jwt_auth,
        salesforce_web_auth,
    )
    from aikit.connectors.salesforce.client import Salesforce

__all__ = ["Salesforce", "salesforce_client_credentials_auth", "salesforce_jwt_auth", "salesforce_web_auth"]

__getattr__, __dir__ = _lazy.exports(
    __name__,
    {
        "Salesforce": "aikit.connectors.salesforce.client",
        "salesforce_client_credentials_auth": "aikit.connectors.salesforce.auth",
        "salesforce_jwt_auth": "aikit.connectors.salesforce.auth",
        "salesforce_web_auth": "aikit.connectors.salesforce.auth",
    },
)
