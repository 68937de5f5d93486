"""Salesforce API facts the connector relies on, in one place."""

from __future__ import annotations

API_VERSION = "59.0"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"  # SOAP login host when SALESFORCE_INSTANCE_URL is unset
QUERY_BATCH_SIZE = 2000  # REST query records per batch: Salesforce's default and maximum
COLLECTION_BATCH_SIZE = 200  # sObject Collections accept at most 200 records per call
READ_BY_IDS_CHUNK = 200  # values per "IN (...)" query: ~4 kB of SOQL, far below the 16 kB URL limit
BULK_THRESHOLD_ENV = "CRMSYNC_SALESFORCE_BULK_THRESHOLD"
DEFAULT_BULK_THRESHOLD = 10_000  # records; above it reads and writes use Bulk API 2.0
BULK_QUERY_PAGE_SIZE = 50_000  # maxRecords per Bulk API 2.0 query results page
BULK_NULL = "#N/A"  # Bulk CSV: an empty cell leaves a field unchanged, #N/A clears it
OBJECTS = ("Account", "Contact", "Opportunity")
EXTERNAL_ID_FIELD = "ClientSuccess_Id__c"  # External ID (unique) on Account, Contact and Opportunity
KEY_FIELD = dict.fromkeys(OBJECTS, EXTERNAL_ID_FIELD)  # object -> the field holding the ClientSuccess id
DELETED_FIELD = "IsDeleted"  # queryAll returns recycle-bin rows with it true
CURSOR_FIELD = "SystemModstamp"  # changes on every write, system ones included (LastModifiedDate may not)
PARENT_OBJECT = {"Contact": "Account", "Opportunity": "Account"}
PARENT_FIELD = {"Contact": "AccountId", "Opportunity": "AccountId"}  # child object -> lookup to Account
FIELD_TYPES = {  # describe type -> FieldInfo.type; anything else is "string"
    "picklist": "enumeration",
    "multipicklist": "enumeration",
    "int": "number",
    "double": "number",
    "currency": "number",
    "percent": "number",
    "date": "date",
    "datetime": "datetime",
    "boolean": "bool",
}
# API budgets (crmsync.budgets): the org's daily API request allocation (rolling 24 h; see its
# DailyApiRequests.Max, which `crmsync connect` prints) and the share of it crmsync may use.
# The default allocation is Developer Edition's 15,000, the smallest: set your org's.
DAILY_REQUESTS_ENV = "CRMSYNC_SALESFORCE_DAILY_REQUESTS"
DEFAULT_DAILY_REQUESTS = 15_000
DAILY_SHARE_ENV = "CRMSYNC_SALESFORCE_DAILY_SHARE"
DEFAULT_DAILY_SHARE = 0.5
