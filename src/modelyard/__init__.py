"""modelyard: self-hosted MLOps in one package.

    import modelyard as my

    with my.start_run("fraud") as run:
        run.log_params({"C": 1.0})
        run.log_metric("auc", 0.93)
        logged = run.log_model(model, "model", sample=X.head())
    version = my.register_model(logged.uri, "fraud")
    my.promote("fraud", version.version, "production", reason="beats baseline")
    model = my.load_model("models:/fraud@production")

Public names are imported lazily, so ``import modelyard`` (and the CLI) start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # tracking
    "start_run": "modelyard.tracking",
    "active_run": "modelyard.tracking",
    "end_run": "modelyard.tracking",
    "log_param": "modelyard.tracking",
    "log_params": "modelyard.tracking",
    "log_metric": "modelyard.tracking",
    "log_metrics": "modelyard.tracking",
    "set_tag": "modelyard.tracking",
    "set_tags": "modelyard.tracking",
    "log_artifact": "modelyard.tracking",
    "log_artifacts": "modelyard.tracking",
    "log_input": "modelyard.tracking",
    "log_model": "modelyard.tracking",
    "TrackingClient": "modelyard.tracking",
    # registry
    "register_model": "modelyard.registry",
    "promote": "modelyard.registry",
    "load_model": "modelyard.registry",
    "RegistryClient": "modelyard.registry",
    # feature store
    "FeatureStore": "modelyard.features",
    # model formats
    "save_model": "modelyard.flavors",
    "infer_signature": "modelyard.flavors",
    # configuration and stores
    "Workspace": "modelyard.storage",
    "get_settings": "modelyard.config",
    "Settings": "modelyard.config",
    # errors
    "ModelyardError": "modelyard.errors",
}

__all__ = [*sorted(_EXPORTS), "__version__"]  # noqa: PLE0604


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
