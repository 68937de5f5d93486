"""The validate step: suites load and fit the CS models; bad rows are split off with a rule and a reason."""

import datetime as dt
import json
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from crmsync.config import EXPECTATIONS_DIR
from crmsync.errors import CrmsyncError
from crmsync.models import CS_MODELS
from crmsync.validation import (
    DIRECTIONS,
    ExpectationRunError,
    SuiteError,
    load_suite,
    suite_names,
    validate,
)

NUMBERS_AND_DATES = {"employees", "annual_revenue", "amount", "start_date", "end_date"}
SUITES = [f"{obj}.{direction}" for obj in CS_MODELS for direction in DIRECTIONS]


def test_there_is_one_suite_per_object_and_direction():
    assert suite_names() == sorted(SUITES)


@pytest.mark.parametrize("name", SUITES)
def test_suite_loads_and_names_only_model_columns(name):
    cs_object, direction = name.split(".")
    suite = load_suite(cs_object, direction)
    raw = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    assert suite.name == name
    assert len(suite.expectations) == len(raw["expectations"]) > 0  # nothing silently dropped
    fields = set(CS_MODELS[cs_object].model_fields)
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        columns = {kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs}
        assert columns and columns <= fields, expectation.configuration


def _clients() -> pd.DataFrame:
    # An index that is not 0..n-1, to check failures point at the input's own row labels.
    return pd.DataFrame(
        {
            "name": ["Acme", None, "Beta", "Gamma", "Delta"],
            "domain": ["acme.com", "b.io", None, "not a domain", "delta.co.uk"],
            "status": ["Active", "Trial", "Actve", None, "Terminated"],
            "employees": pd.array([10, None, 5, 3, -1], dtype="Int64"),
            "annual_revenue": pd.array([1.5, None, 2.0, 0.0, 3.0], dtype="Float64"),
        },
        index=[101, 205, 307, 409, 511],
    )


def test_bad_client_rows_fail_with_rule_and_reason_and_the_rest_stay_valid():
    frame = _clients()
    result = validate(frame, "clients", "pull")

    assert list(result.valid.index) == [101]
    assert list(result.valid.columns) == list(frame.columns)
    assert result.failures.to_dict("index") == {
        205: {"rule": "expect_column_values_to_not_be_null(name)", "reason": "name is required"},
        307: {
            "rule": "expect_column_values_to_be_in_set(status)",
            "reason": "status 'Actve' is not one of Active, Trial, Inactive, Terminated",
        },
        409: {
            "rule": "expect_column_values_to_match_regex(domain)",
            "reason": "domain 'not a domain' is not a valid domain (like acme.com)",
        },
        511: {
            "rule": "expect_column_values_to_be_between(employees)",
            "reason": "employees -1 must be between 0 and 2147483647",
        },
    }


def test_a_row_failing_several_rules_gets_one_line_led_by_the_first_rule_of_the_suite():
    frame = pd.DataFrame({"name": [None], "employees": [-3], "status": ["nope"]}, index=["x"])
    failure = validate(frame, "clients", "pull").failures.loc["x"]
    assert failure["rule"] == "expect_column_values_to_not_be_null(name)"
    assert failure["reason"] == (
        "name is required; status 'nope' is not one of Active, Trial, Inactive, Terminated; "
        "employees -3 must be between 0 and 2147483647"
    )


def test_push_accepts_any_case_of_a_status_but_not_an_unknown_one():
    frame = pd.DataFrame({"name": ["A", "B"], "status": ["active", "Actve"]})
    result = validate(frame, "clients", "push")
    assert list(result.valid.index) == [0]
    assert result.failures.loc[1, "reason"] == (
        "status 'Actve' is not a valid client status (Active, Trial, Inactive or Terminated)"
    )


def test_negative_amount_and_end_before_start_fail_a_subscription():
    frame = pd.DataFrame(
        {
            "name": ["Gold", "Silver", "Bronze"],
            "amount": pd.array([100.0, -5.0, None], dtype="Float64"),
            "start_date": [dt.date(2024, 1, 1), None, dt.date(2024, 5, 1)],
            "end_date": [dt.date(2024, 12, 31), dt.date(2024, 1, 1), dt.date(2024, 4, 1)],
        }
    )
    failures = validate(frame, "subscriptions", "pull").failures
    assert failures.to_dict("index") == {
        1: {
            "rule": "expect_column_values_to_be_between(amount)",
            "reason": "amount -5 must be between 0 and 1000000000000000",
        },
        2: {
            "rule": "expect_column_pair_values_a_to_be_greater_than_b(end_date, start_date)",
            "reason": "end_date 2024-04-01 is before start_date 2024-05-01",
        },
    }


def test_contact_email_may_be_missing_on_pull_but_is_required_on_push():
    frame = pd.DataFrame({"email": ["ann@acme.com", "not-an-email", None]}, index=[7, 7, 8])
    pulled = validate(frame, "contacts", "pull")
    pushed = validate(frame, "contacts", "push")

    assert list(pulled.valid.index) == [7, 8]
    assert pulled.valid["email"].iloc[0] == "ann@acme.com" and pd.isna(pulled.valid["email"].iloc[1])
    assert pulled.failures["reason"].tolist() == ["email 'not-an-email' is not a valid email address"]
    assert pushed.valid["email"].tolist() == ["ann@acme.com"]
    assert pushed.failures.to_dict("records") == [
        {
            "rule": "expect_column_values_to_match_regex(email)",
            "reason": "email 'not-an-email' is not a valid email address",
        },
        {"rule": "expect_column_values_to_not_be_null(email)", "reason": "email is required"},
    ]
    assert list(pushed.failures.index) == [7, 8]  # duplicate labels are kept apart by position


