"""The demo org's data: the demo CRM's fictional companies, people and tickets, as Salesforce records.

The dataset is the one :mod:`aikit.local.crm.seed` builds for the same ``seed`` (read from a throwaway
in-memory demo CRM, so both demos always show the same companies): companies become Accounts,
contacts Contacts, tickets Cases (subject, description, status, priority, origin, type, with the
ticket id in the ``Ticket_Id__c`` external id), and each Account gets Opportunities drawn from the
same seeded generator. ``cases=N`` asks for more Cases than the demo CRM has tickets (benchmarks use
5,000); the extra ones reuse the ticket texts on later dates, so they read as real tickets too.

>>> from aikit.local.salesforce.store import Store
>>> store = Store(":memory:")
>>> counts = load(store, seed=0)
>>> counts["Account"], counts["Case"] >= 600, store.count("Opportunity") > 0
(50, True, True)
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from aikit.local.salesforce.schema import STAGE_PROBABILITY
from aikit.local.salesforce.store import Store
from aikit.local.salesforce.wire import format_datetime, parse_datetime

__all__ = ["load"]

_STATUS = {"1": "New", "2": "Working", "3": "Escalated", "4": "Closed"}
_PRIORITY = {"LOW": "Low", "MEDIUM": "Medium", "HIGH": "High", "URGENT": "High"}
_ORIGIN = {"EMAIL": "Email", "CHAT": "Chat", "PHONE": "Phone", "FORM": "Web"}
_TYPE = {
    "BILLING_ISSUE": "Billing",
    "PRODUCT_ISSUE": "Problem",
    "FEATURE_REQUEST": "Feature Request",
    "GENERAL_INQUIRY": "Question",
}
_INDUSTRY = {
    "COMPUTER_SOFTWARE": "Technology",
    "LOGISTICS_AND_SUPPLY_CHAIN": "Transportation",
    "HOSPITAL_HEALTH_CARE": "Healthcare",
    "FOOD_PRODUCTION": "Food & Beverage",
    "MACHINERY": "Machinery",
    "RETAIL": "Retail",
    "MEDIA_PRODUCTION": "Media",
    "RENEWABLES_ENVIRONMENT": "Energy",
    "LAW_PRACTICE": "Consulting",
    "LEISURE_TRAVEL_TOURISM": "Hospitality",
    "MEDICAL_PRACTICE": "Healthcare",
    "E_LEARNING": "Education",
    "SPORTING_GOODS": "Recreation",
    "BIOTECHNOLOGY": "Biotechnology",
    "INSURANCE": "Insurance",
    "DESIGN": "Other",
}
_PRODUCTS = [
    "Platform licence",
    "Analytics add-on",
    "Premium support",
    "Seat expansion",
    "Onboarding package",
]


def _stamp(text: str | None) -> str | None:
    parsed = parse_datetime(text) if text else None
    return format_datetime(parsed) if parsed else None


def _crm_data(
    seed: int,
) -> tuple[list[Any], list[Any], list[Any], dict[int, int], dict[int, tuple[int, int]]]:
    from aikit.local.crm.seed import load as load_crm
    from aikit.local.crm.store import Store as CrmStore

    crm = CrmStore(":memory:")
    try:
        load_crm(crm, seed=seed)
        companies, contacts, tickets = crm.scan("companies"), crm.scan("contacts"), crm.scan("tickets")
        works_at = {
            cid: links[0][0]
            for cid, links in crm.associations_of("contacts", [c.id for c in contacts], "companies").items()
            if links
        }
        by_contact = crm.associations_of("tickets", [t.id for t in tickets], "contacts")
        by_company = crm.associations_of("tickets", [t.id for t in tickets], "companies")
        about = {
            t.id: (
                by_contact[t.id][0][0] if by_contact[t.id] else 0,
                by_company[t.id][0][0] if by_company[t.id] else 0,
            )
            for t in tickets
        }
    finally:
        crm.close()
    return companies, contacts, tickets, works_at, about


def load(store: Store, seed: int = 0, cases: int | None = None) -> dict[str, int]:
    """Fill an empty ``store`` with the demo org's data for ``seed``; returns the counts per object."""
    rng = random.Random(f"salesforce-{seed}")
    companies, contacts, tickets, works_at, about = _crm_data(seed)
    accounts: dict[int, str] = {}
    people: dict[int, str] = {}
    with store.transaction():
        for company in companies:
            p = company.props
            revenue = p.get("annualrevenue")
            employees = p.get("numberofemployees")
            accounts[company.id] = store.insert(
                "Account",
                {
                    "Name": p.get("name"),
                    "Website": f"https://www.{p.get('domain')}",
                    "Industry": _INDUSTRY.get(str(p.get("industry")), "Other"),
                    "BillingCity": p.get("city"),
                    "BillingCountry": p.get("country"),
                    "AnnualRevenue": float(revenue) if revenue else None,
                    "NumberOfEmployees": int(employees) if employees else None,
                    "Type": "Customer - Direct",
                    "Rating": rng.choice(["Hot", "Warm", "Warm", "Cold"]),
                    "Phone": f"+1-555-02{rng.randint(0, 99):02d}",
                },
                created=_stamp(company.created_at),
            )
        for contact in contacts:
            p = contact.props
            people[contact.id] = store.insert(
                "Contact",
                {
                    "FirstName": p.get("firstname"),
                    "LastName": p.get("lastname"),
                    "Email": p.get("email"),
                    "Phone": p.get("phone"),
                    "Title": p.get("jobtitle"),
                    "MailingCity": p.get("city"),
                    "MailingCountry": p.get("country"),
                    "AccountId": accounts.get(works_at.get(contact.id, 0)),
                    "LeadSource": rng.choice(["Web", "Web", "Phone Inquiry", "Partner Referral", "Other"]),
                },
                created=_stamp(contact.created_at),
            )
        wanted = len(tickets) if cases is None else cases
        last = parse_datetime(tickets[-1].created_at) if tickets else None
        for n in range(wanted):
            ticket = tickets[n % len(tickets)]
            rounds = n // len(tickets)
            p = ticket.props
            contact_id, company_id = about[ticket.id]
            created = parse_datetime(ticket.created_at) or datetime(2025, 1, 6, tzinfo=UTC)
            if rounds and last is not None:
                created = (
                    created + (last - datetime(2025, 1, 6, 8, tzinfo=UTC)) * rounds + timedelta(hours=rounds)
                )
            status = _STATUS.get(str(p.get("hs_pipeline_stage")), "New")
            closed = _stamp(p.get("closed_date")) if status == "Closed" and not rounds else None
            store.insert(
                "Case",
                {
                    "Subject": p.get("subject"),
                    "Description": p.get("content"),
                    "Status": status,
                    "Priority": _PRIORITY.get(str(p.get("hs_ticket_priority")), "Medium"),
                    "Origin": _ORIGIN.get(str(p.get("source_type")), "Email"),
                    "Type": _TYPE.get(str(p.get("hs_ticket_category")), "Other"),
                    "AccountId": accounts.get(company_id),
                    "ContactId": people.get(contact_id),
                    "Ticket_Id__c": str(ticket.id) if not rounds else f"{ticket.id}-{rounds}",
                    "ClosedDate": closed,
                },
                created=format_datetime(created),
            )
        opportunities = 0
        for company in companies:
            for _ in range(rng.choice([1, 1, 2, 2, 3])):
                stage = rng.choice(list(STAGE_PROBABILITY))
                close = datetime(2025, 1, 6, tzinfo=UTC) + timedelta(days=rng.randint(-120, 240))
                store.insert(
                    "Opportunity",
                    {
                        "Name": f"{company.props.get('name')} - {rng.choice(_PRODUCTS)}",
                        "AccountId": accounts[company.id],
                        "StageName": stage,
                        "CloseDate": close.date().isoformat(),
                        "Amount": float(rng.choice([4, 9, 12, 24, 48, 90, 150]) * 1000),
                        "Type": rng.choice(["New Customer", "Existing Customer - Upgrade"]),
                        "LeadSource": rng.choice(["Web", "Partner Referral", "Phone Inquiry"]),
                    },
                    created=_stamp(company.created_at),
                )
                opportunities += 1
        store.set_meta("seeded", str(seed))
    return {"Account": len(accounts), "Contact": len(people), "Case": wanted, "Opportunity": opportunities}
