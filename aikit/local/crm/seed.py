"""The deterministic demo dataset: 50 companies, 220 contacts, 640 support tickets and notes.

Everything is fictional (``.example`` domains, invented names). Tickets span billing, bugs, feature
requests, account issues and general questions, written by angry, neutral and happy customers, with
churn signals here and there ("evaluating alternatives", "do not auto-renew"), so that AI steps in
the notebooks have something real to find. Their words are varied the way real tickets are
(paraphrases, typos, mixed and vague tickets: :mod:`aikit.local.crm.seed_tickets`), and
:func:`seed_provenance` says how each one was written. The same ``seed`` always gives the same data.

>>> from aikit.local.crm.store import Store
>>> store = Store(":memory:")
>>> counts = load(store, seed=0)
>>> counts["tickets"] >= 600 and counts["contacts"] >= 200 and counts["companies"] == 50
True
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from aikit.local.crm import seed_sales
from aikit.local.crm.seed_tickets import ticket_text
from aikit.local.crm.store import Store

__all__ = ["N_COMPANIES", "N_CONTACTS", "N_TICKETS", "load", "seed_provenance"]

N_COMPANIES, N_CONTACTS, N_TICKETS, N_NOTES = 50, 220, 640, 300
_EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

_PREFIX = [
    "Northwind",
    "Bluefin",
    "Copperleaf",
    "Larkspur",
    "Granite Peak",
    "Silverline",
    "Harborview",
    "Redwood",
    "Juniper",
    "Brightwater",
    "Ironbark",
    "Meadowlark",
    "Stonebridge",
    "Tidewater",
    "Foxglove",
    "Kestrel",
    "Amberfield",
    "Cloudberry",
    "Driftwood",
    "Evergreen",
    "Halcyon",
    "Marigold",
    "Oakhurst",
    "Quillon",
    "Saltmarsh",
]
_SUFFIX = [
    "Analytics",
    "Logistics",
    "Health",
    "Foods",
    "Robotics",
    "Outfitters",
    "Studios",
    "Energy",
    "Legal",
    "Travel",
    "Dental",
    "Learning",
    "Bikes",
    "Labs",
    "Insurance",
    "Interiors",
]
_INDUSTRY = {
    "Analytics": "COMPUTER_SOFTWARE",
    "Logistics": "LOGISTICS_AND_SUPPLY_CHAIN",
    "Health": "HOSPITAL_HEALTH_CARE",
    "Foods": "FOOD_PRODUCTION",
    "Robotics": "MACHINERY",
    "Outfitters": "RETAIL",
    "Studios": "MEDIA_PRODUCTION",
    "Energy": "RENEWABLES_ENVIRONMENT",
    "Legal": "LAW_PRACTICE",
    "Travel": "LEISURE_TRAVEL_TOURISM",
    "Dental": "MEDICAL_PRACTICE",
    "Learning": "E_LEARNING",
    "Bikes": "SPORTING_GOODS",
    "Labs": "BIOTECHNOLOGY",
    "Insurance": "INSURANCE",
    "Interiors": "DESIGN",
}
_CITIES = [
    ("Portland", "United States"),
    ("Leeds", "United Kingdom"),
    ("Toronto", "Canada"),
    ("Dublin", "Ireland"),
    ("Melbourne", "Australia"),
    ("Austin", "United States"),
    ("Edinburgh", "United Kingdom"),
    ("Denver", "United States"),
    ("Auckland", "New Zealand"),
    ("Vancouver", "Canada"),
]
_FIRST = [
    "Avery",
    "Blake",
    "Camila",
    "Dario",
    "Elena",
    "Farah",
    "Gideon",
    "Hana",
    "Ivo",
    "Jonah",
    "Keira",
    "Luca",
    "Mira",
    "Nolan",
    "Opal",
    "Priya",
    "Quentin",
    "Rosa",
    "Soren",
    "Tamsin",
    "Uma",
    "Viktor",
    "Wren",
    "Xander",
    "Yara",
    "Zane",
    "Ines",
    "Malik",
    "Noor",
    "Pavel",
]
_LAST = [
    "Ashdown",
    "Bellweather",
    "Castellan",
    "Dunmore",
    "Everly",
    "Fairbanks",
    "Greystone",
    "Holloway",
    "Ingram",
    "Jessup",
    "Kingsley",
    "Lowell",
    "Marchetti",
    "Norcross",
    "Oakley",
    "Pendleton",
    "Quarry",
    "Rainier",
    "Sterling",
    "Thorne",
    "Underhill",
    "Vance",
    "Whitlock",
    "Yardley",
]
_TITLES = [
    "Head of Operations",
    "Finance Manager",
    "IT Administrator",
    "Customer Success Lead",
    "CTO",
    "Office Manager",
    "Data Analyst",
    "VP Sales",
    "Procurement Specialist",
    "Founder",
]
_FEATURES = [
    "dashboard",
    "CSV export",
    "mobile app",
    "API",
    "SSO login",
    "invoice PDF",
    "weekly report",
    "Slack integration",
    "calendar sync",
    "search",
    "user permissions",
    "audit log",
]

# (category, subject template, body template). Slots: {feature} {report} {amount} {invoice} {n} {month}
_REPORTS = ["dashboard", "weekly report", "revenue report", "CSV export", "audit log", "usage report"]

_TOPICS: list[tuple[str, str, str]] = [
    (
        "BILLING_ISSUE",
        "Charged twice for {month}",
        "Our card was charged twice for the {month} subscription ({amount} each time). Invoice {invoice} shows one payment, the bank statement shows two.",  # noqa: E501
    ),
    (
        "BILLING_ISSUE",
        "Invoice {invoice} has the wrong VAT number",
        "Invoice {invoice} lists an old VAT number for us, so our accounts team cannot book it. We need a corrected copy.",  # noqa: E501
    ),
    (
        "BILLING_ISSUE",
        "Refund for unused seats",
        "We removed {n} seats last month but the renewal still billed the full amount of {amount}. Can you refund the difference?",  # noqa: E501
    ),
    (
        "BILLING_ISSUE",
        "Price increase on renewal",
        "The renewal quote is {amount}, which is a lot more than last year for the same plan. Nobody told us about a price change.",  # noqa: E501
    ),
    (
        "BILLING_ISSUE",
        "Need to change the billing contact",
        "Please send future invoices to our finance team instead of me. Invoice {invoice} went to the wrong inbox.",  # noqa: E501
    ),
    (
        "PRODUCT_ISSUE",
        "{feature} times out",
        "The {feature} has been timing out since yesterday. It spins for about a minute and then shows an error. {n} people on my team are affected.",  # noqa: E501
    ),
    (
        "PRODUCT_ISSUE",
        "{report} shows wrong numbers",
        "The totals in the {report} do not match our own records: we count {n} orders for {month}, the {report} says fewer.",  # noqa: E501
    ),
    (
        "PRODUCT_ISSUE",
        "Error 500 when saving settings",
        "Every time I save the notification settings I get an error 500. I tried two browsers and cleared the cache.",  # noqa: E501
    ),
    (
        "PRODUCT_ISSUE",
        "{feature} broken after the update",
        "Since the last update the {feature} no longer works for us. It worked fine on Friday.",
    ),
    (
        "PRODUCT_ISSUE",
        "Data missing from {report}",
        "Records from the last {n} days are missing in the {report}. We rely on it for our Monday meeting.",
    ),
    (
        "FEATURE_REQUEST",
        "Request: dark mode",
        "Could you add a dark mode? Several of us work late shifts and the bright screens are tiring.",
    ),
    (
        "FEATURE_REQUEST",
        "Please add filters to the {report}",
        "It would help a lot to filter the {report} by region and owner. Right now we export everything and filter in a spreadsheet.",  # noqa: E501
    ),
    (
        "FEATURE_REQUEST",
        "Schedule the {report} by email",
        "We would love to get the {report} emailed automatically every Monday morning.",
    ),
    (
        "FEATURE_REQUEST",
        "Bulk edit for records",
        "Editing {n} records one at a time takes ages. A bulk edit option would save us hours every week.",
    ),
    (
        "FEATURE_REQUEST",
        "Two-factor authentication via app",
        "Our security policy now requires authenticator-app 2FA. Is this on the roadmap?",
    ),
    (
        "GENERAL_INQUIRY",
        "Locked out of my account",
        "I am locked out after too many password attempts and the reset email never arrives. I checked the spam folder.",  # noqa: E501
    ),
    (
        "GENERAL_INQUIRY",
        "Transfer account ownership",
        "Our admin left the company. How do we transfer ownership of the account to me?",
    ),
    (
        "GENERAL_INQUIRY",
        "How do I add a new user?",
        "We hired {n} new people this month. What is the quickest way to invite them and give them read-only access?",  # noqa: E501
    ),
    (
        "GENERAL_INQUIRY",
        "Where is our data stored?",
        "Our legal team asks in which region our data is hosted and whether you have a data processing agreement.",  # noqa: E501
    ),
    (
        "GENERAL_INQUIRY",
        "Cancel our trial extension",
        "We no longer need the trial extension. Please make sure we are not charged at the end of it.",
    ),
]
_OPEN = {
    "angry": [
        "This is the third time I am writing about this.",
        "Honestly, this is unacceptable.",
        "I am really frustrated.",
        "We are paying for a service that does not work.",
    ],
    "neutral": ["Hello,", "Hi team,", "Good morning,", "Hi there,"],
    "happy": [
        "Hi! First of all, we love the product.",
        "Hello, thanks for the great support last time.",
        "Hi team, quick one, everything else is working great.",
        "Hey! Big fans of the new release.",
    ],
}
_CLOSE = {
    "angry": [
        "If this is not fixed this week we will cancel.",
        "We are evaluating alternatives.",
        "Please do not auto-renew our contract until this is resolved.",
        "I expect a call from a manager today.",
        "Fix it now, our customers are complaining.",
    ],
    "neutral": ["Thanks.", "Let me know if you need more details.", "Thanks in advance.", "Regards,"],
    "happy": [
        "Thanks so much, you are always quick!",
        "Keep up the great work.",
        "No rush, thank you!",
        "Really appreciate it.",
    ],
}
_NOTES = [
    "<p>QBR with {name}: usage up {n}% quarter on quarter; they want training for new staff.</p>",
    "<p>Escalation call with {name}. Agreed on a fix date; follow up on Friday.</p>",
    "<p>Renewal discussion: {name} asked for a multi-year discount. Sent the proposal.</p>",
    "<p>Onboarding session done with {name}. Next: connect the {feature}.</p>",
    "<p>{name} mentioned budget cuts and is reviewing all tools before renewal.</p>",
    "<p>Called {name} about the open ticket; they were happy with the workaround.</p>",
    "<p>Left a voicemail for {name} about the {feature} beta.</p>",
]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def load(store: Store, seed: int = 0) -> dict[str, int]:
    """Fill an empty ``store`` with the demo dataset for ``seed``; return the counts per type."""
    rng = random.Random(seed)
    text_rng = random.Random(f"ticket-text/{seed}")  # the words only: rng's draws stay as they were
    provenance: list[dict[str, Any]] = []
    counts = {"companies": 0, "contacts": 0, "tickets": 0, "notes": 0}
    with store.transaction():
        names = rng.sample([f"{p} {s}" for p in _PREFIX for s in _SUFFIX], N_COMPANIES)
        companies: list[tuple[int, str, str]] = []
        for i, name in enumerate(names):
            city, country = rng.choice(_CITIES)
            domain = name.lower().replace(" ", "") + ".example"
            created = _EPOCH - timedelta(days=400 - i * 3, hours=rng.randint(0, 8))
            rec = store.create(
                "companies",
                {
                    "name": name,
                    "domain": domain,
                    "industry": _INDUSTRY[name.split()[-1]],
                    "city": city,
                    "country": country,
                    "numberofemployees": str(rng.choice([8, 15, 40, 75, 120, 300, 850, 2400])),
                    "annualrevenue": str(rng.choice([250, 800, 1500, 4000, 12000, 55000]) * 1000),
                    "lifecyclestage": "customer",
                },
                created_at=_iso(created),
                check=False,
            )
            companies.append((rec.id, name, domain))
            counts["companies"] += 1
        contacts: list[tuple[int, str, int]] = []
        used: set[str] = set()
        for i in range(N_CONTACTS):
            company_id, company_name, domain = companies[i % N_COMPANIES]
            while True:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                email = f"{first}.{last}@{domain}".lower()
                if email not in used:
                    used.add(email)
                    break
            city, country = rng.choice(_CITIES)
            created = _EPOCH - timedelta(days=300 - i, minutes=rng.randint(0, 600))
            rec = store.create(
                "contacts",
                {
                    "firstname": first,
                    "lastname": last,
                    "email": email,
                    "phone": f"+1-555-01{rng.randint(0, 99):02d}",
                    "company": company_name,
                    "jobtitle": rng.choice(_TITLES),
                    "city": city,
                    "country": country,
                    "lifecyclestage": rng.choice(["customer"] * 5 + ["opportunity", "evangelist", "lead"]),
                    "hs_lead_status": rng.choice(["CONNECTED", "OPEN", "IN_PROGRESS", "NEW"]),
                },
                associations=[("companies", company_id, 279)],
                created_at=_iso(created),
                check=False,
            )
            contacts.append((rec.id, first, company_id))
            counts["contacts"] += 1
        for i in range(N_TICKETS):
            contact_id, first, company_id = rng.choice(contacts)
            topic_entry = rng.choice(_TOPICS)
            category, topic = topic_entry[0], _TOPICS.index(topic_entry)
            tone = rng.choices(["angry", "neutral", "happy"], weights=[3, 5, 2])[0]
            slots = {
                "feature": rng.choice(_FEATURES),
                "report": rng.choice(_REPORTS),
                "amount": f"${rng.choice([49, 99, 249, 490, 1200, 3600]):,}",
                "invoice": f"INV-{2025}-{rng.randint(1000, 9999)}",
                "n": str(rng.choice([3, 5, 12, 20, 40, 120])),
                "month": rng.choice(_MONTHS),
            }
            opener, closer = rng.choice(_OPEN[tone]), rng.choice(_CLOSE[tone])
            gap = "\n\n" if opener.endswith(",") else " "
            sign = "\n" if closer.endswith(",") else "\n\n"
            others = [j for j, t in enumerate(_TOPICS) if t[0] != category]
            subject, core, made = ticket_text(text_rng, topic, slots, others=others)
            body = f"{opener}{gap}{core} {closer}{sign}{first}"
            priority = {
                "angry": rng.choice(["HIGH", "URGENT", "HIGH", "MEDIUM"]),
                "neutral": rng.choice(["LOW", "MEDIUM", "MEDIUM", "HIGH"]),
                "happy": rng.choice(["LOW", "LOW", "MEDIUM"]),
            }[tone]
            created = _EPOCH + timedelta(minutes=i * 467 + rng.randint(0, 300))
            stage = (
                rng.choice(["4", "4", "4", "1", "2", "3"])
                if i < N_TICKETS * 0.8
                else rng.choice(["1", "2", "3"])
            )
            props = {
                "subject": subject,
                "content": body,
                "hs_pipeline": "0",
                "hs_pipeline_stage": stage,
                "hs_ticket_priority": priority,
                "hs_ticket_category": category,
                "source_type": rng.choice(["EMAIL", "EMAIL", "CHAT", "PHONE", "FORM"]),
            }
            if stage == "4":
                props["closed_date"] = _iso(created + timedelta(hours=rng.randint(2, 200)))
            ticket = store.create(
                "tickets",
                props,
                associations=[("contacts", contact_id, 16), ("companies", company_id, 339)],
                created_at=_iso(created),
                check=False,
            )
            provenance.append({"id": str(ticket.id), "category": category, "tone": tone, **made})
            counts["tickets"] += 1
        for i in range(N_NOTES):
            contact_id, first, company_id = rng.choice(contacts)
            when = _EPOCH + timedelta(hours=i * 23 + rng.randint(0, 20))
            body = rng.choice(_NOTES).format(name=first, n=rng.randint(5, 60), feature=rng.choice(_FEATURES))
            store.create(
                "notes",
                {"hs_note_body": body, "hs_timestamp": _iso(when)},
                associations=[("contacts", contact_id, 202), ("companies", company_id, 190)],
                created_at=_iso(when),
                check=False,
            )
            counts["notes"] += 1
        counts.update(seed_sales.load(store, seed))  # owners, record owners and deals (seed_sales.py)
        store.set_meta("ticket_provenance", json.dumps(provenance, separators=(",", ":")))
        store.set_meta("seeded", str(seed))
    return counts


def seed_provenance(source: Store | int = 0) -> list[dict[str, Any]]:
    """How each seeded ticket was written: its id, category, tone, topic, phrasings, slots, typo, mix.

    ``source`` is a seeded :class:`Store` (e.g. ``DemoCRM(...).store``) or a seed (loaded into a fresh
    in-memory store). Tickets with the same ``topic`` and ``body_variant`` are paraphrase-level
    near-duplicates; ``mixed_with`` names a second topic; ``subject_style`` "vague" has a subject that
    says nothing. Issue 20's dedupe test and the label benchmark read this to know which are which.

    >>> rows = seed_provenance(0)
    >>> len(rows), {"id", "category", "topic", "body_variant", "slots"} <= set(rows[0])
    (640, True)
    """
    store = source if isinstance(source, Store) else Store(":memory:")
    if not isinstance(source, Store):
        load(store, seed=source)
    raw = store.get_meta("ticket_provenance")
    if raw is None:
        raise ValueError("this store was not filled by aikit.local.crm.seed.load")
    rows: list[dict[str, Any]] = json.loads(raw)
    return rows
