"""The validate step: run an object's Great Expectations suite over a chunk and split its rows.

A suite is ``expectations/<cs_object>.<direction>.json``, a GX Core 1.x ExpectationSuite over
ClientSuccess columns. A chunk is validated once with the whole suite; the rows GX reports as
unexpected go to ``failures`` with a rule and a one-line reason, the others to ``valid``. An
expectation on a column the chunk does not carry (its mapping does not map it) is skipped.

great_expectations and pandas are imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmsync.config import EXPECTATIONS_DIR, PROJECT_ROOT
from crmsync.errors import CrmsyncError

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations import ExpectationSuite
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from crmsync.expectations import Check

DIRECTIONS = ("pull", "push")
COLUMN_KWARGS = ("column", "column_A", "column_B")
SUITE_KEYS = {"name", "id", "expectations", "suite_parameters", "meta", "notes"}
FAILURE_COLUMNS = ["rule", "reason"]

# GX's pandas engine keeps the current batch per data source, so two threads validating at once
# (Prefect's default task runner is a thread pool) would swap each other's chunk mid-run.
_RUN_LOCK = threading.Lock()


class SuiteError(CrmsyncError):
    """An expectation suite is missing or wrong; one line naming the file and the problem."""


class ExpectationRunError(CrmsyncError):
    """An expectation could not run on a chunk, e.g. a number check on a text column."""


@dataclass(frozen=True)
class ValidationResult:
    """A chunk split by its suite: the rows that passed, and one failure row per rejected row."""

    valid: pd.DataFrame  # same index and columns as the input
    failures: pd.DataFrame  # index: the input's row labels; columns: rule, reason


# --- suites -----------------------------------------------------------------------------


def suite_names(directory: Path | None = None) -> list[str]:
    """The suites on disk, as ``<cs_object>.<direction>`` (e.g. ``clients.pull``)."""
    folder = Path(directory or EXPECTATIONS_DIR)
    return sorted(p.name.removesuffix(".json") for p in folder.glob("*.*.json"))


@lru_cache(maxsize=64)
def load_suite(cs_object: str, direction: str, directory: Path | None = None) -> ExpectationSuite:
    """Read and check ``<directory>/<cs_object>.<direction>.json`` (cached per process)."""
    path = Path(directory or EXPECTATIONS_DIR) / f"{cs_object}.{direction}.json"
    try:
        return _parse_suite(_read_json(path), cs_object, direction)
    except _Problem as exc:
        raise SuiteError(f"{_display(path)}: {exc.where}: {exc.problem}") from None


class _Problem(ValueError):
    """A problem found in a suite file, at a JSON path inside it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where, self.problem = where, problem


