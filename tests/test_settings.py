"""The direction hierarchy: global toggle > object direction > field mapping, case by case."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.settings import (
    SCHEDULES,
    Effective,
    FieldDirection,
    ObjectDirection,
    deciding_level,
    effective_direction,
    next_pull_at,
    schedule_label,
    why_overridden,
)

# (toggle, object direction, field direction) -> effective direction: the whole table, by hand.
TABLE = {
    (True, "push-pull", "push"): "push",
    (True, "push-pull", "pull"): "pull",
    (True, "push-pull", "both"): "both",
    (True, "push", "push"): "push",
    (True, "push", "pull"): "none",  # a pull-mapped field in a push-only object does not sync
    (True, "push", "both"): "push",
    (True, "pull", "push"): "none",  # a push-mapped field in a pull-only object does not push
    (True, "pull", "pull"): "pull",
    (True, "pull", "both"): "pull",
    (True, "disabled", "push"): "none",
    (True, "disabled", "pull"): "none",
    (True, "disabled", "both"): "none",
    **{(False, obj, fld): "none" for obj in ObjectDirection for fld in FieldDirection},
}


def test_table_covers_every_combination():
    assert len(TABLE) == 2 * len(ObjectDirection) * len(FieldDirection) == 24


@pytest.mark.parametrize(("case", "expected"), sorted(TABLE.items(), key=str))
def test_effective_direction_table(case, expected):
    enabled, obj, fld = case
    assert effective_direction(enabled, obj, fld) == Effective(expected)


@given(st.booleans(), st.sampled_from(ObjectDirection), st.sampled_from(FieldDirection))
def test_hierarchy_properties(enabled, obj, fld):
    result = effective_direction(enabled, obj, fld)
    # The global toggle supersedes everything.
    if not enabled or obj is ObjectDirection.DISABLED:
        assert result is Effective.NONE
    # A level below can only narrow what the level above allows, never widen it.
    if result.pushes:
        assert obj in (ObjectDirection.PUSH_PULL, ObjectDirection.PUSH)
        assert fld in (FieldDirection.PUSH, FieldDirection.BOTH)
    if result.pulls:
        assert obj in (ObjectDirection.PUSH_PULL, ObjectDirection.PULL)
        assert fld in (FieldDirection.PULL, FieldDirection.BOTH)
    # With everything open, the field's own direction is what happens.
    if enabled and obj is ObjectDirection.PUSH_PULL:
        assert result.value == fld.value


def test_direction_labels_use_the_page_words():
    assert [d.label("HubSpot") for d in ObjectDirection] == [
        "Push & Pull",
        "Push to HubSpot",
        "Pull from HubSpot",
        "Disabled",
    ]


def test_schedules_and_next_pull():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert list(SCHEDULES) == ["manual", "5m", "10m", "15m", "30m", "60m"]
    assert next_pull_at("manual", True, now) is None
    assert next_pull_at("15m", True, now) == now + timedelta(minutes=15)
    assert next_pull_at("15m", False, now) is None  # paused: nothing is scheduled to run
    assert schedule_label("manual") == "Manual only"
    assert schedule_label("60m") == "Every 60 minutes"


@pytest.mark.parametrize(("case", "expected"), sorted(TABLE.items(), key=str))
def test_why_overridden_names_the_level_that_overrides(case, expected):
    enabled, obj, fld = case
    why = why_overridden(enabled, obj, fld)
    if expected == fld:
        assert why is None  # the field's own direction is what happens
    elif not enabled:
        assert why == "the integration is paused"
    else:
        assert (
            why
            == {
                "disabled": "the object is disabled",
                "push": "the object is push only",
                "pull": "the object is pull only",
            }[obj]
        )


@pytest.mark.parametrize(("case", "expected"), sorted(TABLE.items(), key=str))
def test_deciding_level_names_the_level_of_the_hierarchy_that_decided(case, expected):
    enabled, obj, fld = case
    level = deciding_level(enabled, obj, fld)
    if expected == fld:
        assert level == "field mapping"
    else:
        assert level == ("global toggle" if not enabled else "object direction")
