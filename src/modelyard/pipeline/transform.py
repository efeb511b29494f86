"""The transform: custom feature functions, then impute / scale / encode by column kind.

    plan = plan_columns(spec.transform, X_train)       # which column goes to which branch
    pre = build_preprocessor(spec.transform, plan)     # an unfitted scikit-learn Pipeline
    model = Pipeline([("preprocess", pre.fit(X_train, y)), ("model", estimator)])

The plan is computed once from the training rows (after the feature functions ran) and is
plain JSON, so tuning workers build exactly the same preprocessor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from modelyard.data import column_kind
from modelyard.errors import DataValidationError, InvalidArgumentError
from modelyard.pipeline.imports import import_object, qualified_name
from modelyard.pipeline.spec import FeatureFunction, TransformSpec
from modelyard.pipeline.transformers import AsDtype, DatetimeParts

__all__ = [
    "ColumnPlan",
    "apply_features",
    "feature_names",
    "build_preprocessor",
    "feature_function_types",
    "plan_columns",
]


@dataclass(frozen=True)
class ColumnPlan:
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    """column -> why it is not a model feature"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnPlan:
        return cls(**data)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.datetime]


def _feature_function(spec: FeatureFunction, index: int) -> Any:
    fn = import_object(
        spec.function, what="feature function", field=f"transform.features[{index}].function"
    )
    if not callable(fn):
        raise InvalidArgumentError(
            f"transform.features[{index}].function {spec.function!r} is not callable.",
            field=f"transform.features[{index}].function",
        )
    return fn


def feature_function_types(spec: TransformSpec) -> list[str]:
    """The skops type names of the custom feature functions (declared as trusted at save)."""
    return [qualified_name(_feature_function(f, i)) for i, f in enumerate(spec.features)]


def _feature_steps(spec: TransformSpec) -> list[tuple[str, Any]]:
    from sklearn.preprocessing import FunctionTransformer

    steps = []
    for i, feature in enumerate(spec.features):
        fn = _feature_function(feature, i)
        steps.append(
            (
                f"feature_{i}_{fn.__name__}",
                FunctionTransformer(fn, kw_args=dict(feature.params) or None, validate=False),
            )
        )
    return steps


def apply_features(spec: TransformSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Run the custom feature functions on ``frame`` (to see the columns they produce)."""
    out = frame
    for i, (name, step) in enumerate(_feature_steps(spec)):
        try:
            out = step.fit_transform(out)
        except Exception as exc:
            raise InvalidArgumentError(
                f"Feature function transform.features[{i}] ({name}) failed: "
                f"{type(exc).__name__}: {exc}",
                field=f"transform.features[{i}]",
            ) from exc
        if not isinstance(out, pd.DataFrame):
            raise InvalidArgumentError(
                f"Feature function transform.features[{i}] must return a DataFrame, returned "
                f"{type(out).__name__}.",
                field=f"transform.features[{i}]",
            )
    return out


def plan_columns(spec: TransformSpec, frame: pd.DataFrame) -> ColumnPlan:
    """Assign every column of ``frame`` (the feature-function output) to a branch."""
    available = [str(c) for c in frame.columns]
    explicit = {
        "numeric": spec.numeric.columns,
        "categorical": spec.categorical.columns,
        "datetime": spec.datetime.columns,
    }
    for section, cols in explicit.items():
        missing = [c for c in cols or [] if c not in available]
        if missing:
            raise DataValidationError(
                f"transform.{section}.columns names column(s) {missing} that the data does not "
                f"have; available: {', '.join(available)}.",
                field=f"transform.{section}.columns",
            )
    taken = {c for cols in explicit.values() for c in cols or []}
    groups: dict[str, list[str]] = {k: list(v or []) for k, v in explicit.items()}
    ignored: dict[str, str] = {c: "transform.drop" for c in spec.drop if c in available}
    for col in available:
        if col in taken or col in ignored:
            continue
        kind = column_kind(frame[col])
        branch = {
            "float": "numeric",
            "integer": "numeric",
            "boolean": "numeric",
            "string": "categorical",
            "category": "categorical",
            "datetime": "datetime",
        }.get(kind)
        if branch is None or explicit[branch] is not None:
            ignored[col] = f"{kind} column not listed in transform.{branch or 'numeric'}.columns"
            continue
        groups[branch].append(col)
    plan = ColumnPlan(groups["numeric"], groups["categorical"], groups["datetime"], ignored)
    if not plan.features:
        raise DataValidationError(
            "No feature columns are left for the model (after data.drop and transform.drop); "
            f"the data has {', '.join(available)}.",
            field="transform",
        )
    return plan


def build_preprocessor(spec: TransformSpec, plan: ColumnPlan) -> Any:
    """An unfitted Pipeline: feature functions, then a ColumnTransformer per the plan."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    branches = []
    if plan.numeric:
        branches.append(("numeric", _numeric(spec), plan.numeric))
    if plan.categorical:
        branches.append(("categorical", _categorical(spec), plan.categorical))
    if plan.datetime:
        branches.append(("datetime", _datetime(spec), plan.datetime))
    columns = ColumnTransformer(branches, remainder="drop", verbose_feature_names_out=True)
    return Pipeline([*_feature_steps(spec), ("columns", columns)])


def _numeric(spec: TransformSpec) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    cfg = spec.numeric
    steps: list[tuple[str, Any]] = [("as_float", AsDtype("float"))]
    if cfg.impute != "none":
        steps.append(("impute", SimpleImputer(strategy=cfg.impute, fill_value=cfg.fill_value)))
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
    if cfg.scale != "none":
        steps.append(("scale", scalers[cfg.scale]()))
    return Pipeline(steps)


def _categorical(spec: TransformSpec) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    cfg = spec.categorical
    steps: list[tuple[str, Any]] = [("as_text", AsDtype("text"))]
    if cfg.impute != "none":
        steps.append(("impute", SimpleImputer(strategy=cfg.impute, fill_value=cfg.fill_value)))
    if cfg.encode == "onehot":
        encoder: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=cfg.max_categories,
            sparse_output=False,
        )
    else:
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        )
    steps.append(("encode", encoder))
    return Pipeline(steps)


def _datetime(spec: TransformSpec) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("parts", DatetimeParts(tuple(spec.datetime.parts))),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ]
    )


def feature_names(preprocessor: Any, fallback: Sequence[str]) -> list[str]:
    """The names of the columns the fitted preprocessor outputs (for plots and reports)."""
    try:
        columns = preprocessor.named_steps["columns"]
        return [str(n) for n in columns.get_feature_names_out()]
    except Exception:  # a custom transformer without feature names: fall back to positions
        return list(fallback)
