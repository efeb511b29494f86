"""Schema, quality and outlier checks, their actions, and the report."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from modelyard.data import ValidationSpec, validate
from modelyard.errors import DataValidationError


def spec(**rules: Any) -> ValidationSpec:
    return ValidationSpec.model_validate(rules)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3, 0.3, n),
            "channel": pd.Series(rng.choice(["pos", "online"], n), dtype="string"),
            "hour": rng.integers(0, 24, n),
            "ts": pd.date_range("2026-01-01", periods=n, freq="h"),
            "label": rng.integers(0, 2, n),
        }
    )


def by_name(report: Any, name: str, column: str | None = None) -> Any:
    return next(
        c for c in report.checks if c.name == name and (column is None or c.column == column)
    )


def test_a_clean_frame_passes_every_check(frame: pd.DataFrame) -> None:
    report = validate(
        frame,
        spec(
            schema={
                "amount": {"type": "float", "min": 0},
                "channel": {"type": "category", "allowed": ["pos", "online"], "nullable": False},
                "hour": {"type": "integer", "min": 0, "max": 23},
                "ts": {"type": "datetime", "min": "2025-12-31"},
            },
            quality={"max_missing_fraction": 0.0, "max_duplicate_fraction": 0.0},
        ),
        exclude=["label"],
    )
    assert report.passed and report.rows_out == len(frame)
    assert report.count("failed") == report.count("dropped") == report.count("flagged") == 0
    report.raise_for_failures()


def test_a_type_that_contradicts_the_schema_fails_naming_the_column(frame: pd.DataFrame) -> None:
    frame["amount"] = frame["amount"].round(2).astype(str).astype("string")
    frame.loc[3, "amount"] = "twelve"
    report = validate(frame, spec(schema={"amount": {"type": "float"}, "hour": {"type": "string"}}))
    amount = by_name(report, "schema.type", "amount")
    assert amount.status == "failed" and amount.examples == ["twelve"]
    assert "1 value(s) do not parse as float" in amount.message
    assert by_name(report, "schema.type", "hour").status == "failed"
    with pytest.raises(DataValidationError, match="'amount' should be float") as err:
        report.raise_for_failures()
    assert err.value.details["field"] == "validation.schema.amount.type"
    assert len(err.value.details["checks"]) == 2


def test_a_missing_required_column_fails(frame: pd.DataFrame) -> None:
    report = validate(
        frame, spec(schema={"merchant": {"type": "string"}, "x": {"required": False}})
    )
    assert [c.status for c in report.checks] == ["failed"]
    assert "required column 'merchant' is missing" in report.checks[0].message


@pytest.mark.parametrize(
    ("action", "status", "kept"), [("flag", "flagged", 200), ("drop", "dropped", 197)]
)
def test_row_violations_flag_or_drop(
    frame: pd.DataFrame, action: str, status: str, kept: int
) -> None:
    frame.loc[[1, 2], "amount"] = -5.0
    frame.loc[7, "channel"] = "atm"
    report = validate(
        frame,
        spec(
            schema={"amount": {"min": 0}, "channel": {"allowed": ["pos", "online"]}},
            on_violation=action,
        ),
    )
    assert report.passed and report.rows_out == kept
    below = by_name(report, "schema.min")
    assert (below.status, below.rows, below.examples) == (status, 2, [-5.0])
    assert by_name(report, "schema.allowed").examples == ["atm"]
    if action == "drop":
        assert not report.keep[[1, 2, 7]].any()


def test_row_violations_fail_by_default(frame: pd.DataFrame) -> None:
    frame.loc[5, "channel"] = None
    report = validate(frame, spec(schema={"channel": {"nullable": False}}))
    assert not report.passed
    with pytest.raises(DataValidationError, match="missing values"):
        report.raise_for_failures()


def test_quality_missing_duplicates_constant(frame: pd.DataFrame) -> None:
    frame.loc[:19, "amount"] = np.nan
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)
    frame["const"] = 1
    report = validate(
        frame,
        spec(
            quality={
                "max_missing_fraction": 0.05,
                "max_duplicate_fraction": 0.01,
                "constant_columns": "fail",
            }
        ),
        exclude=["label"],
    )
    statuses = {(c.name, c.column): c.status for c in report.checks}
    assert statuses[("quality.missing", "amount")] == "failed"
    assert statuses[("quality.duplicates", None)] == "failed"
    assert statuses[("quality.constant", "const")] == "failed"
    flagged = validate(
        frame, spec(quality={"max_missing_fraction": 0.05, "action": "flag"}), exclude=["label"]
    )
    assert flagged.passed and by_name(flagged, "quality.missing", "amount").status == "flagged"
    assert by_name(flagged, "quality.constant", "const").status == "flagged"


@pytest.mark.parametrize("method", ["iqr", "zscore", "isolation_forest"])
def test_outliers_by_each_method(frame: pd.DataFrame, method: str) -> None:
    frame.loc[[10, 20], "amount"] = 1e6
    threshold = {"isolation_forest": 0.01}.get(method)
    flag = validate(
        frame, spec(outliers={"method": method, "columns": ["amount"], "threshold": threshold})
    )
    check = by_name(flag, f"outliers.{method}")
    assert check.status == "flagged" and flag.rows_out == len(frame)
    assert {10, 20} <= set(check.examples) or check.rows >= 2
    dropped = validate(
        frame,
        spec(
            outliers={
                "method": method,
                "columns": ["amount"],
                "action": "drop",
                "threshold": threshold,
            }
        ),
    )
    assert not dropped.keep[[10, 20]].any()
    failed = validate(
        frame,
        spec(
            outliers={
                "method": method,
                "columns": ["amount"],
                "action": "fail",
                "threshold": threshold,
            }
        ),
    )
    assert not failed.passed
    tolerant = validate(
        frame,
        spec(
            outliers={
                "method": method,
                "columns": ["amount"],
                "action": "fail",
                "max_fraction": 0.5,
                "threshold": threshold,
            }
        ),
    )
    assert tolerant.passed and by_name(tolerant, f"outliers.{method}").status == "flagged"


def test_report_json_and_text(frame: pd.DataFrame) -> None:
    frame.loc[0, "amount"] = -1.0
    report = validate(
        frame, spec(schema={"amount": {"min": 0}}, on_violation="drop"), source="tx.parquet"
    )
    data = report.to_dict()
    assert data["passed"] and data["rows_in"] == 200 and data["rows_out"] == 199
    assert data["summary"]["dropped"] == 1
    text = report.to_text()
    assert text.startswith("Validation of tx.parquet: PASSED")
    assert "DROP  schema.min" in text and "amount" in text


def test_rules_are_strict() -> None:
    with pytest.raises(ValidationError) as err:
        ValidationSpec.model_validate(
            {"schema": {"a": {"type": "decimal", "mn": 0}}, "outliers": {"method": "lof"}}
        )
    locs = {tuple(e["loc"]) for e in err.value.errors()}
    assert ("schema", "a", "type") in locs and ("schema", "a", "mn") in locs
    assert ("outliers", "method") in locs
    with pytest.raises(ValidationError, match="greater than max"):
        ValidationSpec.model_validate({"schema": {"a": {"min": 5, "max": 1}}})
