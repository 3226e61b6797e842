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
    "CALCULATED",
    "EVENT_TYPES",
    "EXTERNAL_OPTIONS",
    "INVERSE",
    "OBJECT_TYPES",
    "PIPELINED",
    "PRIMARY",
    "READ_ONLY",
    "REQUIRED",
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
    "deals": ObjectType(
        "deals",
        "0-3",
        "deal",
        ("dealname", "amount", "closedate", "pipeline", "dealstage"),
        "dealinformation",
    ),
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


#: System properties a client may not write (the deal ones are calculated from the stage).
READ_ONLY = frozenset(
    {
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_deal_stage_probability",
    }
)
#: Deal properties the CRM calculates from the deal stage.
CALCULATED = frozenset({"hs_is_closed", "hs_is_closed_won", "hs_deal_stage_probability"})
#: Properties a create must set (HubSpot answers 400 without them); pipelines default as HubSpot does.
REQUIRED: dict[str, tuple[str, ...]] = {"tickets": ("hs_pipeline_stage",), "deals": ("dealname", "dealstage")}
#: ``{object type: (pipeline property, stage property, default pipeline id)}`` for pipelined objects.
PIPELINED: dict[str, tuple[str, str, str]] = {
    "tickets": ("hs_pipeline", "hs_pipeline_stage", "0"),
    "deals": ("pipeline", "dealstage", "default"),
}
#: Enumerations whose options come from the pipelines and owners tables, not from a fixed list.
EXTERNAL_OPTIONS = frozenset(
    {"hs_pipeline", "hs_pipeline_stage", "pipeline", "dealstage", "hubspot_owner_id"}
)

# (name, label, type, fieldType, options) per object type; groups follow HubSpot's defaults.
_S, _N, _DT, _E, _B = "string", "number", "datetime", "enumeration", "bool"
_OWNER = ("hubspot_owner_id", "Owner", _E, "select", ())
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
        _OWNER,
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
        _OWNER,
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "tickets": [
        ("subject", "Ticket name", _S, "text", ()),
        ("content", "Ticket description", _S, "textarea", ()),
        ("hs_pipeline", "Pipeline", _E, "select", ()),
        ("hs_pipeline_stage", "Ticket status", _E, "select", ()),
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
        _OWNER,
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "notes": [
        ("hs_note_body", "Note body", _S, "html", ()),
        ("hs_timestamp", "Activity date", _DT, "date", ()),
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
    "deals": [
        ("dealname", "Deal Name", _S, "text", ()),
        ("amount", "Amount", _N, "number", ()),
        ("closedate", "Close Date", _DT, "date", ()),
        ("pipeline", "Pipeline", _E, "select", ()),
        ("dealstage", "Deal Stage", _E, "radio", ()),
        ("dealtype", "Deal Type", _E, "radio", ("newbusiness", "existingbusiness")),
        ("hs_priority", "Priority", _E, "select", ("low", "medium", "high")),
        ("description", "Deal Description", _S, "textarea", ()),
        _OWNER,
        ("hs_is_closed", "Is Deal Closed?", _B, "booleancheckbox", ("true", "false")),
        ("hs_is_closed_won", "Is Closed Won", _B, "booleancheckbox", ("true", "false")),
        ("hs_deal_stage_probability", "Deal probability", _N, "number", ()),
        ("hs_lastmodifieddate", "Last Modified Date", _DT, "text", ()),
    ],
}


def builtin_properties(object_type: str) -> list[dict[str, Any]]:
    """HubSpot-shaped property definitions for ``object_type`` (system properties included)."""
    group = OBJECT_TYPES[object_type].group
    rows = [
        ("hs_object_id", "Record ID", _N, "number", ()),
        ("createdate", "Create Date", _DT, "text", ()),
        ("hs_merged_object_ids", "Merged record IDs", _E, "checkbox", ()),
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
                "calculated": name in CALCULATED,
                "externalOptions": name in EXTERNAL_OPTIONS,
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
    ("deals", "contacts"): (3, "deal_to_contact"),
    ("contacts", "deals"): (4, "contact_to_deal"),
    ("deals", "companies"): (341, "deal_to_company"),
    ("companies", "deals"): (342, "company_to_deal"),
    ("deals", "tickets"): (27, "deal_to_ticket"),
    ("tickets", "deals"): (28, "ticket_to_deal"),
    ("notes", "deals"): (214, "note_to_deal"),
    ("deals", "notes"): (213, "deal_to_note"),
}
#: The labelled "Primary" variants HubSpot defines: ``typeId -> (from, to)``; :data:`INVERSE` pairs them.
PRIMARY: dict[int, tuple[str, str]] = {
    1: ("contacts", "companies"),
    2: ("companies", "contacts"),
    5: ("deals", "companies"),
    6: ("companies", "deals"),
    25: ("companies", "tickets"),
    26: ("tickets", "companies"),
}
INVERSE: dict[int, int] = {1: 2, 2: 1, 5: 6, 6: 5, 25: 26, 26: 25}


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
    return PRIMARY.get(type_id)


#: Webhook subscription event types: ``contact.creation``, ``ticket.propertyChange``, ...
EVENT_TYPES = frozenset(
    f"{obj}.{ev}"
    for obj in ("contact", "company", "ticket", "deal")
    for ev in ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
)
