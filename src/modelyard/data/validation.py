"""Validate a dataset against a :class:`ValidationSpec` and write a report.

    report = validate(frame, spec, exclude=["is_fraud"])
    report.to_text()          # for people
    report.to_dict()          # saved as JSON with the run
    clean = frame[report.keep]
    report.raise_for_failures()

Each check yields one :class:`Check` with a status: ``passed``, ``failed`` (the run must stop),
``dropped`` (its rows were removed) or ``flagged`` (reported, rows kept). Checks are vectorised
(pandas / numpy); IsolationForest comes from scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data.rules import ColumnRule, OutlierRules, QualityRules, ValidationSpec
from modelyard.errors import DataValidationError
from modelyard.flavors import column_kind

__all__ = ["Check", "ValidationReport", "column_kind", "validate"]

_EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """One check's outcome. ``rows`` is how many rows it concerned (0 for dataset checks)."""

    name: str
    status: str
    message: str
    column: str | None = None
    rows: int = 0
    examples: list[Any] = field(default_factory=list)
    path: str = ""
    """Where the rule is declared in the spec (``validation.schema.amount.min``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "status": self.status,
            "message": self.message,
            "rows": self.rows,
            "examples": [_plain(v) for v in self.examples],
            "path": self.path,
        }


@dataclass
class ValidationReport:
    """Every check's outcome, and which rows survive (``keep``)."""

    source: str
    rows_in: int
    keep: np.ndarray
    checks: list[Check] = field(default_factory=list)

    @property
    def rows_out(self) -> int:
        return int(self.keep.sum())

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]

    @property
    def passed(self) -> bool:
        return not self.failures

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "passed": self.passed,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "summary": {s: self.count(s) for s in ("passed", "failed", "dropped", "flagged")},
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_text(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"Validation of {self.source}: {verdict}",
            f"rows in: {self.rows_in}, rows out: {self.rows_out}; checks: "
            + ", ".join(f"{self.count(s)} {s}" for s in ("passed", "failed", "dropped", "flagged")),
            "",
        ]
        marks = {"passed": "ok  ", "failed": "FAIL", "dropped": "DROP", "flagged": "FLAG"}
        width = max((len(c.name) for c in self.checks), default=10)
        cwidth = max((len(c.column or "") for c in self.checks), default=6)
        for c in self.checks:
            line = f"{marks[c.status]}  {c.name:<{width}}  {c.column or '':<{cwidth}}  {c.message}"
            if c.examples:
                line += f"  e.g. {', '.join(repr(_plain(v)) for v in c.examples)}"
            lines.append(line.rstrip())
        return "\n".join(lines) + "\n"

    def raise_for_failures(self) -> None:
        if not self.failures:
            return
        first = self.failures[0]
        others = "".join(f"\n  - {_described(c)}" for c in self.failures[1:])
        raise DataValidationError(
            f"Data validation failed ({len(self.failures)} check(s)): {_described(first)}{others}",
            field=first.path or first.column,
            checks=[c.to_dict() for c in self.failures],
        )


def _described(check: Check) -> str:
    """``validation.schema.amount.type: column 'amount' should be ...; e.g. 'abc'``: where the
    rule is declared, what failed, and the values that broke it (as report.txt shows them)."""
    text = f"{check.path}: {check.message}" if check.path else check.message
    if check.examples:
        text += f"; e.g. {', '.join(repr(_plain(v)) for v in check.examples)}"
    return text


def validate(
    frame: pd.DataFrame,
    spec: ValidationSpec,
    *,
    source: str = "data",
    exclude: Sequence[str] = (),
    seed: int = 0,
) -> ValidationReport:
    """Run every check of ``spec`` on ``frame``. ``exclude`` columns (the target) are not
    considered for outliers or constant columns."""
    report = ValidationReport(source, len(frame), np.ones(len(frame), dtype=bool))
    for name, rule in spec.columns.items():
        _check_column(frame, name, rule, spec.on_violation, report)
    if spec.quality is not None:
        _check_quality(frame, spec.quality, exclude, report)
    if spec.outliers is not None:
        _check_outliers(frame, spec.outliers, exclude, seed, report)
    return report


