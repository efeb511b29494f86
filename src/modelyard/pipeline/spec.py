"""The pipeline spec: a YAML file that says how data becomes a registered model.

Every section is a pydantic model with ``extra="forbid"``; :func:`modelyard.pipeline.load_spec`
adds the checks that need more than one section or an import (estimator parameters, metric
names, import paths) and reports every problem with its path before anything runs. The full
reference is docs/pipelines.md.

The ``data`` section is a tagged union: a file (``source:``) or point-in-time features from the
feature store joined onto a labelled entity file (``features:`` / ``entities:``). Another kind is
one more model subclassing :class:`DataCommon`, one more member of :data:`DataSpec`, one branch
in :func:`_data_kind` and a loader (:func:`modelyard.pipeline.register_data_loader`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from modelyard.data import ValidationSpec
from modelyard.entities import MODEL_NAME_PATTERN
from modelyard.entities.specs import SpecModel

__all__ = [
    "CategoricalTransform",
    "ChoiceDim",
    "CrossValidationSpec",
    "CustomMetric",
    "DataCommon",
    "DataSpec",
    "DatetimeTransform",
    "EvaluateSpec",
    "FeatureData",
    "FeatureFunction",
    "FileData",
    "GateSpec",
    "NumericTransform",
    "PipelineSpec",
    "RangeDim",
    "RegisterSpec",
    "SplitSpec",
    "TrainSpec",
    "TransformSpec",
    "TuneSpec",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
Task = Literal["auto", "classification", "regression"]


def _import_path(value: str) -> str:
    if not IMPORT_PATH.match(value) or ("." not in value and ":" not in value):
        raise ValueError(
            "must be an import path like 'package.module:name' or 'package.module.name'"
        )
    return value


ImportPath = Annotated[str, BeforeValidator(lambda v: _import_path(v) if isinstance(v, str) else v)]


# -- data ------------------------------------------------------------------------------------
class DataCommon(SpecModel):
    """What every data source declares: the label, the event time, columns to leave out."""

    target: str = Field(min_length=1)
    timestamp: str | None = None
    """event time: orders a temporal split and time-series cross-validation"""
    drop: list[str] = Field(default_factory=list)
    """columns that are not model inputs (ids, leakage)"""

    @field_validator("timestamp")
    @classmethod
    def _not_the_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value == info.data.get("target"):
            raise ValueError("timestamp and target must be different columns")
        return value

    @field_validator("drop")
    @classmethod
    def _keeps_the_target(cls, value: list[str], info: ValidationInfo) -> list[str]:
        target = info.data.get("target")
        if target in value:
            raise ValueError(f"the target {target!r} cannot also be in drop")
        return value


FileFormat = Literal["parquet", "csv", "json", "jsonl", "avro"]


class FileData(DataCommon):
    """A file or a directory of files, local or on any fsspec URI (``s3://bucket/key``)."""

    source: str = Field(min_length=1)
    format: FileFormat | None = None
    """default: from the file extension"""
    options: dict[str, Any] = Field(default_factory=dict)
    """reader options (csv: delimiter, quote_char, ...)"""


FEATURE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(:[A-Za-z0-9_][A-Za-z0-9_.\-]*)?$")


class FeatureData(DataCommon):
    """Point-in-time features from the feature store, joined onto labelled entity rows.

    For each entity row (join keys, a time, the label, any other columns) the training frame
    gets the latest value of each feature at or before the row's time (within the view's TTL):
    never a value from the row's future.
    """

    features: str | list[str]
    """a feature service's name, or references: 'view:feature' or 'view' (all its features)"""
    entities: str = Field(min_length=1)
    """the labelled entity rows: a file or directory, local path or fsspec URI"""
    timestamp: str = Field(min_length=1)  # type: ignore[assignment]
    """the entity rows' time: features are joined as of it (required here)"""
    format: FileFormat | None = None
    """of the entity file; default: from its extension"""
    options: dict[str, Any] = Field(default_factory=dict)
    full_feature_names: bool = False
    """name feature columns 'view__feature' (needed when two views share a feature name)"""

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, value: Any) -> Any:
        if isinstance(value, dict) and "source" in value:
            raise ValueError(
                "give either source (a file) or features + entities (the feature store), not both"
            )
        return value

    @field_validator("features")
    @classmethod
    def _references(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str) and ":" in value:
            raise ValueError(
                f"{value!r} is a feature reference; a single name is a feature service, so list "
                f"references: [{value}]"
            )
        refs = [value] if isinstance(value, str) else value
        if not refs:
            raise ValueError("name a feature service, or list 'view:feature' references")
        bad = [r for r in refs if not FEATURE_REF.match(r)]
        if bad:
            raise ValueError(
                f"{bad[0]!r} is not a feature service name or a 'view:feature' / 'view' reference"
            )
        if not isinstance(value, str):
            dupes = sorted({r for r in refs if refs.count(r) > 1})
            if dupes:
                raise ValueError(f"{dupes[0]!r} is listed twice")
        return value

    @property
    def service(self) -> str | None:
        return self.features if isinstance(self.features, str) else None


