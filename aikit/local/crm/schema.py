"""The demo CRM's data model: object types, built-in properties and association types.

These mirror HubSpot CRM v3 closely enough that code written against the demo works against a real
portal: object type names and ids, the default properties returned when ``properties`` is omitted,
the read-only system properties, the HUBSPOT_DEFINED association type ids (v4) and the webhook
event types.

>>> OBJECT_TYPES["tickets"].type_id
'0-5'
>>> association_type("tickets", "contacts")
(16, 'ticket_to_contact')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ASSOCIATION_TYPES",
    "EVENT_TYPES",
    "OBJECT_TYPES",
    "READ_ONLY",
    "ObjectType",
    "association_type",
    "builtin_properties",
    "modified_property",
    "resolve_object_type",
    "type_pair_for_id",
]


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type: its plural name, HubSpot type id, singular and default properties."""

    name: str
    type_id: str
    singular: str
    defaults: tuple[str, ...]
    group: str


OBJECT_TYPES: dict[str, ObjectType] = {
    "contacts": ObjectType(
        "contacts", "0-1", "contact", ("firstname", "lastname", "email"), "contactinformation"
    ),
    "companies": ObjectType("companies", "0-2", "company", ("name", "domain"), "companyinformation"),
    "tickets": ObjectType(
        "tickets",
        "0-5",
        "ticket",
        (
            "content",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_category",
            "hs_ticket_priority",
            "subject",
        ),
        "ticketinformation",
    ),
    "notes": ObjectType("notes", "0-46", "note", ("hs_note_body", "hs_timestamp"), "engagement"),
}

_ALIASES = {t.type_id: t.name for t in OBJECT_TYPES.values()} | {
    t.singular: t.name for t in OBJECT_TYPES.values()
}


def resolve_object_type(name: str) -> str | None:
    """The canonical plural name for ``contacts``, ``contact`` or ``0-1``; None when unknown."""
    key = name.strip().lower()
    if key in OBJECT_TYPES:
        return key
    return _ALIASES.get(key)


