"""scikit-learn models and Pipelines, stored with skops (no pickle).

skops refuses to build any type that is not on its allow-list. We add a short list of types that
are safe to rebuild from data (LightGBM and XGBoost estimators inside a Pipeline, and a few
containers); anything else — a custom transformer, a function by import path — must be trusted
by the caller (``trust=True`` or ``trusted_types=[...]``) or declared at save time and anchored
by the registry's hashes.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import DependencyMissingError, IntegrityError, UntrustedModelError
from modelyard.flavors.base import Flavor, LoadedModel, ModelManifest

PAYLOAD = "model.skops"

SAFE_EXTRA_TYPES = frozenset(
    {
        "collections.OrderedDict",
        "functools.partial",  # its function is audited as a separate node
        "sklearn.utils.validation.check_array",
        "collections.defaultdict",
        "builtins.slice",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.sklearn.LGBMRanker",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HalfMultinomialLoss",
        # scikit-learn's own fitted structures, rebuilt from arrays like the estimators that
        # hold them (skops lists them as unknown)
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.metrics._dist_metrics.ChebyshevDistance64",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "numpy.dtype",
        "pandas.core.indexes.base.Index",
        # modelyard's own pipeline transformers: their state is column and part names only,
        # and neither defines __setstate__ or __reduce__ (modelyard/pipeline/transformers.py).
        "modelyard.pipeline.transformers.AsDtype",
        "modelyard.pipeline.transformers.DatetimeParts",
    }
)


def _skops() -> Any:
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a core dependency
        raise DependencyMissingError.for_extra("skops", "core") from exc
    return sio


class SklearnModel(LoadedModel):
    def _predict(self, frame: pd.DataFrame) -> Any:
        return self.raw.predict(frame)

    @functools.cached_property
    def _matrix_model(self) -> Any:
        """The estimator as it scores a float array in signature order, or None.

        Only for a plain scikit-learn estimator (no Pipeline or ColumnTransformer, which may
        select columns by name) fitted on exactly the signature's columns, in that order, all
        float: then a shallow copy without ``feature_names_in_`` gets the same numbers from an
        array, minus pandas' per-call overhead and the "no feature names" warning."""
        sig, raw = self.signature, self.raw
        names = getattr(raw, "feature_names_in_", None)
        if sig is None or names is None or [str(n) for n in names] != sig.input_names:
            return None
        if any(c.type != "float" for c in sig.inputs):
            return None
        if not type(raw).__module__.startswith("sklearn.") or hasattr(raw, "steps"):
            return None
        if hasattr(raw, "transformers") or hasattr(raw, "estimators"):
            return None  # column selection by name / meta-estimators over other estimators
        bare = copy.copy(raw)
        del bare.feature_names_in_
        return bare

    @property
    def takes_matrix(self) -> bool:
        return self._matrix_model is not None

    def _predict_matrix(self, matrix: np.ndarray) -> Any:
        return self._matrix_model.predict(matrix)

    def _predict_proba_matrix(self, matrix: np.ndarray) -> Any:
        return self._matrix_model.predict_proba(matrix)

    def _predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.raw.predict_proba(frame)

    def _predicts_argmax(self) -> bool:
        # SVC / NuSVC calibrate probabilities separately (Platt scaling): their predict() can
        # disagree with the most probable class.
        final = self.raw.steps[-1][1] if hasattr(self.raw, "steps") else self.raw
        return not hasattr(final, "probability")


class SklearnFlavor(Flavor):
    name = "sklearn"
    libraries = ("scikit-learn", "skops", "scipy")
    payload = PAYLOAD

    def accepts(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover
            return False
        return isinstance(model, BaseEstimator)

    def save(self, model: Any, directory: Path) -> dict[str, Any]:
        sio = _skops()
        path = directory / PAYLOAD
        sio.dump(model, path)
        unknown = sorted(set(sio.get_untrusted_types(file=path)) - SAFE_EXTRA_TYPES)
        classes = getattr(model, "classes_", None)
        return {
            "classes": [_plain(c) for c in classes] if classes is not None else None,
            "capabilities": {
                "predict_proba": hasattr(model, "predict_proba") and classes is not None
            },
            "flavor_options": {"estimator": f"{type(model).__module__}.{type(model).__qualname__}"},
            "needs_types": unknown,
            "modules": _schema_modules(path),
        }

    def load(
        self, directory: Path, manifest: ModelManifest, *, trust: bool, trusted_types: list[str]
    ) -> LoadedModel:
        sio = _skops()
        path = directory / PAYLOAD
        try:
            found = set(sio.get_untrusted_types(file=path))
        except Exception as exc:  # skops raises several types for a damaged archive
            raise IntegrityError(
                f"{path} is not a readable skops archive: {exc}", path=str(path)
            ) from exc
        allowed = SAFE_EXTRA_TYPES | set(trusted_types)
        unknown = sorted(found - allowed)
        if unknown and not trust:
            raise UntrustedModelError(
                f"The model at {directory} would build types that are not known to be safe: "
                f"{', '.join(unknown)}. Review them, then load with trusted_types=[...] listing "
                "them, or trust=True if you trust the model's author.",
                path=str(directory),
                untrusted_types=unknown,
            )
        model = sio.load(path, trusted=sorted(found))
        return SklearnModel(model, manifest, directory)


def _schema_modules(path: Path) -> set[str]:
    """The module of every object in a skops archive (its schema.json names each node's type)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    nodes: list[Any] = [schema]
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str):
                found.add(module)
            nodes.extend(node.values())
        elif isinstance(node, list):
            nodes.extend(node)
    return found


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