# -- schema ----------------------------------------------------------------------------------
def _type_problem(series: pd.Series, want: str) -> tuple[str, list[Any]] | None:
    """Why ``series`` is not of type ``want`` (with example values), or None."""
    have = column_kind(series)
    ok = {
        "float": ("float", "integer"),
        "numeric": ("float", "integer"),
        "integer": ("integer",),
        "boolean": ("boolean",),
        "string": ("string", "category"),
        "category": ("string", "category", "integer", "boolean"),
        "datetime": ("datetime",),
    }[want]
    if have in ok:
        return None
    if want == "integer" and have == "float":
        values = series.dropna().to_numpy()
        bad = values[values != np.round(values)]
        if not len(bad):
            return None
        return f"holds non-integer numbers ({len(bad)} rows)", list(bad[:_EXAMPLES])
    if have == "string" and want in ("float", "numeric", "integer", "datetime"):
        parsed = (
            pd.to_datetime(series, errors="coerce", format="mixed")
            if want == "datetime"
            else pd.to_numeric(series, errors="coerce")
        )
        bad = series[parsed.isna() & series.notna()]
        return (
            f"is text, and {len(bad)} value(s) do not parse as {want}",
            list(bad.unique()[:_EXAMPLES]),
        )
    return f"has type {have} ({series.dtype})", []


def _check_column(
    frame: pd.DataFrame, name: str, rule: ColumnRule, action: str, report: ValidationReport
) -> None:
    path = f"validation.schema.{name}"
    if name not in frame.columns:
        if rule.required:
            report.checks.append(
                Check(
                    "schema.required",
                    "failed",
                    f"required column {name!r} is missing; the data has "
                    f"{', '.join(map(str, frame.columns))}",
                    name,
                    path=path,
                )
            )
        return
    series = frame[name]
    if rule.type is not None:
        problem = _type_problem(series, rule.type)
        if problem is not None:
            why, examples = problem
            report.checks.append(
                Check(
                    "schema.type",
                    "failed",
                    f"column {name!r} should be {rule.type} but {why}",
                    name,
                    examples=examples,
                    path=f"{path}.type",
                )
            )
            return
        report.checks.append(Check("schema.type", "passed", f"{rule.type}", name, path=path))
    for check, mask, what, ok in _row_rules(series, rule):
        rule_path = f"{path}.{check.split('.')[-1]}"
        _row_check(report, check, name, mask, series, (what, ok), action, rule_path)


def _row_rules(series: pd.Series, rule: ColumnRule) -> Iterable[tuple[str, np.ndarray, str, str]]:
    """(check, mask of violating rows, what violators have, what passing means) per rule."""
    if not rule.nullable:
        yield "schema.nullable", series.isna().to_numpy(), "missing values", "no missing value"
    if rule.min is not None or rule.max is not None:
        values = _comparable(series)
        if rule.min is not None:
            low = _bound(rule.min, values)
            below = (values < low).fillna(False).to_numpy(bool)
            yield "schema.min", below, f"values below {rule.min}", f"all values >= {rule.min}"
        if rule.max is not None:
            high = _bound(rule.max, values)
            above = (values > high).fillna(False).to_numpy(bool)
            yield "schema.max", above, f"values above {rule.max}", f"all values <= {rule.max}"
    if rule.allowed is not None:
        allowed = pd.Series(rule.allowed).astype(str).tolist()
        bad = ~series.astype("string").isin(allowed) & series.notna()
        yield (
            "schema.allowed",
            bad.to_numpy(bool),
            "values not in allowed",
            f"all values in {len(allowed)} allowed",
        )
    if rule.unique:
        dup = series.duplicated(keep="first").to_numpy(bool) & series.notna().to_numpy()
        yield "schema.unique", dup, "duplicate values", "all values unique"


