"""The sales side of the demo dataset: owners, who owns which record, and deals for the demo companies.

:func:`load` runs after the companies, contacts and tickets exist (it reads them from the store) and
adds, deterministically for a seed:

* 9 owners: five account executives in two sales teams, three support agents, one support queue, and
  one deactivated (archived) user;
* ``hubspot_owner_id`` on every company (its account executive), contact (the company's owner) and
  ticket (a support agent), as if set when the record was created;
* one to three deals per company in the default sales pipeline, with amounts that follow the
  company's size, stages from first meeting to won or lost, close dates at midnight UTC, the deal's
  stage history (``propertiesWithHistory=dealstage`` shows how it moved) and associations to the
  company (primary) and one of its contacts.

>>> from aikit.local.crm.store import Store
>>> from aikit.local.crm.seed import load as load_all
>>> store = Store(":memory:")
>>> counts = load_all(store, seed=0)
>>> counts["deals"] >= 50, counts["owners"]
(True, 10)
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aikit.local.crm.store import Store

__all__ = ["load"]

_OWNERS = [
    ("Marta", "Okonkwo", "Sales EMEA"),
    ("Theo", "Lindqvist", "Sales EMEA"),
    ("Alina", "Moreau", "Sales North America"),
    ("Rafael", "Quintero", "Sales North America"),
    ("Jun", "Takahashi", "Sales North America"),
    ("Sadie", "Brennan", "Customer Support"),
    ("Omar", "Haddad", "Customer Support"),
    ("Lena", "Vogel", "Customer Support"),
]
_TEAM_IDS = {"Sales EMEA": "101", "Sales North America": "102", "Customer Support": "201"}
_PRODUCTS = ["Annual plan", "Seat expansion", "Renewal", "Analytics add-on", "Onboarding package"]
_OPEN = [
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
]
_START = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _add_owners(store: Store) -> tuple[list[str], list[str]]:
    sales: list[str] = []
    support: list[str] = []
    for first, last, team in _OWNERS:
        owner = store.owners.add(
            first,
            last,
            f"{first}.{last}@aikit-demo.example".lower(),
            teams=[(_TEAM_IDS[team], team)],
            created_at="2024-01-10T09:00:00.000Z",
        )
        (support if team == "Customer Support" else sales).append(owner["id"])
    store.owners.add(
        "Support",
        "Queue",
        "support-queue@aikit-demo.example",
        teams=[(_TEAM_IDS["Customer Support"], "Customer Support")],
        kind="QUEUE",
        created_at="2024-01-10T09:00:00.000Z",
    )
    store.owners.add(
        "Dana",
        "Whitfield",
        "dana.whitfield@aikit-demo.example",
        archived=True,
        created_at="2024-01-10T09:00:00.000Z",
    )
    return sales, support


def _path(rng: random.Random) -> list[str]:
    """The stages a deal went through, ending in its current one."""
    outcome = rng.choices(["won", "lost", "open"], weights=[30, 15, 55])[0]
    if outcome == "open":
        return _OPEN[: rng.randint(1, len(_OPEN))]
    reached = _OPEN[: rng.randint(2, len(_OPEN))]
    return [*reached, "closedwon" if outcome == "won" else "closedlost"]


def load(store: Store, seed: int = 0) -> dict[str, int]:
    """Add owners, record owners and deals to a store holding the demo companies, contacts, tickets."""
    rng = random.Random(f"aikit-sales-{seed}")
    sales, support = _add_owners(store)
    companies = store.scan("companies")
    contacts_of = store.associations_of("companies", [c.id for c in companies], "contacts")
    owner_of = {c.id: sales[i % len(sales)] for i, c in enumerate(companies)}
    store.backfill("companies", {cid: {"hubspot_owner_id": oid} for cid, oid in owner_of.items()})
    contact_owner: dict[int, dict[str, str]] = {}
    for cid, pairs in contacts_of.items():
        for contact_id, _type in pairs:
            contact_owner[contact_id] = {"hubspot_owner_id": owner_of[cid]}
    store.backfill("contacts", contact_owner)
    store.backfill(
        "tickets", {t.id: {"hubspot_owner_id": support[t.id % len(support)]} for t in store.scan("tickets")}
    )
    deals = 0
    for company in companies:
        employees = int(float(company.props.get("numberofemployees") or 10))
        contacts = [c for c, _ in contacts_of[company.id]]
        for n in range(rng.choice([1, 1, 2, 2, 3])):
            path = _path(rng)
            created = _START + timedelta(days=rng.randint(0, 270), hours=rng.randint(0, 8))
            seats = max(5, min(employees, 400) * rng.choice([1, 2, 3]) // 4)
            amount = seats * rng.choice([18, 25, 40, 60]) * 12
            product = _PRODUCTS[n % len(_PRODUCTS)] if n else rng.choice(_PRODUCTS[:2])
            stamps = [created]
            for _ in path[1:]:
                stamps.append(stamps[-1] + timedelta(days=rng.randint(3, 30), hours=rng.randint(0, 6)))
            closed = path[-1].startswith("closed")
            close = stamps[-1] if closed else stamps[-1] + timedelta(days=rng.randint(14, 120))
            props = {
                "dealname": f"{company.props['name']} - {product}",
                "pipeline": "default",
                "dealstage": path[0],
                "amount": str(amount),
                "closedate": _iso(close.replace(hour=0, minute=0, second=0, microsecond=0)),
                "dealtype": "newbusiness" if n == 0 else "existingbusiness",
                "hs_priority": rng.choice(["low", "medium", "medium", "high"]),
                "hubspot_owner_id": owner_of[company.id],
            }
            links: list[tuple[str, int, int]] = [("companies", company.id, 341), ("companies", company.id, 5)]
            if contacts:
                links.append(("contacts", rng.choice(contacts), 3))
            rec = store.create(
                "deals", props, associations=links, created_at=_iso(created), check=False, source="IMPORT"
            )
            for stage, when in zip(path[1:], stamps[1:], strict=True):
                store.update("deals", str(rec.id), {"dealstage": stage}, source="CRM_UI", at=_iso(when))
            deals += 1
    return {"owners": len(sales) + len(support) + 2, "deals": deals}
