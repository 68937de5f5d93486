"""The sandbox's Salesforce objects: fields, describe, 18-character Ids and seeded records."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from crmsync.sandbox import seed

API_VERSION = "59.0"
STATUS_VALUES = seed.STATUSES
INDUSTRY_VALUES = (
    *seed.INDUSTRIES,
    "Technology",
    "Other",
)
STAGE_VALUES = ("appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost")
EXTERNAL_ID = "ClientSuccess_Id__c"

_BASE62 = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order: ids sort like indexes
)
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "Dn0"  # the "instance + reserved" characters of every sandbox id
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[A-Z0-5]{3})?$")


class WriteError(Exception):
    """A per-record failure, reported the way sObject Collections and Bulk results report it."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or []

    def as_dict(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


@dataclass(frozen=True)
class Field:
    """One field as describe reports it, plus what the write path needs to validate values."""

    name: str
    type: str  # Salesforce describe types: id, string, url, phone, email, picklist, int, currency, ...
    label: str
    length: int = 0
    required: bool = False  # must hold a value (nillable false, no default)
    writable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    external_id: bool = False
    reference_to: str | None = None


class SObjectType:
    """An object's name, key prefix and fields; field lookup is case-insensitive like SOQL's."""

    def __init__(self, name: str, prefix: str, label: str, fields: list[Field]) -> None:
        self.name, self.prefix, self.label = name, prefix, label
        self.fields = {f.name: f for f in fields}
        self._by_lower = {f.name.lower(): f for f in fields}

    def field(self, name: str) -> Field | None:
        return self._by_lower.get(name.lower())


def _common(name_field: Field) -> list[Field]:
    return [
        Field("Id", "id", "Record ID", 18, writable=False),
        Field("IsDeleted", "boolean", "Deleted", writable=False),
        name_field,
        Field(
            "ClientSuccess_Status__c",
            "picklist",
            "ClientSuccess Status",
            255,
            picklist=STATUS_VALUES,
            restricted=True,
        ),
        Field(EXTERNAL_ID, "string", "ClientSuccess Id", 255, external_id=True),
        Field("CreatedDate", "datetime", "Created Date", writable=False),
        Field("LastModifiedDate", "datetime", "Last Modified Date", writable=False),
        Field("SystemModstamp", "datetime", "System Modstamp", writable=False),
    ]


ACCOUNT = SObjectType(
    "Account",
    "001",
    "Account",
    [
        *_common(Field("Name", "string", "Account Name", 255, required=True)),
        Field("Website", "url", "Website", 255),
        Field("Industry", "picklist", "Industry", 255, picklist=INDUSTRY_VALUES),
        Field("NumberOfEmployees", "int", "Employees"),
        Field("AnnualRevenue", "currency", "Annual Revenue"),
        Field("Phone", "phone", "Account Phone", 40),
    ],
)
CONTACT = SObjectType(
    "Contact",
    "003",
    "Contact",
    [
        *_common(Field("Name", "string", "Full Name", 121, writable=False)),  # compound: First + Last
        Field("FirstName", "string", "First Name", 40),
        Field("LastName", "string", "Last Name", 80, required=True),
        Field("Email", "email", "Email", 80),
        Field("Phone", "phone", "Business Phone", 40),
        Field("Title", "string", "Title", 128),
        Field("AccountId", "reference", "Account ID", 18, reference_to="Account"),
    ],
)
OPPORTUNITY = SObjectType(
    "Opportunity",
    "006",
    "Opportunity",
    [
        *_common(Field("Name", "string", "Name", 120, required=True)),
        Field("Amount", "currency", "Amount"),
        Field("CloseDate", "date", "Close Date", required=True),
        Field("StageName", "picklist", "Stage", 255, required=True, picklist=STAGE_VALUES),
        Field("AccountId", "reference", "Account ID", 18, reference_to="Account"),
    ],
)
OBJECTS = {o.name: o for o in (ACCOUNT, CONTACT, OPPORTUNITY)}
PREFIXES = {o.prefix: o for o in OBJECTS.values()}


# --- ids -------------------------------------------------------------------------------------
def _suffix(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per 5-character chunk, bit i set if char i is upper."""
    out = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out += _SUFFIX[bits]
    return out


def make_id(prefix: str, index: int) -> str:
    """The deterministic 18-character id of record ``index`` with this key prefix."""
    digits = ""
    for _ in range(9):
        index, rem = divmod(index, 62)
        digits = _BASE62[rem] + digits
    id15 = prefix + _POD + digits
    return id15 + _suffix(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when it is not an id."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    id15 = value[:15]
    full = id15 + _suffix(id15)
    return full if len(value) == 15 or value == full else None


def parse_id(value: str) -> tuple[str, int] | None:
    """(key prefix, record index) of a sandbox id, or None."""
    full = normalize_id(value)
    if full is None or full[3:6] != _POD:
        return None
    index = 0
    for ch in full[6:15]:
        index = index * 62 + _BASE62.index(ch)
    return full[:3], index


# --- values on the wire ----------------------------------------------------------------------
def format_datetime(value: datetime, zulu: bool = False) -> str:
    """Salesforce's datetime format: REST JSON says +0000, Bulk CSV says Z."""
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}" + ("Z" if zulu else "+0000")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 datetime as Salesforce accepts it (Z, +hh:mm or +hhmm); UTC, milliseconds."""
    text = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def to_json(field: Field, value: Any) -> Any:
    """A stored value as REST JSON shows it."""
    if value is None:
        return None
    if field.type == "datetime":
        return format_datetime(value)
    if field.type == "date" and isinstance(value, date):
        return value.isoformat()
    return value  # (a test may store a raw value the API would never send, such as a malformed date)


def to_csv(field: Field, value: Any) -> str:
    """A stored value as a Bulk API 2.0 CSV cell (null is empty)."""
    if value is None:
        return ""
    if field.type == "datetime":
        return format_datetime(value, zulu=True)
    if field.type == "boolean":
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _wrong_type(field: Field, raw: Any) -> WriteError:
    return WriteError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.label}: value not of required type: {raw}", [field.name]
    )


