"""Estimators by name: LightGBM, XGBoost, any scikit-learn estimator, or an import path.

    cls = estimator_class("random_forest", "classification")   # RandomForestClassifier
    unknown = unknown_params(cls, {"n_estimator": 10})          # ['n_estimator']

Class imbalance is handled the same way for every estimator: ``class_weight`` becomes per-row
``sample_weight`` at fit time (so LightGBM, XGBoost and scikit-learn behave alike).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.errors import InvalidArgumentError, suggest
from modelyard.pipeline.imports import import_object

__all__ = [
    "ALIASES",
    "build_estimator",
    "estimator_class",
    "fit_estimator",
    "param_value_problem",
    "sample_weight",
    "supports_pruning",
    "unknown_params",
    "valid_params",
]

# name -> (classifier, regressor) import paths
ALIASES: dict[str, tuple[str | None, str | None]] = {
    "lightgbm": ("lightgbm:LGBMClassifier", "lightgbm:LGBMRegressor"),
    "xgboost": ("xgboost:XGBClassifier", "xgboost:XGBRegressor"),
    "logistic_regression": ("sklearn.linear_model:LogisticRegression", None),
    "linear_regression": (None, "sklearn.linear_model:LinearRegression"),
    "ridge": ("sklearn.linear_model:RidgeClassifier", "sklearn.linear_model:Ridge"),
    "lasso": (None, "sklearn.linear_model:Lasso"),
    "elastic_net": (None, "sklearn.linear_model:ElasticNet"),
    "random_forest": (
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:RandomForestRegressor",
    ),
    "extra_trees": (
        "sklearn.ensemble:ExtraTreesClassifier",
        "sklearn.ensemble:ExtraTreesRegressor",
    ),
    "gradient_boosting": (
        "sklearn.ensemble:GradientBoostingClassifier",
        "sklearn.ensemble:GradientBoostingRegressor",
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble:HistGradientBoostingClassifier",
        "sklearn.ensemble:HistGradientBoostingRegressor",
    ),
    "decision_tree": ("sklearn.tree:DecisionTreeClassifier", "sklearn.tree:DecisionTreeRegressor"),
    "knn": ("sklearn.neighbors:KNeighborsClassifier", "sklearn.neighbors:KNeighborsRegressor"),
    "svm": ("sklearn.svm:SVC", "sklearn.svm:SVR"),
    "naive_bayes": ("sklearn.naive_bayes:GaussianNB", None),
}
_TASK_INDEX = {"classification": 0, "regression": 1}


def estimator_class(name: str, task: str) -> type:
    """The estimator class ``name`` means for ``task`` (classification / regression)."""
    field = "train.model"
    if name in ALIASES:
        path = ALIASES[name][_TASK_INDEX[task]]
        if path is None:
            raise InvalidArgumentError(
                f"Model {name!r} has no {task} variant; choose another model or set train.task.",
                field=field,
                value=name,
            )
        if name == "xgboost":
            _require_xgboost()
        return _as_class(import_object(path, what="estimator", field=field), name)
    if ":" in name or "." in name:
        return _as_class(import_object(name, what="estimator", field=field), name)
    found = _sklearn_estimators().get(name)
    if found is None:
        choices = [*ALIASES, *_sklearn_estimators()]
        raise InvalidArgumentError(
            f"Unknown model {name!r}{suggest(name, choices)}. Use one of "
            f"{', '.join(ALIASES)}, a scikit-learn estimator class name (e.g. "
            "RandomForestClassifier) or an import path (package.module:Estimator).",
            field=field,
            value=name,
        )
    return found


def candidate_classes(name: str, task: str) -> list[type]:
    """Classes ``name`` may mean: both variants of an alias when the task is not known yet."""
    if task != "auto":
        return [estimator_class(name, task)]
    if name in ALIASES:
        return [
            estimator_class(name, t) for t, i in _TASK_INDEX.items() if ALIASES[name][i] is not None
        ]
    return [estimator_class(name, "classification")]


def _require_xgboost() -> None:
    try:
        import xgboost  # noqa: F401
    except ImportError as exc:
        from modelyard.errors import DependencyMissingError

        raise DependencyMissingError.for_extra("xgboost", "xgboost") from exc


def _as_class(obj: Any, name: str) -> type:
    if not isinstance(obj, type) or not hasattr(obj, "fit") or not hasattr(obj, "get_params"):
        raise InvalidArgumentError(
            f"train.model {name!r} is not a scikit-learn compatible estimator class (it needs "
            "fit, predict and get_params).",
            field="train.model",
            value=name,
        )
    return obj


_SKLEARN: dict[str, type] | None = None


def _sklearn_estimators() -> dict[str, type]:
    global _SKLEARN
    if _SKLEARN is None:
        from sklearn.utils.discovery import all_estimators

        _SKLEARN = dict(all_estimators(type_filter=["classifier", "regressor"]))
    return _SKLEARN


def infer_task_of(cls: type) -> str | None:
    """classification / regression from the estimator itself (scikit-learn tags)."""
    from sklearn.base import is_classifier, is_regressor

    try:
        instance = cls()
    except Exception:
        return None
    if is_classifier(instance):
        return "classification"
    if is_regressor(instance):
        return "regression"
    return None


def valid_params(cls: type) -> set[str]:
    """The parameter names an estimator accepts (LightGBM also takes its native aliases)."""
    try:
        names = set(cls().get_params(deep=False))
    except Exception:
        names = set(inspect.signature(cls).parameters) - {"args", "kwargs"}
    if cls.__module__.startswith("lightgbm"):
        names |= _lightgbm_native_params()
    return names


def _lightgbm_native_params() -> set[str]:
    try:  # LightGBM's own list of parameters and aliases (not a public API: guarded)
        from lightgbm.basic import _ConfigAliases

        table = _ConfigAliases._get_all_param_aliases()
        return set(table) | {a for aliases in table.values() for a in aliases}
    except Exception:
        return set()


def unknown_params(cls: type, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, hint) for every key ``cls`` does not accept."""
    names = valid_params(cls)
    out = []
    for key in params:
        if key not in names:
            out.append((key, suggest(key, names)))
    return out


