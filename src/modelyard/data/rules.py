"""What a dataset must satisfy: schema, quality and outlier rules (pydantic, ``extra="forbid"``).

validation:
  schema:
    amount: {type: float, min: 0}
    merchant_category: {type: category, allowed: [grocery, travel, ...], nullable: false}
  on_violation: drop          # rows breaking a schema rule: fail | drop | flag
  quality: {max_missing_fraction: 0.05, max_duplicate_fraction: 0.01}
  outliers: {method: iqr, action: flag}
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from modelyard.entities.specs import SpecModel

__all__ = [
    "COLUMN_TYPES",
    "ColumnRule",
    "OutlierRules",
    "QualityRules",
    "ValidationSpec",
]

ColumnType = Literal["float", "integer", "numeric", "boolean", "string", "category", "datetime"]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]
RowAction = Literal["fail", "drop", "flag"]
DatasetAction = Literal["fail", "flag"]
Fraction = float


class ColumnRule(SpecModel):
    """Rules for one column. A missing ``required`` column or a wrong ``type`` always fails."""

    type: ColumnType | None = None
    min: float | dt.datetime | dt.date | None = None
    """a number, or a date / timestamp for a datetime column"""
    max: float | dt.datetime | dt.date | None = None
    allowed: list[Any] | None = Field(default=None, min_length=1)
    nullable: bool = True
    required: bool = True
    unique: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> ColumnRule:
        numeric = [isinstance(v, (int, float)) for v in (self.min, self.max) if v is not None]
        if len(set(numeric)) > 1:
            raise ValueError("min and max must both be numbers or both be dates")
        if any(not n for n in numeric) and self.type not in (None, "datetime"):
            raise ValueError(f"a date min / max needs type datetime, not {self.type}")
        if self.min is not None and self.max is not None and _key(self.min) > _key(self.max):
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.type in (
            "boolean",
            "string",
            "category",
        ):
            raise ValueError(f"min / max apply to numeric or datetime columns, not {self.type}")
        return self


def _key(value: float | dt.date) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return value


class QualityRules(SpecModel):
    """Dataset-level checks; a failed one fails the run (``action: fail``) or is reported."""

    max_missing_fraction: Fraction | None = Field(default=None, ge=0, le=1)
    max_duplicate_fraction: Fraction | None = Field(default=None, ge=0, le=1)
    duplicate_columns: list[str] | None = Field(default=None, min_length=1)
    constant_columns: Literal["fail", "flag", "ignore"] = "flag"
    min_rows: int = Field(default=1, ge=1)
    action: DatasetAction = "fail"


class OutlierRules(SpecModel):
    """Outlier rows by IQR (``threshold`` = k, default 1.5), z-score (default 3.0) or an
    IsolationForest (``threshold`` = contamination, default 'auto').

    ``action``: flag (report them), drop (remove them), fail (fail when more than
    ``max_fraction`` of the rows are outliers; default 0: any outlier fails)."""

    method: Literal["iqr", "zscore", "isolation_forest"] = "iqr"
    action: RowAction = "flag"
    columns: list[str] | None = Field(default=None, min_length=1)
    threshold: float | None = Field(default=None, gt=0)
    max_fraction: Fraction = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _threshold(self) -> OutlierRules:
        if (
            self.method == "isolation_forest"
            and self.threshold is not None
            and self.threshold > 0.5
        ):
            raise ValueError(
                "threshold is the IsolationForest contamination and must be in (0, 0.5]"
            )
        return self


class ValidationSpec(SpecModel):
    """Every check a dataset goes through before it is split and trained on."""

    columns: dict[str, ColumnRule] = Field(default_factory=dict, alias="schema")
    on_violation: RowAction = "fail"
    quality: QualityRules | None = None
    outliers: OutlierRules | None = None

    @field_validator("columns", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value
