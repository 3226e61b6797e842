"""The demo org's objects: Account, Contact, Case, Opportunity and User, as Salesforce describes them.

Each object is a list of field definitions with the keys of a real ``describe`` (``name``, ``type``,
``length``, ``nillable``, ``createable``, ``updateable``, ``picklistValues``, ``referenceTo``,
``relationshipName``, ``externalId``...). :func:`field` fills in what Salesforce derives from the type
(``soapType``, ``byteLength``, ``filterable``...), so a definition reads like the field reference.
The Case object carries the custom fields the notebooks write back to (``AI_Sentiment__c``...) and an
external id (``Ticket_Id__c``, the demo CRM's ticket id) for upserts.

>>> case = OBJECTS["Case"]
>>> case.field("status")["name"], case.field("AI_Sentiment__c")["restrictedPicklist"]
('Status', True)
>>> case.key_prefix, case.relationship("Account").target
('500', 'Account')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

__all__ = ["OBJECTS", "ChildRelationship", "Relationship", "SObject", "field", "object_named"]

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_TEXT = frozenset(
    {"id", "reference", "string", "textarea", "picklist", "multipicklist", "email", "phone", "url"}
)


def field(
    name: str,
    ftype: str,
    *,
    label: str | None = None,
    length: int | None = None,
    required: bool = False,
    createable: bool = True,
    updateable: bool = True,
    values: Sequence[str] = (),
    default: str | None = None,
    restricted: bool = False,
    reference_to: Sequence[str] = (),
    relationship: str | None = None,
    external_id: bool = False,
    unique: bool = False,
    precision: int = 0,
    scale: int = 0,
    calculated: bool = False,
    defaulted: bool = False,
    name_field: bool = False,
) -> dict[str, Any]:
    """One ``describe`` field entry, with the defaults Salesforce derives from the type."""
    text = ftype in _TEXT
    if length is None:
        length = {"id": 18, "reference": 18, "picklist": 255, "email": 80, "phone": 40, "url": 255}.get(
            ftype, 255 if text else 0
        )
    filterable = length <= 255 if ftype == "textarea" else True
    return {
        "aggregatable": ftype not in ("textarea",),
        "autoNumber": False,
        "byteLength": length * 3 if text else 0,
        "calculated": calculated,
        "caseSensitive": False,
        "createable": createable and not calculated,
        "custom": name.endswith("__c"),
        "defaultValue": None,
        "defaultedOnCreate": defaulted or default is not None or ftype == "boolean",
        "dependentPicklist": False,
        "externalId": external_id,
        "filterable": filterable,
        "idLookup": ftype == "id" or external_id,
        "label": label or _label(name),
        "length": length if text else 0,
        "name": name,
        "nameField": name_field,
        "nillable": not required and ftype not in ("id", "boolean"),
        "picklistValues": [
            {"active": True, "defaultValue": v == default, "label": v, "validFor": None, "value": v}
            for v in values
        ],
        "precision": precision,
        "referenceTo": list(reference_to),
        "relationshipName": relationship,
        "restrictedPicklist": restricted,
        "scale": scale,
        "soapType": _SOAP[ftype],
        "sortable": ftype not in ("textarea", "multipicklist"),
        "type": ftype,
        "unique": unique,
        "updateable": updateable and not calculated and ftype != "id",
    }


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name not in ("Id",) else "Record ID"
    words: list[str] = []
    for part in base.replace("_", " ").split():
        words.append(
            "".join(
                f" {c}" if c.isupper() and i and not part[i - 1].isupper() else c for i, c in enumerate(part)
            ).strip()
        )
    return " ".join(words).replace("A I ", "AI ") or name


@dataclass(frozen=True)
class Relationship:
    """A lookup: ``AccountId`` on Case is the ``Account`` relationship to the Account object."""

    name: str
    field: str
    target: str


@dataclass(frozen=True)
class ChildRelationship:
    """The other side: Account's ``Cases`` are the Case records whose ``AccountId`` points at it."""

    name: str
    child: str
    field: str