def _display(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        known = ", ".join(suite_names(path.parent)) or "none"
        raise _Problem("(top)", f"no such suite file (known suites: {known})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _Problem(f"line {exc.lineno}", f"not valid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Problem("(top)", f"cannot read the file: {exc}") from None


def _parse_suite(data: Any, cs_object: str, direction: str) -> ExpectationSuite:
    from great_expectations import ExpectationSuite

    from crmsync.models import CS_MODELS

    if direction not in DIRECTIONS:
        raise _Problem("(top)", f"unknown direction '{direction}' (known: {', '.join(DIRECTIONS)})")
    if cs_object not in CS_MODELS:
        raise _Problem("(top)", f"unknown ClientSuccess object '{cs_object}' (known: {', '.join(CS_MODELS)})")
    if not isinstance(data, dict):
        raise _Problem("(top)", "the file must be an object with 'name' and 'expectations'")
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise _Problem(unknown[0], f"unknown key (known: {', '.join(sorted(SUITE_KEYS))})")
    if data.get("name") != f"{cs_object}.{direction}":
        raise _Problem(
            "name", f"{data.get('name')!r} does not match the file (expected '{cs_object}.{direction}')"
        )
    expectations = data.get("expectations")
    if not isinstance(expectations, list):
        raise _Problem("expectations", "must be a list")
    fields = set(CS_MODELS[cs_object].model_fields)
    for i, raw in enumerate(expectations):
        _check_expectation(f"expectations[{i}]", raw, cs_object, fields)
    # Checked one by one above: ExpectationSuite itself only logs and drops a bad expectation.
    return ExpectationSuite(**data)


def _check_expectation(where: str, raw: Any, cs_object: str, fields: set[str]) -> None:
    """One expectation must build, judge single rows, and name only the object's columns."""
    from great_expectations.exceptions import (
        ExpectationNotFoundError,
        InvalidExpectationConfigurationError,
    )
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise _Problem(where, "an expectation is an object with 'type', 'kwargs' and 'meta'")
    kwargs = raw.get("kwargs") or {}
    try:
        expectation = ExpectationConfiguration(**raw).to_domain_obj()
    except ExpectationNotFoundError:
        raise _Problem(f"{where}.type", f"unknown expectation type '{raw['type']}'") from None
    except (TypeError, ValueError, InvalidExpectationConfigurationError) as exc:
        unknown_key = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown_key:
            raise _Problem(f"{where}.{unknown_key[1]}", "unknown key (known: type, kwargs, meta)") from None
        if not hasattr(exc, "errors"):
            raise _Problem(where, _one_line(str(exc))) from None
        first = exc.errors()[0]  # GX checks kwargs with pydantic (v1) models
        loc = "".join(f".{part}" for part in first["loc"] if part != "__root__")
        raise _Problem(f"{where}.kwargs{loc}", first["msg"]) from None
    if not isinstance(expectation, ColumnMapExpectation | ColumnPairMapExpectation):
        raise _Problem(
            f"{where}.type", f"'{raw['type']}' does not judge single rows, so it cannot quarantine them"
        )
    _check_kwargs(where, kwargs, cs_object, fields)


def _check_kwargs(where: str, kwargs: dict[str, Any], cs_object: str, fields: set[str]) -> None:
    """A row-level expectation's keywords: no tolerance, valid patterns, the object's own columns."""
    # Rows are quarantined one by one, so a tolerance for some bad rows would be silently ignored.
    if kwargs.get("mostly", 1) != 1:
        raise _Problem(f"{where}.kwargs.mostly", "must be 1: each failing row is rejected on its own")
    patterns = [kwargs["regex"]] if "regex" in kwargs else list(kwargs.get("regex_list") or [])
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _Problem(f"{where}.kwargs", f"not a valid regular expression: {exc}") from None
    for key in COLUMN_KWARGS:
        if key in kwargs and kwargs[key] not in fields:
            raise _Problem(
                f"{where}.kwargs.{key}", f"unknown ClientSuccess field '{kwargs[key]}' for {cs_object}"
            )


def _columns(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation reads, in the order it names them."""
    return [kwargs[key] for key in COLUMN_KWARGS if key in kwargs]


def _rule(config: ExpectationConfiguration | Check) -> str:
    """How a failure names its expectation, e.g. ``expect_column_values_to_not_be_null(name)``."""
    return f"{config.type}({', '.join(_columns(config.kwargs))})"


@lru_cache(maxsize=256)
def _suite_for_columns(
    cs_object: str, direction: str, directory: Path | None, columns: frozenset[str]
) -> ExpectationSuite | None:
    """The suite without the expectations on columns a chunk lacks; None if nothing is left."""
    from great_expectations import ExpectationSuite

    suite = load_suite(cs_object, direction, directory)
    kept = [e.configuration for e in suite.expectations if set(_columns(e.configuration.kwargs)) <= columns]
    return ExpectationSuite(name=suite.name, expectations=kept) if kept else None


# --- running a chunk --------------------------------------------------------------------


def validate(
    frame: pd.DataFrame, cs_object: str, direction: str, directory: Path | None = None
) -> ValidationResult:
    """Validate a chunk against ``<cs_object>.<direction>``, once for the whole chunk."""
    if frame.empty:  # nothing to check: don't pay for importing Great Expectations (~2 s)
        return _split(frame, {})
    checks = _compiled(cs_object, direction, directory)
    if checks is not None:
        return _split(frame, _failed_checks(checks, frame, f"{cs_object}.{direction}"))
    return _split(frame, _run_gx(frame, cs_object, direction, directory))


@lru_cache(maxsize=64)
def _compiled(cs_object: str, direction: str, directory: Path | None) -> list[Check] | None:
    """The suite as vectorised checks, or None when GX itself must run (or explain) it."""
    from crmsync.expectations import compile_suite
    from crmsync.models import CS_MODELS

    if cs_object not in CS_MODELS or direction not in DIRECTIONS:
        return None
    path = Path(directory or EXPECTATIONS_DIR) / f"{cs_object}.{direction}.json"
    return compile_suite(path, set(CS_MODELS[cs_object].model_fields))


def _failed_checks(checks: list[Check], frame: pd.DataFrame, suite: str) -> dict[int, list[tuple[str, str]]]:
    """Row position -> (rule, reason) of each check it failed, in the suite's order."""
    import numpy as np

    from crmsync.expectations import CannotRun

    by_row: dict[int, list[tuple[str, str]]] = {}
    for check in checks:
        if not set(check.columns) <= set(frame.columns):
            continue  # the mapping does not map this column: nothing to check
        try:
            positions = np.flatnonzero(check.unexpected(frame))
        except CannotRun as exc:
            raise ExpectationRunError(f"{suite}: {_rule(check)} could not run: {exc}") from None
        columns = {c: frame[c].to_numpy(dtype=object) for c in check.columns}
        for position in positions.tolist():
            row = {c: values[position] for c, values in columns.items()}
            by_row.setdefault(position, []).append((_rule(check), _reason(check, row)))
    return by_row


def _run_gx(
    frame: pd.DataFrame, cs_object: str, direction: str, directory: Path | None
) -> dict[int, list[tuple[str, str]]]:
    """Row position -> (rule, reason), as Great Expectations' own engine finds them."""
    applicable = _suite_for_columns(cs_object, direction, directory, frozenset(frame.columns))
    if applicable is None:
        return {}
    # GX reports unexpected rows by index label; positions survive any index, even duplicates.
    positional = frame.reset_index(drop=True)
    with _RUN_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": positional})
        result = batch.validate(applicable, result_format={"result_format": "COMPLETE"})
    return _reasons_by_row(result, positional, applicable)


@lru_cache(maxsize=1)
def _batch_definition() -> BatchDefinition:
    """One ephemeral GX context per process, with a whole-DataFrame batch definition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,  # no usage events sent from a sync run
        # tqdm's "Calculating Metrics" bars would flood the CLI and the flow logs on every chunk.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("crmsync").add_dataframe_asset("chunk")
    return asset.add_batch_definition_whole_dataframe("whole chunk")


def _reasons_by_row(
    result: ExpectationSuiteValidationResult, frame: pd.DataFrame, suite: ExpectationSuite
) -> dict[int, list[tuple[str, str]]]:
    """Row position -> (rule, reason) of each expectation it failed, in the suite's order."""
    rank = {}
    for expectation in suite.expectations:
        rank.setdefault(_rule(expectation.configuration), len(rank))
    by_row: dict[int, list[tuple[str, str]]] = {}
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        positions = outcome.result.get("unexpected_index_list")
        if not positions:  # a failure that names no rows must not let every row through
            problem = _exception_message(outcome.exception_info) or "it failed without naming rows"
            raise ExpectationRunError(f"{suite.name}: {_rule(config)} could not run: {problem}")
        rule = _rule(config)
        columns = {c: frame[c].to_numpy(dtype=object) for c in _columns(config.kwargs)}
        for position in positions:
            row = {c: values[position] for c, values in columns.items()}
            by_row.setdefault(position, []).append((rule, _reason(config, row)))
    for failed in by_row.values():
        # GX returns results in its own order; a row reports its rules in the suite's.
        failed.sort(key=lambda pair: rank.get(pair[0], len(rank)))
    return by_row


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """The error GX caught while computing an expectation, if any.

    ``exception_info`` is either one flat record or, when a metric failed, a record per metric.
    """
    records = [info] if info and "raised_exception" in info else list((info or {}).values())
    return next((r.get("exception_message") for r in records if r.get("raised_exception")), None)


def _split(frame: pd.DataFrame, by_row: dict[int, list[tuple[str, str]]]) -> ValidationResult:
    """Failing rows to ``failures`` (first rule, all reasons), the rest to ``valid``."""
    import pandas as pd

    positions = sorted(by_row)
    rows = [(by_row[p][0][0], "; ".join(reason for _, reason in by_row[p])) for p in positions]
    failures = pd.DataFrame(rows, columns=FAILURE_COLUMNS, index=frame.index[positions], dtype=object)
    if not by_row:
        return ValidationResult(valid=frame, failures=failures)
    keep = [i for i in range(len(frame)) if i not in by_row]
    return ValidationResult(valid=frame.iloc[keep], failures=failures)


# --- reasons ----------------------------------------------------------------------------


def _reason(config: ExpectationConfiguration | Check, row: dict[str, Any]) -> str:
    """A one-line, human reason why this row fails this expectation."""
    kw, meta = config.kwargs, config.meta or {}
    explain = _REASONS.get(config.type)
    if explain is not None:
        return explain(kw, meta, row)
    values = ", ".join(f"{c} {_show(row[c])}" for c in _columns(kw))
    return f"{values} fails {config.type}"


def _not_null(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    return f"{kw['column']} is required"


def _in_set(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    options = ", ".join(str(v) for v in kw["value_set"])
    return f"{kw['column']} {_show(row[kw['column']])} is not one of {options}"


def _between(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    return f"{kw['column']} {_show(row[kw['column']])} must be {_bounds(kw)}"


def _length(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    length = len(str(row[kw["column"]]))
    return f"{kw['column']} is {length} characters long; it must be {_bounds(kw)}"


def _regex(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    value = _show(row[kw["column"]])
    if meta.get("format"):
        return f"{kw['column']} {value} is not a valid {meta['format']}"
    return f"{kw['column']} {value} does not match {kw['regex']}"


def _a_after_b(kw: dict, meta: dict, row: dict[str, Any]) -> str:
    a, b = kw["column_A"], kw["column_B"]
    relation = "is before" if kw.get("or_equal") else "is not after"
    return f"{a} {_show(row[a])} {relation} {b} {_show(row[b])}"


_REASONS = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_value_lengths_to_be_between": _length,
    "expect_column_values_to_match_regex": _regex,
    "expect_column_pair_values_a_to_be_greater_than_b": _a_after_b,
}


def _bounds(kw: dict) -> str:
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and high is not None:
        return f"between {_show(low)} and {_show(high)}"
    if low is not None:
        return f"{'greater than' if kw.get('strict_min') else 'at least'} {_show(low)}"
    return f"{'less than' if kw.get('strict_max') else 'at most'} {_show(high)}"


def _show(value: Any) -> str:
    """A value as a reason shows it: text quoted and cut short, whole numbers without '.0'."""
    import pandas as pd

    if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
        return "(missing)"
    if isinstance(value, str):
        return _one_line(f"'{value[:60]}…'" if len(value) > 60 else f"'{value}'")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _one_line(str(value))


def _one_line(text: str) -> str:
    """Keep a reason on one line whatever the data holds."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