def _bound(value: Any, values: pd.Series) -> Any:
    """A spec bound in the column's terms: a Timestamp (in the column's zone) for datetimes."""
    if values.dtype.kind != "M" and not isinstance(values.dtype, pd.DatetimeTZDtype):
        if not isinstance(value, (int, float)):
            raise DataValidationError(
                f"Column {values.name!r} is not a datetime column, so its min / max must be a "
                f"number, got {value!r}.",
                field=f"validation.schema.{values.name}",
            )
        return value
    ts = pd.Timestamp(value)
    tz = getattr(values.dtype, "tz", None)
    if tz is not None and ts.tzinfo is None:
        return ts.tz_localize(tz)
    return ts


def _comparable(series: pd.Series) -> pd.Series:
    if column_kind(series) in ("float", "integer", "datetime"):
        return series
    return pd.to_numeric(series, errors="coerce")


def _row_check(
    report: ValidationReport,
    check: str,
    column: str,
    mask: np.ndarray,
    series: pd.Series,
    texts: tuple[str, str],
    action: str,
    path: str,
) -> None:
    what, ok = texts
    n = int(mask.sum())
    if n == 0:
        report.checks.append(Check(check, "passed", ok, column, path=path))
        return
    status = {"fail": "failed", "drop": "dropped", "flag": "flagged"}[action]
    examples = list(pd.unique(series[mask].dropna())[:_EXAMPLES])
    if action == "drop":
        report.keep &= ~mask
    report.checks.append(
        Check(
            check,
            status,
            f"{n} row(s) of {column!r} have {what}",
            column,
            n,
            examples,
            path,
        )
    )


# -- quality ---------------------------------------------------------------------------------
def _check_quality(
    frame: pd.DataFrame, rules: QualityRules, exclude: Sequence[str], report: ValidationReport
) -> None:
    failed = "failed" if rules.action == "fail" else "flagged"
    path = "validation.quality"
    n = len(frame)
    status = "passed" if n >= rules.min_rows else failed
    report.checks.append(
        Check("quality.min_rows", status, f"{n} rows (min_rows {rules.min_rows})", path=path)
    )
    if rules.max_missing_fraction is not None:
        missing = frame.isna().mean()
        over = missing[missing > rules.max_missing_fraction]
        for col, frac in over.items():
            report.checks.append(
                Check(
                    "quality.missing",
                    failed,
                    f"{frac:.1%} of {col!r} is missing (max {rules.max_missing_fraction:.1%})",
                    str(col),
                    int(frame[col].isna().sum()),
                    path=f"{path}.max_missing_fraction",
                )
            )
        if over.empty:
            worst = float(missing.max()) if len(missing) else 0.0
            report.checks.append(
                Check("quality.missing", "passed", f"worst column {worst:.2%} missing", path=path)
            )
    if rules.max_duplicate_fraction is not None:
        _duplicates(frame, rules, failed, report)
    if rules.constant_columns != "ignore":
        const_status = "failed" if rules.constant_columns == "fail" else "flagged"
        candidates = [c for c in frame.columns if c not in exclude]
        constant = [c for c in candidates if frame[c].nunique(dropna=False) <= 1]
        for col in constant:
            report.checks.append(
                Check(
                    "quality.constant",
                    const_status,
                    f"column {col!r} has a single value; it carries no information",
                    str(col),
                    examples=list(frame[col].head(1)),
                    path=f"{path}.constant_columns",
                )
            )
        if not constant:
            report.checks.append(Check("quality.constant", "passed", "no constant column"))


