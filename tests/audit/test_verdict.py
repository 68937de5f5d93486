"""The one-line verdict of a field: why its two sides differ right now, case by case."""

from types import SimpleNamespace

import pytest

from crmsync.audit.verdict import FieldValues, RecordState, verdict
from crmsync.settings import Effective, effective_direction


def _field(mapped: str, object_direction: str = "push-pull", enabled: bool = True, value_map=None):
    mapping = SimpleNamespace(direction=mapped, value_map=value_map, policy="newest")
    return SimpleNamespace(mapping=mapping, effective=effective_direction(enabled, object_direction, mapped))


def _record(object_direction: str = "push-pull", enabled: bool = True, **more) -> RecordState:
    base = {"linked": True, "crm_exists": True, "cs_exists": True, "quarantine": None}
    return RecordState("HubSpot", enabled, object_direction, **{**base, **more})


CASES = [
    # (mapped, object direction, enabled, (cs, crm, synced), record extras, verdict)
    ("both", "push-pull", True, ("a", "a", "a"), {}, "in sync"),
    ("pull", "push-pull", True, ("new", "a", "a"), {}, "pull only: ClientSuccess edits are not pushed"),
    (
        "pull",
        "push-pull",
        True,
        ("a", "new", "a"),
        {},
        "waiting for the next run: changed in HubSpot after the last pull",
    ),
    ("push", "push-pull", True, ("a", "new", "a"), {}, "push only: HubSpot edits are not pulled"),
    (
        "push",
        "push-pull",
        True,
        ("new", "a", "a"),
        {},
        "waiting for the next run: changed in ClientSuccess after the last push",
    ),
    (
        "both",
        "push-pull",
        True,
        ("x", "y", "a"),
        {},
        "conflict at the next run: both sides changed; the newest policy decides",
    ),
    (
        "both",
        "push-pull",
        True,
        ("a", "new", "a"),
        {},
        "waiting for the next run: changed in HubSpot after the last sync",
    ),
    ("push", "pull", True, ("new", "a", "a"), {}, "not synced: the object is pull only"),
    ("pull", "push", True, ("a", "new", "a"), {}, "not synced: the object is push only"),
    ("both", "disabled", True, ("a", "b", "a"), {}, "not synced: the object is disabled"),
    ("both", "push-pull", False, ("a", "b", "a"), {}, "not synced: the integration is paused"),
    (
        "both",
        "push-pull",
        True,
        ("Churned", "Active", "Active"),
        {"quarantine": "status 'Churned' has no match among the HubSpot options"},
        "quarantined: status 'Churned' has no match among the HubSpot options",
    ),
    (
        "both",
        "push-pull",
        True,
        ("a", None, "a"),
        {"crm_exists": False},
        "no HubSpot record: linked, but it is gone",
    ),
    (
        "both",
        "push-pull",
        True,
        ("a", "b", None),
        {"linked": False},
        "not linked yet: the next run links the two records",
    ),
]


@pytest.mark.parametrize(("mapped", "obj", "enabled", "values", "extra", "expected"), CASES)
def test_verdict(mapped, obj, enabled, values, extra, expected):
    cs, crm, synced = values
    field = _field(mapped, obj, enabled)
    assert (
        verdict(field, FieldValues(cs, crm, synced, known=True), _record(obj, enabled, **extra)) == expected
    )


def test_a_value_mapped_field_compares_case_insensitively():
    field = _field("both", value_map={"Active": "Active"})
    assert field.effective is Effective.BOTH
    assert verdict(field, FieldValues("active", "Active", "Active", known=True), _record()) == "in sync"