def modified_property(object_type: str) -> str:
    """HubSpot names the last-modified property ``lastmodifieddate`` on contacts only."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


#: System properties a client may not write.
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"})

# (name, label, type, fieldType, options) per object type; groups follow HubSpot's defaults.
_S, _N, _DT, _E = "string", "number", "datetime", "enumeration"
_BUILTIN: dict[str, list[tuple[str, str, str, str, tuple[str, ...]]]] = {
    "contacts": [
        ("firstname", "First Name", _S, "text", ()),
        ("lastname", "Last Name", _S, "text", ()),
        ("email", "Email", _S, "text", ()),
        ("phone", "Phone Number", _S, "phonenumber", ()),
        ("company", "Company Name", _S, "text", ()),
        ("jobtitle", "Job Title", _S, "text", ()),
        ("city", "City", _S, "text", ()),
        ("country", "Country/Region", _S, "text", ()),
        (
            "lifecyclestage",
            "Lifecycle Stage",
            _E,
            "radio",
            (
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
                "evangelist",
                "other",
            ),
        ),
        (
            "hs_lead_status",
            "Lead Status",
            _E,
            "radio",
            ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED"),
        ),
        ("lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "companies": [
        ("name", "Company name", _S, "text", ()),
        ("domain", "Company Domain Name", _S, "text", ()),
        ("industry", "Industry", _S, "text", ()),
        ("city", "City", _S, "text", ()),
        ("country", "Country/Region", _S, "text", ()),
        ("numberofemployees", "Number of Employees", _N, "number", ()),
        ("annualrevenue", "Annual Revenue", _N, "number", ()),
        ("lifecyclestage", "Lifecycle Stage", _E, "radio", ("lead", "opportunity", "customer", "other")),
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "tickets": [
        ("subject", "Ticket name", _S, "text", ()),
        ("content", "Ticket description", _S, "textarea", ()),
        ("hs_pipeline", "Pipeline", _E, "select", ("0",)),
        ("hs_pipeline_stage", "Ticket status", _E, "select", ("1", "2", "3", "4")),
        ("hs_ticket_priority", "Priority", _E, "select", ("LOW", "MEDIUM", "HIGH", "URGENT")),
        (
            "hs_ticket_category",
            "Category",
            _E,
            "checkbox",
            ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"),
        ),
        ("source_type", "Source", _E, "select", ("EMAIL", "CHAT", "PHONE", "FORM")),
        ("closed_date", "Close date", _DT, "date", ()),
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "notes": [
        ("hs_note_body", "Note body", _S, "html", ()),
        ("hs_timestamp", "Activity date", _DT, "date", ()),
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
}


def builtin_properties(object_type: str) -> list[dict[str, Any]]:
    """HubSpot-shaped property definitions for ``object_type`` (system properties included)."""
    group = OBJECT_TYPES[object_type].group
    rows = [
        ("hs_object_id", "Record ID", _N, "number", ()),
        ("createdate", "Create Date", _DT, "text", ()),
        *_BUILTIN[object_type],
    ]
    out = []
    for order, (name, label, ptype, field_type, options) in enumerate(rows):
        out.append(
            {
                "name": name,
                "label": label,
                "type": ptype,
                "fieldType": field_type,
                "description": "",
                "groupName": group,
                "options": [
                    {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
                    for i, v in enumerate(options)
                ],
                "displayOrder": order,
                "calculated": False,
                "externalOptions": False,
                "hasUniqueValue": name in ("hs_object_id", "email"),
                "hidden": False,
                "hubspotDefined": True,
                "formField": name not in READ_ONLY,
                "modificationMetadata": {
                    "archivable": False,
                    "readOnlyDefinition": True,
                    "readOnlyValue": name in READ_ONLY,
                },
            }
        )
    return out


# HUBSPOT_DEFINED association type ids: (from, to) -> (typeId, v3 type name).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, str]] = {
    ("contacts", "companies"): (279, "contact_to_company_unlabeled"),
    ("companies", "contacts"): (280, "company_to_contact_unlabeled"),
    ("tickets", "contacts"): (16, "ticket_to_contact"),
    ("contacts", "tickets"): (15, "contact_to_ticket"),
    ("tickets", "companies"): (339, "ticket_to_company"),
    ("companies", "tickets"): (340, "company_to_ticket"),
    ("notes", "contacts"): (202, "note_to_contact"),
    ("contacts", "notes"): (201, "contact_to_note"),
    ("notes", "companies"): (190, "note_to_company"),
    ("companies", "notes"): (189, "company_to_note"),
    ("notes", "tickets"): (228, "note_to_ticket"),
    ("tickets", "notes"): (227, "ticket_to_note"),
}
# Primary (labelled) variants HubSpot also reports for contact->company and ticket->company.
_PRIMARY = {1: ("contacts", "companies"), 2: ("companies", "contacts"), 26: ("tickets", "companies")}


def association_type(from_type: str, to_type: str) -> tuple[int, str]:
    """The default association ``(typeId, name)`` between two object types.

    Raises
    ------
    KeyError
        When the demo does not support that pair.
    """
    return ASSOCIATION_TYPES[(from_type, to_type)]


def type_pair_for_id(type_id: int) -> tuple[str, str] | None:
    """The ``(from, to)`` object types of an association type id, or None when unknown."""
    for pair, (tid, _name) in ASSOCIATION_TYPES.items():
        if tid == type_id:
            return pair
    return _PRIMARY.get(type_id)


#: Webhook subscription event types: ``contact.creation``, ``ticket.propertyChange``, ...
EVENT_TYPES = frozenset(
    f"{obj}.{ev}"
    for obj in ("contact", "company", "ticket", "deal")
    for ev in ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
)
