"""Data: read datasets from files or object storage, and validate them.

from modelyard.data import read_dataset, validate, ValidationSpec
data = read_dataset("s3://bucket/tx/", workspace)          # parquet, csv, json(l), avro
report = validate(data.frame, ValidationSpec.model_validate(rules), exclude=["is_fraud"])
report.raise_for_failures()
"""

from modelyard.data.ingest import FORMATS, Dataset, detect_format, read_dataset
from modelyard.data.rules import (
    COLUMN_TYPES,
    ColumnRule,
    OutlierRules,
    QualityRules,
    ValidationSpec,
)
from modelyard.data.validation import Check, ValidationReport, column_kind, validate

__all__ = [
    "COLUMN_TYPES",
    "FORMATS",
    "Check",
    "ColumnRule",
    "Dataset",
    "OutlierRules",
    "QualityRules",
    "ValidationReport",
    "ValidationSpec",
    "column_kind",
    "detect_format",
    "read_dataset",
    "validate",
]
