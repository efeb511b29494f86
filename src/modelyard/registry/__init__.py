"""Model registry: versions, aliases, stages with recorded transitions, hooks, model URIs."""

from __future__ import annotations

from typing import Any

from modelyard.registry.client import RegistryClient, StagePeriod
from modelyard.registry.hooks import PromotionEvent, post_json, sign, verify_signature
from modelyard.registry.uris import ModelRef, RunRef, parse_model_uri

__all__ = [
    "ModelRef",
    "PromotionEvent",
    "RegistryClient",
    "RunRef",
    "StagePeriod",
    "load_model",
    "parse_model_uri",
    "post_json",
    "promote",
    "register_model",
    "sign",
    "verify_signature",
]


def register_model(source: str, name: str, **kwargs: Any) -> Any:
    """Register ``source`` (``runs:/ID/model`` or a model directory) as a new version of ``name``."""
    return RegistryClient().register_model(source, name, **kwargs)


def promote(name: str, version: int | str, stage: str, reason: str = "") -> Any:
    """Move a version to ``staging`` / ``production`` / ``archived`` (see RegistryClient.promote)."""
    return RegistryClient().promote(name, version, stage, reason)


def load_model(uri: str, *, trust: bool = False, trusted_types: list[str] | None = None) -> Any:
    """Load ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/ID/PATH`` or a directory."""
    return RegistryClient().load_model(uri, trust=trust, trusted_types=trusted_types)