def test_a_reason_stays_on_one_line_whatever_the_value_holds():
    frame = pd.DataFrame({"email": ["ann@acme.com\nbob"]})
    reason = validate(frame, "contacts", "push").failures["reason"].iloc[0]
    assert reason == "email 'ann@acme.com\\nbob' is not a valid email address"


def test_columns_the_mapping_does_not_map_are_not_checked():
    frame = pd.DataFrame({"industry": ["Software"], "phone": ["+1 555 0100"]})  # no name, no status
    result = validate(frame, "clients", "pull")
    assert result.valid.equals(frame)
    assert result.failures.empty


def test_an_empty_chunk_is_trivially_valid():
    frame = _clients().iloc[:0]
    result = validate(frame, "clients", "pull")
    assert result.valid.empty and list(result.valid.columns) == list(frame.columns)
    assert result.failures.empty and list(result.failures.columns) == ["rule", "reason"]


@pytest.mark.parametrize("name", SUITES)
def test_validation_is_quiet_no_progress_bars_or_warnings(capfd, name):
    cs_object, direction = name.split(".")
    columns = list(CS_MODELS[cs_object].model_fields)
    frame = pd.DataFrame({c: ["x"] for c in columns if c not in NUMBERS_AND_DATES}).assign(
        employees=1, annual_revenue=1.0, amount=1.0, start_date=dt.date(2024, 1, 1), end_date=None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate(pd.concat([frame] * 20), cs_object, direction)
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err


def test_chunks_validated_on_several_threads_keep_their_own_rows():
    def one(i: int) -> list[int]:
        frame = pd.DataFrame({"name": [None if j == i else f"c{j}" for j in range(50 + i)]})
        return list(validate(frame, "clients", "pull").failures.index)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(one, range(16))) == [[i] for i in range(16)]


def test_importing_the_module_loads_neither_gx_nor_pandas():
    code = (
        "import sys, crmsync.validation; print('great_expectations' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


# --- broken suites ------------------------------------------------------------------------


def _expectation(type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {}}


NOT_NULL = _expectation("expect_column_values_to_not_be_null", column="name")

BROKEN = [
    ("{not json", "line 1: not valid JSON: Expecting property name enclosed in double quotes"),
    ([], "(top): the file must be an object with 'name' and 'expectations'"),
    ({"name": "clients.push", "expectations": []}, "name: 'clients.push' does not match the file"),
    ({"name": "clients.pull", "expectations": {}}, "expectations: must be a list"),
    ({"name": "clients.pull", "expectations": [], "owner": "x"}, "owner: unknown key"),
    (
        {"name": "clients.pull", "expectations": [NOT_NULL, _expectation("expect_foo", column="name")]},
        "expectations[1].type: unknown expectation type 'expect_foo'",
    ),
    (
        {"name": "clients.pull", "expectations": [{"type": NOT_NULL["type"], "kwarg": {"column": "name"}}]},
        "expectations[0].kwarg: unknown key",
    ),
    (
        {"name": "clients.pull", "expectations": [_expectation("expect_column_values_to_not_be_null")]},
        "expectations[0].kwargs.column: field required",
    ),
    (
        {
            "name": "clients.pull",
            "expectations": [_expectation("expect_column_values_to_not_be_null", column="stauts")],
        },
        "expectations[0].kwargs.column: unknown ClientSuccess field 'stauts' for clients",
    ),
    (
        {
            "name": "clients.pull",
            "expectations": [_expectation("expect_table_row_count_to_be_between", min_value=1)],
        },
        "expectations[0].type: 'expect_table_row_count_to_be_between' does not judge single rows",
    ),
    (
        {
            "name": "clients.pull",
            "expectations": [_expectation("expect_column_values_to_not_be_null", column="name", mostly=0.9)],
        },
        "expectations[0].kwargs.mostly: must be 1",
    ),
    (
        {
            "name": "clients.pull",
            "expectations": [_expectation("expect_column_values_to_match_regex", column="domain", regex="(")],
        },
        "expectations[0].kwargs: not a valid regular expression",
    ),
]


@pytest.mark.parametrize(("content", "problem"), BROKEN)
def test_a_broken_suite_is_one_line_naming_the_file_and_the_problem(tmp_path: Path, content, problem):
    path = tmp_path / "clients.pull.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SuiteError) as caught:
        load_suite("clients", "pull", tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, CrmsyncError)
    assert "\n" not in message
    assert message.startswith(f"{path}: {problem}"), message


def test_a_missing_suite_names_the_file_and_the_known_suites(tmp_path: Path):
    (tmp_path / "clients.pull.json").write_text(json.dumps({"name": "clients.pull", "expectations": []}))
    with pytest.raises(SuiteError, match=r"contacts\.push\.json: \(top\): no such suite file") as caught:
        validate(pd.DataFrame({"email": ["a@b.co"]}), "contacts", "push", tmp_path)
    assert str(caught.value).endswith("(known suites: clients.pull)")


def test_an_expectation_that_cannot_run_on_the_chunk_is_an_error_not_a_row_failure(tmp_path: Path):
    between = _expectation("expect_column_values_to_be_between", column="employees", min_value=0)
    (tmp_path / "clients.pull.json").write_text(
        json.dumps({"name": "clients.pull", "expectations": [between]})
    )
    frame = pd.DataFrame({"employees": ["ten", "eleven"]})  # pulled without its to_int transform
    with pytest.raises(ExpectationRunError, match=r"^clients\.pull: .*\(employees\) could not run: "):
        validate(frame, "clients", "pull", tmp_path)
