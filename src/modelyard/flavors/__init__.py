"""Model formats, safe by default: ``save_model`` / ``load_model``.

A saved model is a directory: ``MODEL.yaml`` (flavor, signature, library versions, sha256 and
size of every file, lineage) beside the payload in the library's own format. Loading verifies
every hash and refuses a changed file. Nothing is unpickled unless the caller passes
``trust=True`` for that one load.

>>> manifest = save_model(model, "out/model", sample=X.head(100))      # doctest: +SKIP
>>> load_model("out/model").predict_proba(X)                             # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from modelyard.errors import (
    AlreadyExistsError,
    IntegrityError,
    InvalidArgumentError,
    NotFoundError,
    suggest,
)
from modelyard.flavors.base import (
    MANIFEST,
    Flavor,
    LoadedModel,
    ModelManifest,
    distributions_of,
    library_versions,
)
from modelyard.flavors.lightgbm import LightGBMFlavor
from modelyard.flavors.pickle import PickleFlavor
from modelyard.flavors.signature import (
    ColumnSpec,
    Signature,
    as_frame,
    column_kind,
    infer_signature,
)
from modelyard.flavors.sklearn import SklearnFlavor
from modelyard.flavors.xgboost import XGBoostFlavor
from modelyard.storage.artifacts import sha256_file

__all__ = [
    "MANIFEST",
    "ColumnSpec",
    "Flavor",
    "LoadedModel",
    "ModelManifest",
    "Signature",
    "as_frame",
    "column_kind",
    "flavor_names",
    "infer_signature",
    "load_model",
    "manifest_sha256",
    "read_manifest",
    "register_flavor",
    "save_model",
    "verify_model_dir",
]

# Checked in order: the first flavor that accepts a model saves it (LightGBM and XGBoost
# estimators are also scikit-learn estimators, so they come first).
_FLAVORS: dict[str, Flavor] = {}


def register_flavor(flavor: Flavor) -> None:
    _FLAVORS[flavor.name] = flavor


for _builtin in (LightGBMFlavor(), XGBoostFlavor(), SklearnFlavor(), PickleFlavor()):
    register_flavor(_builtin)


def flavor_names() -> list[str]:
    return list(_FLAVORS)


def _flavor(name: str) -> Flavor:
    found = _FLAVORS.get(name)
    if found is None:
        raise InvalidArgumentError(
            f"Unknown model flavor {name!r}{suggest(name, list(_FLAVORS))}; "
            f"known flavors: {', '.join(_FLAVORS)}.",
            field="flavor",
            value=name,
        )
    return found


def _choose_flavor(model: Any) -> Flavor:
    for flavor in _FLAVORS.values():
        if flavor.accepts(model):
            return flavor
    raise InvalidArgumentError(
        f"No flavor can save a {type(model).__module__}.{type(model).__name__}. Known flavors: "
        f"{', '.join(_FLAVORS)}. Wrap it in a scikit-learn estimator, or pass flavor='pickle' "
        "(it will then need trust=True to load).",
        field="model",
    )


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    sample: pd.DataFrame | None = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    lineage: Mapping[str, Any] | None = None,
    trusted_types: list[str] | None = None,
    overwrite: bool = False,
) -> ModelManifest:
    """Save ``model`` to the directory ``path`` with a ``MODEL.yaml`` manifest.

    ``sample`` (a few rows of the training input) gives the signature. ``trusted_types``
    declares extra types a scikit-learn model needs (custom transformers); they are honoured at
    load time only when the files' hashes are anchored by the registry.
    """
    target = Path(path)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise AlreadyExistsError(
            f"{target} already exists and is not empty; pass overwrite=True or choose another path.",
            path=str(target),
        )
    chosen = _flavor(flavor) if flavor else _choose_flavor(model)
    if signature is None and sample is not None:
        signature = _signature_from_sample(model, sample)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=target.parent))
    try:
        info = chosen.save(model, staging)
        files = {}
        for file in sorted(p for p in staging.rglob("*") if p.is_file()):
            digest, size = sha256_file(file)
            files[file.relative_to(staging).as_posix()] = {"sha256": digest, "size": size}
        manifest = ModelManifest(
            flavor=chosen.name,
            files=files,
            signature=signature,
            libraries=library_versions(
                *chosen.libraries, *distributions_of(info.get("modules", ()))
            ),
            capabilities=info.get("capabilities", {}),
            classes=info.get("classes"),
            flavor_options=info.get("flavor_options", {}),
            trusted_types=sorted(set(info.get("needs_types", [])) | set(trusted_types or [])),
            metadata=dict(metadata or {}),
            lineage=dict(lineage or {}),
            created_at=ModelManifest.now(),
        )
        manifest.write(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _signature_from_sample(model: Any, sample: Any) -> Signature:
    frame = as_frame(sample)
    head = frame.head(5)
    try:
        preds = model.predict(head)
    except Exception:  # an unfitted or unusual model: record the inputs only
        preds = None
    proba = None
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(head)
        except Exception:
            proba = None
    return infer_signature(frame, preds, proba)


def read_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    return ModelManifest.read(Path(path))


def manifest_sha256(path: str | os.PathLike[str]) -> str:
    return sha256_file(Path(path) / MANIFEST)[0]


def verify_model_dir(
    path: str | os.PathLike[str],
    expected_files: Mapping[str, str] | None = None,
    *,
    recorded_by: str = "the registry",
) -> ModelManifest:
    """Check every file against MODEL.yaml (and, when given, against ``expected_files``:
    relative path -> sha256 recorded elsewhere, e.g. by the registry, including MODEL.yaml).

    Every file in the directory must be listed in MODEL.yaml, and the flavor's payload too."""
    directory = Path(path)
    if not directory.is_dir():
        raise NotFoundError(f"No saved model at {directory}.", path=str(directory))
    if expected_files and MANIFEST in expected_files:
        actual = manifest_sha256(directory)
        if actual != expected_files[MANIFEST]:
            raise IntegrityError(
                f"{directory / MANIFEST} was changed after {recorded_by} recorded it "
                f"(sha256 {actual[:12]}..., {recorded_by} has {expected_files[MANIFEST][:12]}...). "
                "Refusing to load it: register or log the model again from a trusted copy.",
                path=str(directory / MANIFEST),
            )
    manifest = ModelManifest.read(directory)
    _check_listing(directory, manifest)
    root = directory.resolve()
    for rel, info in manifest.files.items():
        file = (directory / rel).resolve()
        if root not in file.parents:
            raise IntegrityError(f"{MANIFEST} lists a file outside the model directory: {rel!r}.")
        if not file.is_file():
            raise IntegrityError(
                f"Model file {rel!r} listed in {directory / MANIFEST} is missing.", path=str(file)
            )
        digest, _ = sha256_file(file)
        want = str(info.get("sha256", ""))
        if expected_files and rel in expected_files and expected_files[rel] != want:
            raise IntegrityError(
                f"{directory / MANIFEST} records a different sha256 for {rel!r} than "
                f"{recorded_by}; the model was changed after it was recorded. Refusing to load it.",
                path=str(file),
            )
        if digest != want:
            raise IntegrityError(
                f"Model file {file} was modified or corrupted: its sha256 is {digest[:12]}..., "
                f"{MANIFEST} records {want[:12]}.... Refusing to load it; re-save or re-download "
                "the model.",
                path=str(file),
                expected=want,
                actual=digest,
            )
    return manifest