def param_value_problem(cls: type, name: str, value: Any) -> str | None:
    """Why ``cls`` cannot take ``value`` for parameter ``name``, or None when it may.

    A scikit-learn estimator is asked through its own ``_parameter_constraints`` (the
    validation its ``fit`` runs). Others (LightGBM, XGBoost, your own) are compared with the
    constructor's default, or with its annotation where the default is None: text for a
    number, a non-boolean for a flag (0 / 1 pass), a list or mapping for either. What only the
    library can judge (LightGBM's ``num_leaves >= 2``) is left to fit time.
    """
    if value is None:
        return None
    constraints = getattr(cls, "_parameter_constraints", None)
    if isinstance(constraints, dict) and name in constraints:
        return _sklearn_value_problem(cls, name, value)
    kind, declared = _declared_kind(cls, name)
    if kind is None or _fits_kind(kind, value):
        return None
    return f"{cls.__name__} expects {_KIND_WORDS[kind]} for {name!r} ({declared}), got {value!r}"


_KIND_WORDS = {"bool": "true or false", "number": "a number", "str": "a text value"}


def _sklearn_value_problem(cls: type, name: str, value: Any) -> str | None:
    try:
        from sklearn.utils._param_validation import InvalidParameterError
    except ImportError:  # pragma: no cover - private module moved: fit time reports it
        return None
    try:
        instance = cls(**{name: value})
        instance._validate_params()
    except InvalidParameterError as exc:
        return str(exc)
    except Exception:  # a constructor that needs more arguments: fit time reports it
        return None
    return None


