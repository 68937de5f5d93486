"""The compiled mappings: pulled CRM values as canonical CS values, CS values as exact-case CRM values."""

from datetime import UTC, datetime

import pandas as pd

from crmsync.config import DEFAULT_MAPPINGS_DIR
from crmsync.connectors.base import ExternalRecord
from crmsync.mapping.compile import canonical, records_frame, same, storable, to_cs, to_external, unreadable
from crmsync.mapping.spec import load_mapping
from crmsync.sync.plan import build_plan


def _plan(kind="hubspot", cs_object="clients", external="companies"):
    mapping = load_mapping(DEFAULT_MAPPINGS_DIR / f"{kind}.yaml").for_object(cs_object, external)
    return build_plan(kind, kind.title(), True, "push-pull", mapping, None, "companies")


def test_pull_maps_renames_transforms_and_casts():
    plan = _plan("salesforce", "clients", "Account")
    records = [
        ExternalRecord(
            "001A",
            datetime(2026, 1, 1, tzinfo=UTC),
            {
                "Name": "Acme",
                "Website": "https://www.Acme.com/about",
                "ClientSuccess_Status__c": "active",
                "Industry": "Retail",
                "NumberOfEmployees": "12",
                "AnnualRevenue": 1234.567,
                "Phone": None,
                "ClientSuccess_Id__c": None,
            },
        )
    ]
    rows = to_cs(plan, records_frame(records, plan.read_fields()))
    assert rows.iloc[0].to_dict() == {
        "name": "Acme",
        "domain": "acme.com",
        "status": "Active",  # value map, case-insensitively, to the canonical CS value
        "industry": "Retail",
        "employees": 12,
        "annual_revenue": 1234.57,
        "phone": None,
    }


def test_push_resolves_enumerations_against_live_options_or_rejects_before_any_call():
    plan = _plan()
    rows = pd.DataFrame(
        {
            "name": ["A", "B", "C"],
            "domain": ["a.com", "b.com", "c.com"],
            "status": ["active", "Churned", None],
            "employees": [1, 2, 3],
            "annual_revenue": [1.5, None, 3.0],
            "phone": [None, None, None],
        },
        index=[10, 11, 12],
        dtype="object",
    )
    options = {"clientsuccess_status": ("Active", "Trial", "Inactive", "Terminated")}
    values, reasons = to_external(plan, rows, options)
    assert values.loc[10, "clientsuccess_status"] == "Active"
    assert values.loc[12, "clientsuccess_status"] is None
    assert pd.isna(reasons[10]) and pd.isna(reasons[12])
    assert reasons[11] == (
        "status 'Churned' has no match among the Hubspot options for clientsuccess_status "
        "(Active, Trial, Inactive, Terminated)"
    )


def test_canonical_forms_and_missing_equals_missing():
    assert canonical(pd.Series(["2026-01-05T10:00:00Z", None]), "date").tolist() == ["2026-01-05", None]
    assert canonical(pd.Series(["12.346", "x"]), "number").tolist() == [12.35, None]
    assert canonical(pd.Series(["", "a"]), "text").tolist() == [None, "a"]
    assert same(pd.Series([None, "a", "A"]), pd.Series([None, "a", "a"])).tolist() == [True, True, False]
    assert same(pd.Series(["A"]), pd.Series(["a"]), casefold=True).tolist() == [True]


def test_values_no_column_can_hold_get_a_reason_not_an_exception():
    plan = _plan()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    values = [
        {"name": "Ok", "numberofemployees": "12", "annualrevenue": "10.5", "industry": "Retail"},
        {"name": "Big", "numberofemployees": "1e20"},
        {"name": "Inf", "annualrevenue": "1e309"},
        {"name": "Nul\x00", "industry": "Retail"},
        {"name": "Long", "industry": "x" * 256},
        {"name": "Int32", "numberofemployees": "3000000000"},
    ]
    records = [ExternalRecord(str(i), at, v) for i, v in enumerate(values)]
    external = records_frame(records, plan.read_fields())
    rows = to_cs(plan, external)
    reasons = unreadable(plan, external, rows).fillna(storable(plan, rows))
    assert reasons.isna().tolist() == [True, False, False, False, False, False]
    assert "out of range for employees" in reasons[1]
    assert "NUL" in reasons[3] and "\x00" not in reasons[3]
    assert "longer than the 255 characters industry holds" in reasons[4]
    assert "out of range for employees" in reasons[5]