def _check_listing(directory: Path, manifest: ModelManifest) -> None:
    """Every file beside MODEL.yaml is listed (with a hash) and the flavor's payload is one of
    them: otherwise emptying ``files:`` or adding a file would skip the hash check."""
    where = directory / MANIFEST
    if not manifest.files:
        raise IntegrityError(
            f"{where} lists no files, so nothing can be verified. Refusing to load it; re-save "
            "the model with modelyard.save_model().",
            path=str(where),
        )
    flavor = _FLAVORS.get(manifest.flavor)
    payload = flavor.payload if flavor is not None else None
    if payload is not None and payload not in manifest.files:
        raise IntegrityError(
            f"{where} does not list {payload!r}, the {manifest.flavor} flavor's model file, with "
            "its sha256. Refusing to load it; re-save the model with modelyard.save_model().",
            path=str(where),
            file=payload,
        )
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        if rel != MANIFEST and rel not in manifest.files:
            raise IntegrityError(
                f"{file} is not listed in {where}: every file of a saved model must be, with its "
                "sha256. Refusing to load it; remove the file or re-save the model.",
                path=str(file),
                file=rel,
            )


def load_model(
    path: str | os.PathLike[str],
    *,
    trust: bool = False,
    trusted_types: list[str] | None = None,
    expected_files: Mapping[str, str] | None = None,
) -> LoadedModel:
    """Load a saved model directory after verifying every file's sha256.

    ``trust=True`` allows unpickling and any type for this one load. ``expected_files`` (from the
    registry) also anchors MODEL.yaml; the types the manifest declares are then trusted.
    """
    directory = Path(path)
    manifest = verify_model_dir(directory, expected_files)
    types = list(trusted_types or [])
    if expected_files and MANIFEST in expected_files:
        types += manifest.trusted_types
    return _flavor(manifest.flavor).load(directory, manifest, trust=trust, trusted_types=types)
