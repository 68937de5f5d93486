"""HubSpot API facts the connector relies on, as plain tables (from HubSpot's public docs)."""

from __future__ import annotations

CREDENTIAL_ENV = "HUBSPOT_ACCESS_TOKEN"
BASE_URL_ENV = "HUBSPOT_BASE_URL"
DEFAULT_BASE_URL = "https://api.hubapi.com"

OBJECTS = ("companies", "contacts", "deals")
PARENT_OBJECT = {"contacts": "companies", "deals": "companies"}  # child -> its Primary company

# Page sizes and batch limits.
SEARCH_PAGE_SIZE = 200  # CRM search: at most 200 results a page
SEARCH_RESULT_CAP = 10_000  # CRM search never pages past the 10,000th result (400)
LIST_PAGE_SIZE = 100  # GET /crm/v3/objects/{type}: at most 100 a page
BATCH_SIZE = 100  # batch read/create/update/upsert/archive: at most 100 inputs
ASSOCIATION_READ_BATCH = 1000  # v4 associations batch read: at most 1,000 ids (since Feb 2025)
ASSOCIATION_WRITE_BATCH = 1000  # v4 associations batch create: kept at 1,000 to stay well inside the limit

# Cursor fields: contacts keep their last-modified date in ``lastmodifieddate``, other objects
# in ``hs_lastmodifieddate``; the record id is ``hs_object_id``.
MODIFIED_PROPERTY = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
ID_PROPERTY = "hs_object_id"

# Idempotent creates: batch upsert only accepts a property with unique values as idProperty.
# Companies and deals carry the ClientSuccess id in the custom unique property clientsuccess_id;
# HubSpot keeps contacts unique by email, so contacts upsert by email.
UPSERT_ID_PROPERTY = {"companies": "clientsuccess_id", "contacts": "email", "deals": "clientsuccess_id"}
KEY_PROPERTY = {"companies": "clientsuccess_id", "deals": "clientsuccess_id"}  # contacts: keyed by email

# The archive list cannot be filtered by date: the deletion sweep pages all of it, so it runs on
# its own cadence rather than on every pull.
SWEEP_ENV = "CRMSYNC_HUBSPOT_DELETE_SWEEP_MINUTES"
DEFAULT_SWEEP_MINUTES = 60

# HUBSPOT_DEFINED association type ids for child -> company: the Primary company label.
PRIMARY_COMPANY_TYPE = {"contacts": 1, "deals": 5}

# Rate limits: a rolling 10-second window (search has its own per-second limit, well inside it).
RATE_LIMIT_WINDOW_SECONDS = 10.0

# HubSpot property type -> FieldInfo.type
FIELD_TYPES = {
    "string": "string",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "bool": "bool",
    "enumeration": "enumeration",
    "phone_number": "string",
}

# API budgets (crmsync.budgets): HubSpot's documented burst limit per account, per rolling ten
# seconds (private apps: 100 on Free/Starter, 190 on Professional/Enterprise, 250 with the API
# limit increase), and the CRM search endpoints' own 5 requests per second.
REQUESTS_PER_WINDOW_ENV = "CRMSYNC_HUBSPOT_REQUESTS_PER_10S"
DEFAULT_REQUESTS_PER_WINDOW = 100
SEARCHES_PER_SECOND_ENV = "CRMSYNC_HUBSPOT_SEARCHES_PER_SECOND"
DEFAULT_SEARCHES_PER_SECOND = 5