def _data_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "kind:features" if {"features", "entities"} & set(value) else "kind:file"
    if isinstance(value, FeatureData):
        return "kind:features"
    return "kind:file"


def _data_mapping(value: Any) -> Any:
    """Anything but a mapping is refused here in words, before the union picks a member."""
    if isinstance(value, (dict, DataCommon)):
        return value
    raise ValueError(
        "needs either 'source' (a file) or 'features' + 'entities' (the feature store), as a "
        "mapping"
    )


DataSpec = Annotated[
    Annotated[FileData, Tag("kind:file")] | Annotated[FeatureData, Tag("kind:features")],
    Discriminator(_data_kind),
    BeforeValidator(_data_mapping),
]


# -- validation is modelyard.data.ValidationSpec; split ---------------------------------------
class SplitSpec(SpecModel):
    """Hold out ``test_fraction`` of the rows for evaluation and the registration gate."""

    method: Literal["random", "stratified", "temporal"] = "random"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)


# -- transform -------------------------------------------------------------------------------
class FeatureFunction(SpecModel):
    """``function(frame, **params) -> frame``, applied before impute / scale / encode."""

    function: ImportPath
    params: dict[str, Any] = Field(default_factory=dict)


class NumericTransform(SpecModel):
    impute: Literal["median", "mean", "most_frequent", "constant", "none"] = "median"
    fill_value: float = 0.0
    scale: Literal["standard", "minmax", "robust", "none"] = "none"
    columns: list[str] | None = None
    """default: every numeric and boolean column"""


class CategoricalTransform(SpecModel):
    impute: Literal["most_frequent", "constant", "none"] = "constant"
    fill_value: str = "missing"
    encode: Literal["onehot", "ordinal"] = "onehot"
    max_categories: int | None = Field(default=50, ge=2)
    """one-hot: rarer categories share one "infrequent" column"""
    columns: list[str] | None = None
    """default: every text and category column"""


DatetimePart = Literal[
    "year", "month", "day", "dayofweek", "dayofyear", "hour", "minute", "is_weekend"
]


_DEFAULT_PARTS: list[DatetimePart] = ["hour", "dayofweek"]


class DatetimeTransform(SpecModel):
    parts: list[DatetimePart] = Field(default_factory=_DEFAULT_PARTS.copy)
    columns: list[str] | None = None
    """default: every datetime column"""


class TransformSpec(SpecModel):
    """Fitted on the training rows only, and saved with the model as ONE scikit-learn Pipeline."""

    features: list[FeatureFunction] = Field(default_factory=list)
    numeric: NumericTransform = Field(default_factory=NumericTransform)
    categorical: CategoricalTransform = Field(default_factory=CategoricalTransform)
    datetime: DatetimeTransform = Field(default_factory=DatetimeTransform)
    drop: list[str] = Field(default_factory=list)
    """columns to leave out after the feature functions ran"""


# -- train and tune --------------------------------------------------------------------------
class RangeDim(SpecModel):
    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    type: Literal["int", "float"] | None = None
    """default: int when both bounds are integers"""

    @model_validator(mode="after")
    def _check(self) -> RangeDim:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be less than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("a log range cannot have a step")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError("an int range needs integer bounds")
        return self

    @property
    def is_int(self) -> bool:
        if self.type is not None:
            return self.type == "int"
        return float(self.low).is_integer() and float(self.high).is_integer() and not self.log


class ChoiceDim(SpecModel):
    choices: list[Any] = Field(min_length=1)


_DIM_FORMS = (
    "a search range is [low, high], [low, high, log] or [low, high, int] (or {low, high, "
    "log, step, type}); for a list of values write {choices: [...]}"
)


