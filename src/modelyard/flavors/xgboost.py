"""XGBoost models in XGBoost's own JSON format (no pickle). Needs the ``xgboost`` extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import DependencyMissingError
from modelyard.flavors.base import Flavor, LoadedModel, ModelManifest

PAYLOAD = "model.xgb.json"


def _xgb() -> Any:
    try:
        import xgboost
    except ImportError as exc:
        raise DependencyMissingError.for_extra("xgboost", "xgboost") from exc
    return xgboost


class XGBoostModel(LoadedModel):
    def _predict(self, frame: pd.DataFrame) -> Any:
        if self.manifest.flavor_options.get("wrapper") == "Booster":
            return self.raw.predict(_xgb().DMatrix(frame, enable_categorical=True))
        return self.raw.predict(frame)

    def _predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.raw.predict_proba(frame)


class XGBoostFlavor(Flavor):
    name = "xgboost"
    libraries = ("xgboost", "xgboost-cpu")
    payload = PAYLOAD

    def accepts(self, model: Any) -> bool:
        return type(model).__module__.startswith("xgboost.")

    def save(self, model: Any, directory: Path) -> dict[str, Any]:
        xgb = _xgb()
        model.save_model(str(directory / PAYLOAD))
        wrapper = type(model).__name__
        classifier = isinstance(model, xgb.XGBClassifier)
        classes = (
            [c.item() if hasattr(c, "item") else c for c in model.classes_] if classifier else None
        )
        return {
            "classes": classes,
            "capabilities": {"predict_proba": classifier},
            "flavor_options": {"wrapper": wrapper},
        }

    def load(
        self, directory: Path, manifest: ModelManifest, *, trust: bool, trusted_types: list[str]
    ) -> LoadedModel:
        xgb = _xgb()
        wrapper = manifest.flavor_options.get("wrapper", "Booster")
        cls = {
            "XGBClassifier": xgb.XGBClassifier,
            "XGBRegressor": xgb.XGBRegressor,
            "XGBRanker": xgb.XGBRanker,
        }.get(str(wrapper))
        model = cls() if cls is not None else xgb.Booster()
        model.load_model(str(directory / PAYLOAD))
        return XGBoostModel(model, manifest, directory)