def _declared_kind(cls: type, name: str) -> tuple[str | None, str]:
    """bool / number / str from the default of ``name`` in the first ``__init__`` (along the
    MRO) that declares it, or from its annotation ``X | None`` when the default is None."""
    import typing

    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            param = inspect.signature(init).parameters.get(name)
        except (TypeError, ValueError):
            continue
        if param is None or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        default = param.default
        if default is not inspect.Parameter.empty and default is not None:
            return _kind_of_type(type(default)), f"default {default!r}"
        try:
            hint = typing.get_type_hints(init).get(name)
        except Exception:
            return None, ""
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
            hint = args[0]
        if not isinstance(hint, type):
            return None, ""
        return _kind_of_type(hint), f"declared {hint.__name__} or None"
    return None, ""


def _kind_of_type(tp: type) -> str | None:
    if issubclass(tp, (bool, np.bool_)):
        return "bool"
    if issubclass(tp, (int, float, np.integer, np.floating)):
        return "number"
    return "str" if issubclass(tp, str) else None


def _fits_kind(kind: str, value: Any) -> bool:
    if isinstance(value, (list, dict)):
        return False
    if kind == "bool":
        return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    # a text parameter: many also take a number (max_features='sqrt' or 0.5); refuse flags
    return not isinstance(value, bool)


def build_estimator(
    cls: type, params: Mapping[str, Any], *, seed: int, n_jobs: int | None = None
) -> Any:
    """An instance with ``params``; a seed and thread count are set where the class takes them
    and the spec did not."""
    names = valid_params(cls)
    kwargs = dict(params)
    if "random_state" in names and "random_state" not in kwargs and "seed" not in kwargs:
        kwargs["random_state"] = seed
    if n_jobs is not None and "n_jobs" in names and "n_jobs" not in kwargs:
        kwargs["n_jobs"] = n_jobs
    if cls.__module__.startswith("lightgbm") and "verbose" not in kwargs:
        kwargs["verbose"] = -1
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Cannot build {cls.__name__} with params {dict(params)}: {exc}",
            field="train.params",
        ) from exc


def _parameter_errors() -> tuple[type[BaseException], ...]:
    """What estimators raise for a parameter value they refuse at fit time."""
    errors: list[type[BaseException]] = [ValueError, TypeError]
    try:
        from lightgbm.basic import LightGBMError

        errors.append(LightGBMError)
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        pass
    try:
        from xgboost.core import XGBoostError

        errors.append(XGBoostError)
    except ImportError:
        pass
    return tuple(errors)


def fit_estimator(
    estimator: Any, X: Any, y: Any, params: Mapping[str, Any], **fit_kwargs: Any
) -> Any:
    """``estimator.fit(X, y)``; a parameter the library refuses only at fit time (LightGBM checks
    ``num_leaves >= 2`` there) becomes an error that names ``train.params``."""
    try:
        return estimator.fit(X, y, **fit_kwargs)
    except _parameter_errors() as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgumentError(
            f"train.params: {type(estimator).__name__} refused to fit with params "
            f"{dict(params)}: {first}. Check the values in train.params (and train.tune.space).",
            field="train.params",
            params=dict(params),
        ) from exc


def accepts_sample_weight(estimator: Any) -> bool:
    try:
        return "sample_weight" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False


def sample_weight(class_weight: str | Mapping[str, float] | None, y: Any) -> np.ndarray | None:
    """Per-row weights for ``class_weight`` ('balanced' or {class: weight}); None for none."""
    if class_weight is None:
        return None
    from sklearn.utils.class_weight import compute_sample_weight

    labels = np.asarray(y)
    if class_weight == "balanced":
        return np.asarray(compute_sample_weight("balanced", labels))
    assert not isinstance(class_weight, str)
    by_text = {str(k): float(v) for k, v in class_weight.items()}
    classes = {str(c) for c in np.unique(labels)}
    unknown = sorted(set(by_text) - classes)
    if unknown:
        raise InvalidArgumentError(
            f"train.class_weight names class(es) {unknown} that the target does not have "
            f"(classes: {sorted(classes)}).",
            field="train.class_weight",
        )
    return np.array([by_text.get(str(v), 1.0) for v in labels], dtype=float)


def supports_pruning(estimator: Any) -> str | None:
    """'lightgbm' / 'xgboost' when trials can report per-iteration scores, else None."""
    module = type(estimator).__module__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("xgboost"):
        return "xgboost"
    return None
