"""Any Python object, pickled. Opt-in at save time and at load time (``trust=True``) only:
unpickling runs code chosen by whoever wrote the file."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import UntrustedModelError
from modelyard.flavors.base import Flavor, LoadedModel, ModelManifest

PAYLOAD = "model.pkl"


class PickledModel(LoadedModel):
    def _predict(self, frame: pd.DataFrame) -> Any:
        return self.raw.predict(frame)

    def _predict_proba(self, frame: pd.DataFrame) -> Any:
        return self.raw.predict_proba(frame)

    def _predicts_argmax(self) -> bool:
        return False  # any object: call predict and predict_proba separately


class _ModuleRecorder(pickle.Pickler):
    """A pickler that notes the module of every object it writes (and of every class or function
    it refers to), so that MODEL.yaml can record the versions of the libraries they come from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules: set[str] = set()

    def persistent_id(self, obj: Any) -> None:
        self.modules.add(type(obj).__module__)
        if isinstance(obj, type) or callable(obj):
            module = getattr(obj, "__module__", None)
            if isinstance(module, str):
                self.modules.add(module)
        # returns None: every object is pickled as usual


class PickleFlavor(Flavor):
    name = "pickle"
    payload = PAYLOAD

    def accepts(self, model: Any) -> bool:
        return False  # never chosen automatically: ask for flavor="pickle"

    def save(self, model: Any, directory: Path) -> dict[str, Any]:
        with open(directory / PAYLOAD, "wb") as fh:
            pickler = _ModuleRecorder(fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dump(model)
        classes = getattr(model, "classes_", None)
        return {
            "classes": [c.item() if hasattr(c, "item") else c for c in classes]
            if classes is not None
            else None,
            "capabilities": {"predict_proba": hasattr(model, "predict_proba")},
            "modules": pickler.modules,
        }

    def load(
        self, directory: Path, manifest: ModelManifest, *, trust: bool, trusted_types: list[str]
    ) -> LoadedModel:
        if not trust:
            raise UntrustedModelError(
                f"The model at {directory} is a pickle; loading it runs code chosen by its author. "
                "Load it with trust=True only if you trust where it came from.",
                path=str(directory),
            )
        with open(directory / PAYLOAD, "rb") as fh:
            return PickledModel(pickle.load(fh), manifest, directory)
