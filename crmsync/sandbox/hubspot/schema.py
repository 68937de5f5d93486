"""What the HubSpot sandbox knows about its objects: types, properties, defaults, association types.

Property definitions follow the shape of HubSpot's Properties API (``/crm/v3/properties``).
Values are always strings on the wire, as in HubSpot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.sandbox import seed

STATUS_OPTIONS = seed.STATUSES
# Real HubSpot's industry options are codes (COMPUTER_SOFTWARE, ...); the sandbox uses seed.py's values.
INDUSTRY_OPTIONS = seed.INDUSTRIES
DEALSTAGE_OPTIONS = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
PIPELINE_OPTIONS = ("default",)


@dataclass(frozen=True)
class PropertyDef:
    """One property as the Properties API describes it."""

    name: str
    label: str
    type: str = "string"  # string, number, datetime, date, bool, enumeration
    field_type: str = "text"
    options: tuple[str, ...] = ()
    unique: bool = False
    read_only: bool = False
    hubspot_defined: bool = True

    def to_json(self, order: int, group: str) -> dict:
        """The property in the Properties API's wire format."""
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": group if self.hubspot_defined else "clientsuccess",
            "options": [
                {"label": value, "value": value, "displayOrder": i, "hidden": False, "description": ""}
                for i, value in enumerate(self.options)
            ],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "archived": False,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type: its names, properties, and the properties HubSpot returns by default."""

    name: str  # plural API name: companies
    type_id: str  # HubSpot's object type id: 0-2
    singular: str  # COMPANY, as HubSpot's error messages say it
    modified_property: str  # contacts use lastmodifieddate, the others hs_lastmodifieddate
    default_properties: tuple[str, ...]
    properties: tuple[PropertyDef, ...]
    # Properties batch upsert accepts as idProperty besides hasUniqueValue ones (contacts: email).
    extra_upsert_ids: tuple[str, ...] = ()
    by_name: dict[str, PropertyDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    @property
    def upsert_id_properties(self) -> tuple[str, ...]:
        """Properties batch upsert accepts as ``idProperty``."""
        unique = tuple(p.name for p in self.properties if p.unique)
        return unique + self.extra_upsert_ids + ("hs_object_id",)

    @property
    def unique_properties(self) -> tuple[str, ...]:
        """Properties whose values the store keeps unique (and indexes)."""
        return tuple(p.name for p in self.properties if p.unique) + self.extra_upsert_ids


def _system(modified: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef("hs_object_id", "Record ID", "number", "number", read_only=True),
        PropertyDef("createdate", "Create Date", "datetime", "date", read_only=True),
        PropertyDef(modified, "Last Modified Date", "datetime", "date", read_only=True),
    )


def _custom(name: str, label: str, **kwargs: Any) -> PropertyDef:
    return PropertyDef(name, label, hubspot_defined=False, **kwargs)


COMPANIES = ObjectType(
    name="companies",
    type_id="0-2",
    singular="COMPANY",
    modified_property="hs_lastmodifieddate",
    default_properties=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    properties=(
        *_system("hs_lastmodifieddate"),
        PropertyDef("name", "Company name"),
        PropertyDef("domain", "Company Domain Name"),  # not unique: HubSpot rejects it as idProperty
        PropertyDef("industry", "Industry", "enumeration", "select", INDUSTRY_OPTIONS),
        PropertyDef("numberofemployees", "Number of Employees", "number", "number"),
        PropertyDef("annualrevenue", "Annual Revenue", "number", "number"),
        PropertyDef("phone", "Phone Number", field_type="phonenumber"),
        _custom("clientsuccess_id", "ClientSuccess ID", unique=True),
        _custom(
            "clientsuccess_status",
            "ClientSuccess Status",
            type="enumeration",
            field_type="select",
            options=STATUS_OPTIONS,
        ),
    ),
)

CONTACTS = ObjectType(
    name="contacts",
    type_id="0-1",
    singular="CONTACT",
    modified_property="lastmodifieddate",
    default_properties=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    properties=(
        *_system("lastmodifieddate"),
        PropertyDef("firstname", "First Name"),
        PropertyDef("lastname", "Last Name"),
        # HubSpot keeps contacts unique by email without flagging the property hasUniqueValue.
        PropertyDef("email", "Email"),
        PropertyDef("phone", "Phone Number", field_type="phonenumber"),
        PropertyDef("jobtitle", "Job Title"),
    ),
    extra_upsert_ids=("email",),
)

DEALS = ObjectType(
    name="deals",
    type_id="0-3",
    singular="DEAL",
    modified_property="hs_lastmodifieddate",
    default_properties=(
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    properties=(
        *_system("hs_lastmodifieddate"),
        PropertyDef("dealname", "Deal Name"),
        PropertyDef("amount", "Amount", "number", "number"),
        PropertyDef("closedate", "Close Date", "datetime", "date"),
        PropertyDef("dealstage", "Deal Stage", "enumeration", "radio", DEALSTAGE_OPTIONS),
        PropertyDef("pipeline", "Pipeline", "enumeration", "select", PIPELINE_OPTIONS),
        _custom("clientsuccess_id", "ClientSuccess ID", unique=True),
    ),
)

OBJECT_TYPES: dict[str, ObjectType] = {t.name: t for t in (COMPANIES, CONTACTS, DEALS)}
# HubSpot accepts an object type by name, singular name or type id in paths.
ALIASES: dict[str, str] = {
    **{t.name: t.name for t in OBJECT_TYPES.values()},
    **{t.type_id: t.name for t in OBJECT_TYPES.values()},
    **{t.singular.lower(): t.name for t in OBJECT_TYPES.values()},
}

# HUBSPOT_DEFINED association type ids per direction: (unlabeled, primary).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int]] = {
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
}
CHILD_TYPES = ("contacts", "deals")  # associations are stored child -> company