def _dim(value: Any) -> Any:
    """``[low, high]``, ``[low, high, log]``, ``[low, high, int]`` -> a RangeDim mapping."""
    if isinstance(value, (dict, RangeDim, ChoiceDim)):
        return value
    if not isinstance(value, list):
        raise ValueError(_DIM_FORMS)
    numbers = [v for v in value[:2] if isinstance(v, (int, float)) and not isinstance(v, bool)]
    flags = value[2:]
    if (
        len(value) in (2, 3)
        and len(numbers) == 2
        and all(f in ("log", "int", "float") for f in flags)
    ):
        out: dict[str, Any] = {"low": value[0], "high": value[1]}
        for flag in flags:
            if flag == "log":
                out["log"] = True
            else:
                out["type"] = flag
        if isinstance(value[0], float) or isinstance(value[1], float):
            out.setdefault("type", "float")
        return out
    raise ValueError(_DIM_FORMS)


def _dim_kind(value: Any) -> str:
    """A mapping with ``choices`` is a ChoiceDim, any other a RangeDim: errors then come from
    that member only, not from both (``low: unknown key`` for a misspelt choices list)."""
    if isinstance(value, ChoiceDim) or (isinstance(value, dict) and "choices" in value):
        return "kind:choice"
    return "kind:range"


SearchDim = Annotated[
    Annotated[RangeDim, Tag("kind:range")] | Annotated[ChoiceDim, Tag("kind:choice")],
    Discriminator(_dim_kind),
    BeforeValidator(_dim),
]


class TuneSpec(SpecModel):
    """Optuna (TPE) over ``space``; trials run in parallel on the compute backend."""

    n_trials: int = Field(default=20, ge=1, le=100_000)
    metric: str | None = None
    """default: the first evaluation metric"""
    space: dict[str, SearchDim] = Field(min_length=1)
    parallelism: int | None = Field(default=None, ge=1)
    """processes at once; default: the compute backend's (one per CPU for local)"""
    pruning: bool = True
    """stop unpromising trials early (LightGBM, XGBoost)"""
    timeout_s: float | None = Field(default=None, gt=0)
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    """share of the training rows each trial is scored on (split as the outer split)"""


class TrainSpec(SpecModel):
    model: str = "lightgbm"
    """lightgbm, xgboost, a scikit-learn estimator (random_forest, LogisticRegression, ...) or
    an import path (package.module:Estimator)"""
    task: Task = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    class_weight: Literal["balanced"] | dict[str, float] | None = None
    tune: TuneSpec | None = None

    @field_validator("class_weight", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value


# -- evaluate --------------------------------------------------------------------------------
class CustomMetric(SpecModel):
    """``function(y_true, y_pred) -> float`` by import path; ``input`` says what y_pred is."""

    name: str = Field(pattern=r"^[A-Za-z][\w\-]{0,63}$")
    function: ImportPath
    input: Literal["label", "score"] = "score"
    """label: predicted classes / values; score: positive-class probability (binary)"""
    greater_is_better: bool = True


class CrossValidationSpec(SpecModel):
    method: Literal["kfold", "stratified", "timeseries"] = "kfold"
    folds: int = Field(default=5, ge=2, le=50)


class EvaluateSpec(SpecModel):
    metrics: list[str | CustomMetric] = Field(default_factory=list)
    """default: roc_auc, average_precision, f1, accuracy (classification); rmse, mae, r2"""
    cross_validation: CrossValidationSpec | None = None
    threshold: float = Field(default=0.5, gt=0, lt=1)
    """binary classification: probability above which a row is predicted positive"""
    plots: bool = True


# -- register --------------------------------------------------------------------------------
class GateSpec(SpecModel):
    """The candidate is registered only if ``metric`` clears ``min`` / ``max`` and beats the
    current holder of ``must_beat`` (a stage or alias) scored on the same test rows."""

    metric: str
    min: float | None = None
    max: float | None = None
    must_beat: str | None = None
    margin: float = Field(default=0.0, ge=0)
    """how much better than the holder the candidate must be"""


class RegisterSpec(SpecModel):
    model: str = Field(pattern=MODEL_NAME_PATTERN.pattern)
    gate: GateSpec | None = None
    promote_to: Literal["staging", "production"] | None = None
    on_gate_failure: Literal["skip", "register"] = "skip"
    """skip: register nothing; register: register the version but do not promote it"""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


# -- the whole spec --------------------------------------------------------------------------
class PipelineSpec(SpecModel):
    name: str = Field(pattern=NAME_PATTERN.pattern)
    description: str = ""
    experiment: str | None = None
    """tracking experiment of the runs; default: the pipeline's name"""
    seed: int = 0
    data: DataSpec
    validation: ValidationSpec | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    transform: TransformSpec = Field(default_factory=TransformSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    evaluate: EvaluateSpec = Field(default_factory=EvaluateSpec)
    registration: RegisterSpec | None = Field(default=None, alias="register")
    """the ``register`` section (``BaseModel.register`` exists, hence the attribute name)"""

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.name
