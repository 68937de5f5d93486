"""Three-way merges and push decisions, column by column, without Prefect or a CRM."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from crmsync.config import DEFAULT_MAPPINGS_DIR
from crmsync.mapping.spec import load_mapping
from crmsync.sync.merge import merge_pull, push_changes
from crmsync.sync.plan import build_plan

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _plan(direction="push-pull", enabled=True):
    mapping = load_mapping(DEFAULT_MAPPINGS_DIR / "hubspot.yaml").for_object("clients", "companies")
    return build_plan("hubspot", "HubSpot", enabled, direction, mapping, "clientsuccess_id", None)


def _frame(values: dict, index=(1,)):
    return pd.DataFrame(values, index=list(index), dtype="object")


def _base(values: dict, index=(1,)):
    base = _frame(values, index)
    for name in list(values):
        base[f"{name}?"] = True
    return base


def _merge(field, base, cs, crm, crm_newer=True, direction="push-pull"):
    plan = _plan(direction)
    fields = tuple(f for f in plan.pull_fields if f.cs == field)
    crm_at = T0 + timedelta(hours=1 if crm_newer else -1)
    return merge_pull(
        fields,
        _frame({field: [crm]}),
        _frame({field: [cs]}),
        _base({field: [base]}),
        pd.Series([crm_at], index=[1]),
        pd.Series([T0], index=[1]),
    )


@pytest.mark.parametrize(
    ("base", "cs", "crm", "value", "changed", "new_base"),
    [
        ("Acme", "Acme", "Acme", "Acme", False, "Acme"),  # nothing changed
        ("Acme", "Acme", "Acme Inc", "Acme Inc", True, "Acme Inc"),  # CRM changed: it wins
        ("Acme", "Acme CS", "Acme", "Acme CS", False, "Acme"),  # CS changed: kept, base stays -> push
        ("Acme", "Same", "Same", "Same", False, "Same"),  # both changed to the same value: no conflict
    ],
)
def test_one_side_changes(base, cs, crm, value, changed, new_base):
    merged = _merge("name", base, cs, crm)
    assert merged.values.at[1, "name"] == value
    assert bool(merged.changed.iloc[0]) is changed
    assert merged.base.at[1, "name"] == new_base
    assert merged.conflicts.empty


@pytest.mark.parametrize(
    ("crm_newer", "winner", "value"), [(True, "external", "Inactive"), (False, "cs", "Trial")]
)
def test_both_sides_change_newest_wins_and_is_recorded(crm_newer, winner, value):
    merged = _merge("status", "Active", "Trial", "Inactive", crm_newer=crm_newer)
    assert merged.values.at[1, "status"] == value
    [conflict] = merged.conflicts.to_dict(orient="records")
    assert (conflict["field"], conflict["base"], conflict["cs"], conflict["external"]) == (
        "status",
        "Active",
        "Trial",
        "Inactive",
    )
    assert (conflict["policy"], conflict["winner"]) == ("newest", winner)
    # The base becomes the CRM's value either way: if CS won, the push sees CS != base and sends it.
    assert merged.base.at[1, "status"] == "Inactive"


def test_case_only_difference_is_no_change_for_value_mapped_fields():
    merged = _merge("status", "Active", "active", "Active")
    assert not merged.changed.iloc[0]
    assert merged.conflicts.empty


def test_first_link_takes_the_crm_value_without_conflict():
    plan = _plan()
    fields = tuple(f for f in plan.pull_fields if f.cs == "name")
    base = pd.DataFrame({"name": [None], "name?": [False]}, index=[1], dtype="object")
    merged = merge_pull(
        fields,
        _frame({"name": ["CRM"]}),
        _frame({"name": ["CS"]}),
        base,
        pd.Series([T0], [1]),
        pd.Series([T0], [1]),
    )
    assert merged.values.at[1, "name"] == "CRM"
    assert merged.conflicts.empty


def test_push_changes_only_where_cs_differs_from_base():
    plan = _plan()
    fields = tuple(f for f in plan.push_fields if f.cs in ("name", "status"))
    current = _frame({"name": ["Acme", "Beta"], "status": ["active", "Trial"]}, index=(1, 2))
    base = _base({"name": ["Acme", "Beta"], "status": ["Active", "Active"]}, index=(1, 2))
    changes = push_changes(fields, current, base)
    assert changes.to_dict(orient="index") == {
        1: {"name": False, "status": False},  # 'active' is 'Active' in ClientSuccess
        2: {"name": False, "status": True},
    }


def test_plan_applies_the_hierarchy():
    assert {f.cs for f in _plan("pull").push_fields} == set()
    assert "industry" not in {f.cs for f in _plan("push").push_fields}  # industry is mapped pull-only
    assert _plan(enabled=False).pull_fields == ()
    assert {f.cs for f in _plan("push").push_fields} == {
        "name",
        "domain",
        "status",
        "employees",
        "annual_revenue",
        "phone",
    }