def _duplicates(
    frame: pd.DataFrame, rules: QualityRules, failed: str, report: ValidationReport
) -> None:
    subset = rules.duplicate_columns
    missing = [c for c in subset or [] if c not in frame.columns]
    if missing:
        report.checks.append(
            Check(
                "quality.duplicates",
                "failed",
                f"duplicate_columns names unknown column(s) {missing}",
                path="validation.quality.duplicate_columns",
            )
        )
        return
    dup = frame.duplicated(subset=subset, keep="first").to_numpy()
    frac = float(dup.mean()) if len(dup) else 0.0
    limit = rules.max_duplicate_fraction or 0.0
    status = "passed" if frac <= limit else failed
    report.checks.append(
        Check(
            "quality.duplicates",
            status,
            f"{frac:.2%} of rows are duplicates (max {limit:.2%})",
            rows=int(dup.sum()),
            path="validation.quality.max_duplicate_fraction",
        )
    )


# -- outliers --------------------------------------------------------------------------------
def _check_outliers(
    frame: pd.DataFrame,
    rules: OutlierRules,
    exclude: Sequence[str],
    seed: int,
    report: ValidationReport,
) -> None:
    path = "validation.outliers"
    columns = rules.columns or [
        c
        for c in frame.columns
        if c not in exclude and column_kind(frame[c]) in ("float", "integer")
    ]
    unknown = [c for c in columns if c not in frame.columns]
    not_numeric = [
        c
        for c in columns
        if c in frame.columns and column_kind(frame[c]) not in ("float", "integer")
    ]
    if unknown or not_numeric:
        why = f"unknown column(s) {unknown}" if unknown else f"non-numeric column(s) {not_numeric}"
        report.checks.append(
            Check("outliers", "failed", f"outliers.columns names {why}", path=f"{path}.columns")
        )
        return
    if not columns:
        report.checks.append(Check("outliers", "passed", "no numeric columns to check"))
        return
    values = frame[columns].astype(float)
    mask, per_column = _outlier_mask(values, rules, seed)
    n = int(mask.sum())
    frac = n / max(len(frame), 1)
    label = f"outliers.{rules.method}"
    detail = ", ".join(f"{c}: {k}" for c, k in per_column.items() if k) or "none"
    if n == 0:
        report.checks.append(Check(label, "passed", "no outliers", path=path))
        return
    if rules.action == "fail":
        status = "failed" if frac > rules.max_fraction else "flagged"
    else:
        status = "dropped" if rules.action == "drop" else "flagged"
    if status == "dropped":
        report.keep &= ~mask
    report.checks.append(
        Check(
            label,
            status,
            f"{n} row(s) ({frac:.2%}) are outliers by {rules.method} ({detail})",
            rows=n,
            examples=[int(i) for i in np.flatnonzero(mask)[:_EXAMPLES]],
            path=path,
        )
    )


def _outlier_mask(
    values: pd.DataFrame, rules: OutlierRules, seed: int
) -> tuple[np.ndarray, dict[str, int]]:
    if rules.method == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        filled = values.fillna(values.median()).fillna(0.0).to_numpy()
        forest = IsolationForest(
            contamination=rules.threshold if rules.threshold is not None else "auto",
            random_state=seed,
            n_estimators=100,
        )
        mask = forest.fit_predict(filled) == -1
        return mask, {"isolation_forest": int(mask.sum())}
    data = values.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        if rules.method == "iqr":
            k = rules.threshold if rules.threshold is not None else 1.5
            q1, q3 = np.nanpercentile(data, [25, 75], axis=0)
            iqr = q3 - q1
            flags = (data < q1 - k * iqr) | (data > q3 + k * iqr)
        else:
            z = rules.threshold if rules.threshold is not None else 3.0
            std = np.nanstd(data, axis=0)
            scores = np.abs(data - np.nanmean(data, axis=0)) / np.where(std > 0, std, np.inf)
            flags = scores > z
    flags &= ~np.isnan(data)
    per_column = {c: int(flags[:, i].sum()) for i, c in enumerate(values.columns)}
    return flags.any(axis=1), per_column


def _plain(value: Any) -> Any:
    if isinstance(value, (np.datetime64, pd.Timestamp)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    return value
