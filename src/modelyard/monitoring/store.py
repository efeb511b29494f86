"""Storing a model version's reference profile in the artifact store, hash-checked on load.

The profile file goes to ``profiles/<model>/<version>/profile-<sha256[:16]>.json`` on the
workspace's artifact store (file or S3); the version's tag ``modelyard.profile`` records where,
with the file's sha256, in one write: ``{"uri": ..., "sha256": ..., "size": ...}``. Saving again
writes a new file and moves the tag (the old file is kept, like every artifact).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelyard.entities.drift import Profile
from modelyard.errors import IntegrityError, InvalidArgumentError, NotFoundError
from modelyard.registry import RegistryClient
from modelyard.storage import Workspace, default_workspace

__all__ = ["PROFILE_TAG", "load_profile", "profile_location", "save_profile"]

PROFILE_TAG = "modelyard.profile"


def save_profile(
    workspace: Workspace | None, model_name: str, version: int | str, profile: Profile
) -> str:
    """Store ``profile`` as the reference of ``model_name`` version ``version``; returns the
    file's URI."""
    if not isinstance(profile, Profile):
        raise InvalidArgumentError(
            f"save_profile needs a Profile (from build_profile), not {type(profile).__name__}.",
            field="profile",
        )
    ws = workspace or default_workspace()
    registry = RegistryClient(ws)
    mv = registry.get_version(model_name, version)  # NotFoundError names the missing version
    data = profile.to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    path = f"profiles/{mv.name}/{mv.version}/profile-{digest[:16]}.json"
    ws.artifacts.put_bytes(data, path)
    uri = ws.artifacts.uri(path)
    record = json.dumps({"uri": uri, "sha256": digest, "size": len(data)})
    registry.set_version_tag(mv.name, mv.version, PROFILE_TAG, record)
    return uri


def profile_location(
    workspace: Workspace | None, model_name: str, version: int | str
) -> dict[str, Any]:
    """The ``modelyard.profile`` record of a version: uri, sha256, size."""
    ws = workspace or default_workspace()
    mv = RegistryClient(ws).get_version(model_name, version)
    raw = mv.tags.get(PROFILE_TAG)
    if not raw:
        raise NotFoundError(
            f"{mv.name} v{mv.version} has no reference profile: it was registered without "
            "training data. Re-register it through a pipeline, or call "
            f"modelyard.monitoring.save_profile(workspace, {mv.name!r}, {mv.version}, "
            "build_profile(training_inputs, predictions=...)).",
            model=mv.name,
            version=mv.version,
        )
    try:
        record = json.loads(raw)
        return {**record, "uri": str(record["uri"]), "sha256": str(record["sha256"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"{mv.name} v{mv.version}: tag {PROFILE_TAG} is not a profile record ({raw[:200]!r}); "
            "save the profile again with modelyard.monitoring.save_profile(...).",
            model=mv.name,
            version=mv.version,
        ) from exc


def load_profile(workspace: Workspace | None, model_name: str, version: int | str) -> Profile:
    """The reference profile of a version, verified against the sha256 recorded with it."""
    ws = workspace or default_workspace()
    record = profile_location(ws, model_name, version)
    uri = record["uri"]
    try:
        data = ws.artifact_store_for(uri).read_bytes(uri)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{model_name} v{version}: the reference profile file {uri!r} is gone; save it again "
            "with modelyard.monitoring.save_profile(...).",
            model=model_name,
            version=str(version),
            uri=uri,
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != record["sha256"]:
        raise IntegrityError(
            f"{model_name} v{version}: the reference profile {uri!r} was changed after it was "
            f"saved (sha256 {digest[:12]}..., recorded {record['sha256'][:12]}...). Refusing to "
            "use it; save a new profile with modelyard.monitoring.save_profile(...).",
            model=model_name,
            version=str(version),
            uri=uri,
        )
    from modelyard.monitoring.profile import canonical_profile

    try:
        return canonical_profile(Profile.from_bytes(data))
    except ValueError as exc:
        raise IntegrityError(f"{model_name} v{version}: {exc}", uri=uri) from exc
