"""Who and what the portal is: ``/crm/v3/owners`` and ``/account-info/v3/details``.

Owners page by id (``after``, ``limit`` up to 500, default 100) and filter by ``email``; one owner
reads by ``id`` or ``idProperty=userId``. The account details give the portal id that clients key
their state by (:class:`aikit.connectors.sync.SyncState`).
"""

from __future__ import annotations

from typing import Any

from aikit.local.crm.objects import Call
from aikit.local.crm.wire import StoreError

__all__ = ["handlers"]

MAX_OWNERS = 500


def list_owners(call: Call) -> tuple[int, Any]:
    limit = call.integer("limit", 100, 1, MAX_OWNERS)
    after = call.integer("after", 0, 0, 2**62)
    results, nxt = call.store.owners.page(
        email=call.query.get("email"), after=after, limit=limit, archived=call.flag("archived")
    )
    body: dict[str, Any] = {"results": results}
    if nxt is not None:
        body["paging"] = {
            "next": {"after": nxt, "link": f"{call.base_url}/crm/v3/owners/?after={nxt}&limit={limit}"}
        }
    return 200, body


def get_owner(call: Call) -> tuple[int, Any]:
    id_property = call.query.get("idProperty", "id")
    if id_property not in ("id", "userId"):
        raise StoreError(400, "VALIDATION_ERROR", f"idProperty must be id or userId, got {id_property!r}")
    owner = call.store.owners.get(call.path["owner"], id_property=id_property, archived=call.flag("archived"))
    if owner is None:
        raise StoreError(404, "OBJECT_NOT_FOUND", f"No owner with {id_property} {call.path['owner']}")
    return 200, owner


def account_details(call: Call) -> tuple[int, Any]:
    return 200, {
        "portalId": int(call.store.get_meta("portal_id") or 0),
        "accountType": "STANDARD",
        "timeZone": "Etc/UTC",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "+00:00",
        "utcOffsetMilliseconds": 0,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


def handlers() -> dict[str, Any]:
    """Name -> handler, for the app's route table."""
    return {"owners.list": list_owners, "owners.get": get_owner, "account.details": account_details}
