"""LightGBM models in LightGBM's own text format (no pickle).

Both the scikit-learn API (``LGBMClassifier`` / ``LGBMRegressor`` / ``LGBMRanker``) and a raw
``Booster`` are accepted; the booster is saved, and the wrapper's kind and classes go to the
manifest so that ``predict`` returns labels and ``predict_proba`` probabilities as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.flavors.base import Flavor, LoadedModel, ModelManifest

PAYLOAD = "model.lgb.txt"


class LightGBMModel(LoadedModel):
    def _scores(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.raw.predict(frame))

    def _predict(self, frame: pd.DataFrame) -> Any:
        scores = self._scores(frame)
        if self.manifest.flavor_options.get("kind") != "classifier":
            return scores
        classes = np.asarray(self.classes if self.classes is not None else [0, 1])
        if scores.ndim == 1:
            return classes[(scores > 0.5).astype(int)]
        return classes[np.argmax(scores, axis=1)]

    def _predict_proba(self, frame: pd.DataFrame) -> Any:
        scores = self._scores(frame)
        return np.column_stack([1.0 - scores, scores]) if scores.ndim == 1 else scores


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    libraries = ("lightgbm",)
    payload = PAYLOAD

    def accepts(self, model: Any) -> bool:
        module = type(model).__module__
        return module.startswith("lightgbm.")

    def save(self, model: Any, directory: Path) -> dict[str, Any]:
        import lightgbm as lgb

        booster = model if isinstance(model, lgb.Booster) else model.booster_
        booster.save_model(str(directory / PAYLOAD))
        objective = str(
            booster.params.get("objective", "") or booster.dump_model().get("objective", "")
        )
        if isinstance(model, lgb.LGBMClassifier):
            kind, classes = (
                "classifier",
                [c.item() if hasattr(c, "item") else c for c in model.classes_],
            )
        elif isinstance(model, lgb.LGBMRanker):
            kind, classes = "ranker", None
        elif isinstance(model, lgb.LGBMRegressor):
            kind, classes = "regressor", None
        elif objective.startswith(("binary", "multiclass", "cross_entropy")):
            kind = "classifier"
            n = booster.dump_model().get("num_class", 1)
            classes = list(range(max(2, int(n))))
        else:
            kind, classes = "regressor", None
        return {
            "classes": classes,
            "capabilities": {"predict_proba": kind == "classifier"},
            "flavor_options": {
                "kind": kind,
                "objective": objective,
                "wrapper": type(model).__name__,
            },
        }

    def load(
        self, directory: Path, manifest: ModelManifest, *, trust: bool, trusted_types: list[str]
    ) -> LoadedModel:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=str(directory / PAYLOAD))
        return LightGBMModel(booster, manifest, directory)