@dataclass
class SObject:
    """An object's describe: fields by lower-case name, relationships, key prefix, labels."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: list[dict[str, Any]]
    children: list[ChildRelationship] = dc_field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_name = {f["name"].lower(): f for f in self.fields}

    def field(self, name: str) -> dict[str, Any] | None:
        """The field definition named ``name`` (case-insensitive, like Salesforce), else None."""
        return self._by_name.get(name.lower())

    def add_field(self, definition: dict[str, Any]) -> None:
        self.fields.append(definition)
        self._by_name[definition["name"].lower()] = definition

    def relationship(self, name: str) -> Relationship | None:
        for f in self.fields:
            rel = f.get("relationshipName")
            if rel and rel.lower() == name.lower():
                return Relationship(rel, f["name"], f["referenceTo"][0])
        return None

    def child(self, name: str) -> ChildRelationship | None:
        return next((c for c in self.children if c.name.lower() == name.lower()), None)

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.fields]


def _system(owned: bool = True) -> list[dict[str, Any]]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    fields = [
        field("Id", "id", label="Record ID", createable=False, updateable=False),
        field("IsDeleted", "boolean", label="Deleted", **ro),
        field("CreatedDate", "datetime", **ro, defaulted=True),
        field("CreatedById", "reference", reference_to=["User"], relationship="CreatedBy", **ro),
        field("LastModifiedDate", "datetime", **ro, defaulted=True),
        field("LastModifiedById", "reference", reference_to=["User"], relationship="LastModifiedBy", **ro),
        field("SystemModstamp", "datetime", label="System Modstamp", **ro, defaulted=True),
    ]
    if owned:
        fields.append(
            field("OwnerId", "reference", reference_to=["User"], relationship="Owner", defaulted=True)
        )
    return fields


_INDUSTRIES = [
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
]
_STAGES = [
    ("Prospecting", 10),
    ("Qualification", 10),
    ("Needs Analysis", 20),
    ("Value Proposition", 50),
    ("Id. Decision Makers", 60),
    ("Perception Analysis", 70),
    ("Proposal/Price Quote", 75),
    ("Negotiation/Review", 90),
    ("Closed Won", 100),
    ("Closed Lost", 0),
]
#: ``StageName -> default probability`` (Opportunity), and the closed case statuses.
STAGE_PROBABILITY = dict(_STAGES)
CLOSED_STATUSES = frozenset({"Closed"})
_LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]


def _objects() -> dict[str, SObject]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    user = SObject(
        "User",
        "005",
        "User",
        "Users",
        [
            *_system(owned=False),
            field("Username", "string", length=80, required=True, unique=True),
            field("Name", "string", length=121, name_field=True, **ro),
            field("FirstName", "string", length=40),
            field("LastName", "string", length=80, required=True),
            field("Email", "email", required=True),
            field("IsActive", "boolean", label="Active"),
        ],
    )
    account = SObject(
        "Account",
        "001",
        "Account",
        "Accounts",
        [
            *_system(),
            field("Name", "string", label="Account Name", length=255, required=True, name_field=True),
            field(
                "Type",
                "picklist",
                label="Account Type",
                values=[
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Channel Partner / Reseller",
                    "Installation Partner",
                    "Technology Partner",
                    "Other",
                ],
            ),
            field("Industry", "picklist", values=_INDUSTRIES),
            field("Rating", "picklist", label="Account Rating", values=["Hot", "Warm", "Cold"]),
            field("AnnualRevenue", "currency", precision=18, scale=0),
            field("NumberOfEmployees", "int", label="Employees", precision=8),
            field("Phone", "phone", label="Account Phone"),
            field("Website", "url"),
            field("AccountNumber", "string", length=40),
            field("BillingCity", "string", length=40),
            field("BillingCountry", "string", length=80),
            field("Description", "textarea", label="Account Description", length=32000),
            field("ParentId", "reference", reference_to=["Account"], relationship="Parent"),
        ],
        [
            ChildRelationship("Contacts", "Contact", "AccountId"),
            ChildRelationship("Cases", "Case", "AccountId"),
            ChildRelationship("Opportunities", "Opportunity", "AccountId"),
        ],
    )
    contact = SObject(
        "Contact",
        "003",
        "Contact",
        "Contacts",
        [
            *_system(),
            field(
                "AccountId", "reference", label="Account ID", reference_to=["Account"], relationship="Account"
            ),
            field("Salutation", "picklist", values=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."]),
            field("FirstName", "string", length=40),
            field("LastName", "string", length=80, required=True),
            field("Name", "string", label="Full Name", length=121, name_field=True, calculated=True),
            field("Email", "email"),
            field("Phone", "phone", label="Business Phone"),
            field("Title", "string", length=128),
            field("Department", "string", length=80),
            field("LeadSource", "picklist", values=_LEAD_SOURCES),
            field("MailingCity", "string", length=40),
            field("MailingCountry", "string", length=80),
            field("Description", "textarea", label="Contact Description", length=32000),
        ],
        [ChildRelationship("Cases", "Case", "ContactId")],
    )
    case = SObject(
        "Case",
        "500",
        "Case",
        "Cases",
        [
            *_system(),
            field(
                "CaseNumber", "string", label="Case Number", length=30, **ro, defaulted=True, name_field=True
            ),
            field(
                "AccountId", "reference", label="Account ID", reference_to=["Account"], relationship="Account"
            ),
            field(
                "ContactId", "reference", label="Contact ID", reference_to=["Contact"], relationship="Contact"
            ),
            field(
                "ParentId", "reference", label="Parent Case ID", reference_to=["Case"], relationship="Parent"
            ),
            field("Subject", "string", length=255),
            field("Description", "textarea", length=32000),
            field("Status", "picklist", values=["New", "Working", "Escalated", "Closed"], default="New"),
            field("Priority", "picklist", values=["High", "Medium", "Low"], default="Medium"),
            field("Origin", "picklist", label="Case Origin", values=["Phone", "Email", "Web", "Chat"]),
            field(
                "Type",
                "picklist",
                label="Case Type",
                values=["Problem", "Question", "Feature Request", "Billing", "Other"],
            ),
            field(
                "Reason",
                "picklist",
                label="Case Reason",
                values=[
                    "Installation",
                    "Equipment Complexity",
                    "Performance",
                    "Breakdown",
                    "Equipment Design",
                    "Feedback",
                    "Other",
                ],
            ),
            field("IsClosed", "boolean", label="Closed", calculated=True),
            field("ClosedDate", "datetime", label="Closed Date", **ro),
            field("IsEscalated", "boolean", label="Escalated"),
            field("SuppliedName", "string", label="Web Name", length=80),
            field("SuppliedEmail", "email", label="Web Email"),
            field("Comments", "textarea", label="Internal Comments", length=4000),
            field("Ticket_Id__c", "string", label="Ticket ID", length=20, external_id=True, unique=True),
            field(
                "AI_Sentiment__c",
                "picklist",
                label="AI Sentiment",
                restricted=True,
                values=["Positive", "Neutral", "Negative"],
            ),
            field(
                "AI_Category__c",
                "picklist",
                label="AI Category",
                restricted=True,
                values=["Billing", "Bug", "Feature Request", "Account"],
            ),
            field(
                "AI_Churn_Risk__c",
                "picklist",
                label="AI Churn Risk",
                restricted=True,
                values=["Low", "Medium", "High"],
            ),
            field("AI_Summary__c", "string", label="AI Summary", length=255),
            field("AI_Confidence__c", "percent", label="AI Confidence", precision=5, scale=2),
            field("AI_Needs_Callback__c", "boolean", label="AI Needs Callback"),
        ],
        [ChildRelationship("Cases", "Case", "ParentId")],
    )
    opportunity = SObject(
        "Opportunity",
        "006",
        "Opportunity",
        "Opportunities",
        [
            *_system(),
            field(
                "AccountId", "reference", label="Account ID", reference_to=["Account"], relationship="Account"
            ),
            field("Name", "string", label="Opportunity Name", length=120, required=True, name_field=True),
            field("StageName", "picklist", label="Stage", required=True, values=[s for s, _ in _STAGES]),
            field("CloseDate", "date", label="Close Date", required=True),
            field("Amount", "currency", precision=18, scale=2),
            field("Probability", "percent", label="Probability (%)", precision=3, defaulted=True),
            field(
                "Type",
                "picklist",
                label="Opportunity Type",
                values=[
                    "Existing Customer - Upgrade",
                    "Existing Customer - Replacement",
                    "Existing Customer - Downgrade",
                    "New Customer",
                ],
            ),
            field("LeadSource", "picklist", values=_LEAD_SOURCES),
            field(
                "ForecastCategoryName",
                "picklist",
                label="Forecast Category",
                values=["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
                defaulted=True,
            ),
            field("IsClosed", "boolean", label="Closed", calculated=True),
            field("IsWon", "boolean", label="Won", calculated=True),
            field("Description", "textarea", length=32000),
        ],
    )
    return {o.name: o for o in (user, account, contact, case, opportunity)}


#: The demo org's objects by API name (each server copies them, so added custom fields stay per org).
OBJECTS: dict[str, SObject] = _objects()


def fresh_objects() -> dict[str, SObject]:
    """A new copy of the object definitions (custom fields added to one org stay there)."""
    return _objects()


def object_named(objects: Iterable[SObject], name: str) -> SObject | None:
    """The object called ``name``, case-insensitively (Salesforce names are case-insensitive)."""
    return next((o for o in objects if o.name.lower() == name.lower()), None)