def _number(field: Field, raw: Any) -> float | int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    number = float(raw)
    if field.type != "int":
        return number
    if number != int(number):
        raise ValueError(raw)
    return int(number)


def _date(field: Field, raw: Any) -> date:
    return date.fromisoformat(str(raw)[:10]) if len(str(raw)) >= 10 else date.fromisoformat(str(raw))


def _boolean(field: Field, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise ValueError(raw)


_CONVERTERS: dict[str, Callable[[Field, Any], Any]] = {
    "int": _number,
    "currency": _number,
    "double": _number,
    "percent": _number,
    "date": _date,
    "datetime": lambda field, raw: parse_datetime(str(raw)),
    "boolean": _boolean,
}


def coerce(field: Field, raw: Any) -> Any:
    """Validate and convert one written value (JSON, or CSV text) to the stored type."""
    if raw is None:
        return None
    convert = _CONVERTERS.get(field.type)
    if convert is not None:
        try:
            return convert(field, raw)
        except (TypeError, ValueError):
            raise _wrong_type(field, raw) from None
    text = raw if isinstance(raw, str) else str(raw)
    if field.length and len(text) > field.length:
        raise WriteError(
            "STRING_TOO_LONG",
            f"{field.label}: data value too large: {text[:40]} (max length={field.length})",
            [field.name],
        )
    if field.restricted and text not in field.picklist:
        # Restricted picklists compare exactly: 'active' is not 'Active'.
        raise WriteError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"bad value for restricted picklist field: {text}",
            [field.name],
        )
    return text


# --- describe --------------------------------------------------------------------------------
def describe(sobject: SObjectType) -> dict[str, Any]:
    """The describe result for an object (the subset of keys clients read)."""
    return {
        "name": sobject.name,
        "label": sobject.label,
        "keyPrefix": sobject.prefix,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "custom": False,
        "fields": [_describe_field(f) for f in sobject.fields.values()],
        "urls": {"describe": f"/services/data/v{API_VERSION}/sobjects/{sobject.name}/describe"},
    }


def _describe_field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "length": f.length,
        "custom": f.name.endswith("__c"),
        "nillable": not f.required and f.type != "boolean",
        "createable": f.writable,
        "updateable": f.writable,
        "unique": f.external_id,
        "externalId": f.external_id,
        "idLookup": f.external_id or f.name == "Id",
        "calculated": f.name == "Name" and not f.writable,
        "restrictedPicklist": f.restricted,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist
        ],
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": "Account" if f.reference_to else None,
        "soapType": {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "int": "xsd:int",
            "currency": "xsd:double",
            "date": "xsd:date",
            "datetime": "xsd:dateTime",
        }.get(f.type, "xsd:string"),
    }


# --- seeded records --------------------------------------------------------------------------
def seeded_external_id(sobject: SObjectType, index: int) -> str | None:
    """The legacy ClientSuccess id seed.py gives every 10th Account and Opportunity."""
    if index % seed.LEGACY_ID_EVERY or sobject is CONTACT:
        return None
    return f"legacy-{index}" if sobject is ACCOUNT else f"legacy-deal-{index}"


def seeded_index_of_external_id(sobject: SObjectType, value: str) -> int | None:
    """Inverse of ``seeded_external_id``: which seeded record carries this legacy value, if any."""
    pattern = {ACCOUNT.name: r"legacy-(\d+)", OPPORTUNITY.name: r"legacy-deal-(\d+)"}.get(sobject.name)
    match = re.fullmatch(pattern, value) if pattern else None
    if not match or match.group(1) != str(int(match.group(1))):
        return None
    index = int(match.group(1))
    return index if seeded_external_id(sobject, index) == value else None


def seeded_record(sobject: SObjectType, index: int, accounts: int) -> dict[str, Any]:
    """Seeded record ``index``, built from seed.py (contacts and deals point at seeded accounts)."""
    ts = seed.modified_at(index)
    record: dict[str, Any] = dict.fromkeys(sobject.fields)
    record.update(
        Id=make_id(sobject.prefix, index),
        IsDeleted=False,
        CreatedDate=ts,
        LastModifiedDate=ts,
        SystemModstamp=ts,
    )
    record[EXTERNAL_ID] = seeded_external_id(sobject, index)
    if sobject is ACCOUNT:
        c = seed.company(index)
        record.update(
            Name=c["name"],
            Website=c["domain"],
            Industry=c["industry"],
            NumberOfEmployees=c["employees"],
            AnnualRevenue=float(c["annual_revenue"]),
            Phone=c["phone"],
            ClientSuccess_Status__c=c["status"],
        )
    elif sobject is CONTACT:
        p = seed.person(index, accounts)
        record.update(
            FirstName=p["first_name"],
            LastName=p["last_name"],
            Email=p["email"],
            Phone=p["phone"],
            Title=p["title"],
            Name=f"{p['first_name']} {p['last_name']}",
        )
        if p["company_index"] is not None:
            record["AccountId"] = make_id(ACCOUNT.prefix, p["company_index"])
    else:
        d = seed.deal(index, accounts)
        record.update(
            Name=d["name"], Amount=float(d["amount"]), CloseDate=d["close_date"], StageName=d["stage"]
        )
        if d["company_index"] is not None:
            record["AccountId"] = make_id(ACCOUNT.prefix, d["company_index"])
    return record
