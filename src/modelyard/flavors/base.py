"""The manifest (``MODEL.yaml``), the flavor protocol and the common loaded-model interface."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import IntegrityError, InvalidArgumentError, NotFoundError
from modelyard.flavors.signature import Signature, as_frame

__all__ = [
    "MANIFEST",
    "Flavor",
    "LoadedModel",
    "ModelManifest",
    "distributions_of",
    "library_versions",
]

MANIFEST = "MODEL.yaml"
FORMAT_VERSION = 1


def library_versions(*names: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("modelyard", "numpy", "pandas", *names):
        if name in out:
            continue
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def distributions_of(modules: Iterable[str]) -> list[str]:
    """The installed distributions that provide ``modules`` (dotted module names of the types in
    a saved object): ``lightgbm.sklearn`` -> ``lightgbm``, ``sklearn.pipeline`` ->
    ``scikit-learn``. The standard library, ``__main__`` and modules no installed distribution
    provides (a script's own file) are left out."""
    out: list[str] = []
    for top in sorted({m.partition(".")[0] for m in modules if m}):
        if top in sys.stdlib_module_names or top in ("builtins", "__main__"):
            continue
        for dist in _distributions_for(top):
            if dist not in out:
                out.append(dist)
    return out


@functools.cache
def _distributions_for(top: str) -> tuple[str, ...]:
    try:  # the common case, and cheap: the distribution is named like its package
        return (importlib.metadata.distribution(top).metadata["Name"],)
    except importlib.metadata.PackageNotFoundError:
        return tuple(_package_index().get(top, ()))


@functools.cache
def _package_index() -> Mapping[str, list[str]]:
    # scans every installed distribution's file list once (about half a second)
    return importlib.metadata.packages_distributions()


@dataclass(frozen=True)
class ModelManifest:
    """What ``MODEL.yaml`` says: flavor, signature, versions, and the sha256 of every file."""

    flavor: str
    files: Mapping[str, Mapping[str, Any]]
    """relative path -> {"sha256": ..., "size": ...}"""
    signature: Signature | None = None
    libraries: Mapping[str, str] = field(default_factory=dict)
    capabilities: Mapping[str, bool] = field(default_factory=dict)
    classes: list[Any] | None = None
    flavor_options: Mapping[str, Any] = field(default_factory=dict)
    trusted_types: list[str] = field(default_factory=list)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "created_at": self.created_at,
            "libraries": dict(self.libraries),
            "signature": self.signature.to_dict() if self.signature else None,
            "capabilities": dict(self.capabilities),
            "classes": self.classes,
            "flavor_options": dict(self.flavor_options),
            "trusted_types": list(self.trusted_types),
            "files": {k: dict(v) for k, v in self.files.items()},
            "metadata": dict(self.metadata),
            "lineage": dict(self.lineage),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = MANIFEST) -> ModelManifest:
        try:
            return cls(
                flavor=str(data["flavor"]),
                files=dict(data["files"]),
                signature=Signature.from_dict(data.get("signature")),
                libraries=dict(data.get("libraries") or {}),
                capabilities=dict(data.get("capabilities") or {}),
                classes=data.get("classes"),
                flavor_options=dict(data.get("flavor_options") or {}),
                trusted_types=list(data.get("trusted_types") or []),
                metadata=dict(data.get("metadata") or {}),
                lineage=dict(data.get("lineage") or {}),
                created_at=str(data.get("created_at", "")),
                format_version=int(data.get("format_version", FORMAT_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(
                f"{where} is not a valid model manifest: {exc!r}.", path=where
            ) from exc

    def write(self, directory: Path) -> Path:
        import yaml

        path = directory / MANIFEST
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it
        path.write_text(
            yaml.dump(self.to_dict(), Dumper=dumper, sort_keys=False, allow_unicode=True)
        )
        return path

    @classmethod
    def read(cls, directory: Path) -> ModelManifest:
        import yaml

        path = directory / MANIFEST
        if not path.is_file():
            raise NotFoundError(
                f"{directory} is not a saved model: it has no {MANIFEST}. Save models with "
                "modelyard.save_model().",
                path=str(directory),
            )
        try:
            # libyaml's safe loader when PyYAML has it: 10x the pure-Python one, and every
            # model load (and cached pipeline step) reads a manifest
            data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise IntegrityError(f"{path} cannot be parsed: {exc}", path=str(path)) from exc
        if not isinstance(data, dict):
            raise IntegrityError(f"{path} is not a valid model manifest.", path=str(path))
        return cls.from_dict(data, str(path))

    @staticmethod
    def now() -> str:
        return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LoadedModel(ABC):
    """Every loaded model answers ``predict(frame)`` and, where it can, ``predict_proba(frame)``.

    Input may be a DataFrame, a list of records or a dict of columns. With a signature, the frame
    is first put into the training layout (order, dtypes, categories).
    """

    def __init__(self, raw: Any, manifest: ModelManifest, path: Path) -> None:
        self.raw = raw
        self.manifest = manifest
        self.path = path

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    @property
    def signature(self) -> Signature | None:
        return self.manifest.signature

    @property
    def classes(self) -> list[Any] | None:
        return self.manifest.classes

    @property
    def has_proba(self) -> bool:
        return bool(self.manifest.capabilities.get("predict_proba"))

    def prepare(self, data: Any) -> pd.DataFrame:
        sig = self.signature
        frame = as_frame(data, sig.input_names if sig else None)
        return sig.conform(frame) if sig is not None else frame

    def predict(self, data: Any) -> np.ndarray:
        return np.asarray(self._predict(self.prepare(data)))

    def predict_proba(self, data: Any) -> np.ndarray:
        if not self.has_proba:
            raise InvalidArgumentError(
                f"This {self.flavor} model has no predict_proba (it is not a probabilistic "
                "classifier); use predict().",
                field="predict_proba",
            )
        return np.asarray(self._predict_proba(self.prepare(data)))

    def predict_prepared(
        self, frame: pd.DataFrame, *, proba: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and (with ``proba`` and a probabilistic classifier) probabilities for a
        frame already in the signature's layout (from :meth:`prepare`), in one model call where
        the model allows it: the prediction is then the most probable class, which is what
        ``predict`` returns for the classifiers of every built-in flavor (see
        :meth:`_predicts_argmax`)."""
        return self._both(frame, self._predict, self._predict_proba, proba)

    @property
    def takes_matrix(self) -> bool:
        """True when :meth:`predict_matrix` can score a bare 2-D float array (no frame)."""
        return False

    def predict_matrix(
        self, matrix: np.ndarray, *, proba: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`predict_prepared` for a 2-D float array whose columns are the signature's
        inputs in order, skipping the DataFrame (a per-call cost of about a millisecond in
        scikit-learn). Only when :attr:`takes_matrix`; servers use it, people use predict()."""
        if not self.takes_matrix:
            raise InvalidArgumentError(
                f"This {self.flavor} model needs a DataFrame; use predict_prepared().",
                field="matrix",
            )
        return self._both(matrix, self._predict_matrix, self._predict_proba_matrix, proba)

    def _both(
        self, data: Any, predict: Any, predict_proba: Any, proba: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if not (proba and self.has_proba):
            return np.asarray(predict(data)), None
        probabilities = np.asarray(predict_proba(data))
        classes = self.classes
        if classes is None or not self._predicts_argmax() or probabilities.ndim != 2:
            return np.asarray(predict(data)), probabilities
        return np.asarray(classes)[probabilities.argmax(axis=1)], probabilities

    def _predict_matrix(self, matrix: np.ndarray) -> Any:
        raise NotImplementedError

    def _predict_proba_matrix(self, matrix: np.ndarray) -> Any:
        raise NotImplementedError

    def _predicts_argmax(self) -> bool:
        """True when ``predict`` is the class of highest probability (a flavor says otherwise
        for models whose ``predict`` and ``predict_proba`` can disagree)."""
        return True

    @abstractmethod
    def _predict(self, frame: pd.DataFrame) -> Any: ...

    def _predict_proba(self, frame: pd.DataFrame) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} flavor={self.flavor} path={str(self.path)!r}>"


class Flavor(ABC):
    """How one library's models are written and read. Register new ones with ``register_flavor``."""

    name: str
    libraries: tuple[str, ...] = ()
    payload: str | None = None
    """The file :meth:`save` writes and :meth:`load` reads; a manifest must list it."""

    @abstractmethod
    def accepts(self, model: Any) -> bool: ...

    @abstractmethod
    def save(self, model: Any, directory: Path) -> dict[str, Any]:
        """Write the payload into ``directory``; return manifest fields (classes, capabilities,
        flavor_options, needs_types) and ``modules``: the modules of the types in the saved
        object, whose distributions' versions MODEL.yaml records beside :attr:`libraries`."""

    @abstractmethod
    def load(
        self, directory: Path, manifest: ModelManifest, *, trust: bool, trusted_types: list[str]
    ) -> LoadedModel: ...
