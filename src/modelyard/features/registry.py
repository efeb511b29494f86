"""Registering definitions (with checks across them) and a cache of the resolved ones.

The cache keeps parsed definitions in memory so the online path never deserializes the registry
per call (a gap of Feast's). Every ``refresh_s`` seconds one cheap query (latest version per
name) tells whether anything changed; only changed entries are dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.entities import FeatureDefinitionRecord
from modelyard.errors import NotFoundError, SpecError, suggest
from modelyard.features.definitions import (
    KIND_OF,
    MODEL_OF,
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    Source,
)
from modelyard.features.loader import Collected
from modelyard.storage import Workspace

__all__ = ["AppliedDefinition", "DefinitionCache", "apply_definitions"]


@dataclass(frozen=True, slots=True)
class AppliedDefinition:
    kind: str
    name: str
    version: int
    status: str
    """created | updated | unchanged"""


def apply_definitions(
    workspace: Workspace,
    definitions: Sequence[Definition],
    *,
    validate_sources: bool = True,
    loaded: Collected | None = None,
) -> list[AppliedDefinition]:
    """Check the definitions against each other, the registry and their sources, then store
    them in one transaction. ``loaded``: what the loader found (its valid definitions are
    ``definitions``); its problems are reported together with these checks' (every problem at
    once), and a reference to a definition that failed is not reported again as unknown."""
    meta = workspace.metadata.features
    problems = list(loaded.problems) if loaded else []
    problems += _cross_check(definitions, meta, loaded.is_invalid if loaded else None)
    if validate_sources:
        problems += _check_sources(workspace, definitions)
    if problems:
        raise SpecError(
            f"{len(problems)} problem(s) in the definitions:\n  " + "\n  ".join(problems),
            problems=problems,
        )
    order = {"entity": 0, "feature_view": 1, "feature_service": 2}
    items = sorted(
        ((KIND_OF[type(d)], d.name, d.to_spec()) for d in definitions),
        key=lambda item: order[item[0]],
    )
    stored = meta.apply_definitions(items, actor=workspace.user)
    return [AppliedDefinition(r.kind, r.name, r.version, status) for r, status in stored]


def _cross_check(
    definitions: Sequence[Definition], meta: Any, failed: Callable[[str], bool] | None = None
) -> list[str]:
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for d in definitions:
        key = (KIND_OF[type(d)], d.name)
        seen[key] = seen.get(key, 0) + 1
    problems += [f"{k}[{n}]: defined {c} times" for (k, n), c in seen.items() if c > 1]
    stored = {(r.kind, r.name): r for r in meta.list_definitions()}
    entities = {d.name: d for d in definitions if isinstance(d, Entity)}
    for (kind, name), r in stored.items():
        if kind == "entity" and name not in entities:
            entities[name] = Entity.model_validate(r.spec)
    views = {d.name: d for d in definitions if isinstance(d, FeatureView)}
    for (kind, name), r in stored.items():
        if kind == "feature_view" and name not in views:
            views[name] = FeatureView.model_validate(r.spec)
    for d in definitions:
        if isinstance(d, FeatureView):
            for e in d.entities:
                if e not in entities and not (failed and failed(e)):
                    problems.append(
                        f"feature_view[{d.name}].entities: unknown entity {e!r}"
                        f"{suggest(e, list(entities))}"
                    )
        elif isinstance(d, FeatureService):
            for ref in d.features:
                view_name = ref.partition(":")[0]
                if view_name not in views and failed and failed(view_name):
                    continue  # that view's own problems are reported
                problem = _check_ref(ref, views)
                if problem:
                    problems.append(f"feature_service[{d.name}].features: {problem}")
    return problems


def _check_ref(ref: str, views: dict[str, FeatureView]) -> str | None:
    view_name, _, feature = ref.partition(":")
    view = views.get(view_name)
    if view is None:
        return f"unknown feature view {view_name!r}{suggest(view_name, list(views))}"
    if feature and feature not in view.feature_names:
        return (
            f"feature view {view_name!r} has no feature {feature!r}"
            f"{suggest(feature, view.feature_names)}; it has {', '.join(view.feature_names)}"
        )
    return None


def _check_sources(workspace: Workspace, definitions: Sequence[Definition]) -> list[str]:
    """Each view's source must exist and hold the columns the view reads."""
    from modelyard.entities import OfflineSource
    from modelyard.errors import ModelyardError

    problems = []
    for d in definitions:
        if not isinstance(d, FeatureView) or d.source is None:
            continue
        src: Source = d.source
        try:
            columns = workspace.offline.describe_source(
                OfflineSource(path=src.path, query=src.query, format=src.format)
            )
        except ModelyardError as exc:
            problems.append(f"feature_view[{d.name}].source: {exc.message}")
            continue
        needed = [d.timestamp_field, *(f.name for f in d.features)]
        needed += [a.column for a in d.aggregations if a.column]
        if d.created_timestamp_field:
            needed.append(d.created_timestamp_field)
        for col in dict.fromkeys(needed):
            if col not in columns:
                problems.append(
                    f"feature_view[{d.name}].source: no column {col!r}"
                    f"{suggest(col, list(columns))} in {src.path or 'the query'}; it has "
                    f"{', '.join(columns)}"
                )
    return problems


class DefinitionCache:
    """Parsed definitions by (kind, name), refreshed when the registry changes."""

    def __init__(self, workspace: Workspace, refresh_s: float = 10.0) -> None:
        self.workspace = workspace
        self.refresh_s = refresh_s
        self.generation = 0
        """Bumped whenever a cached definition is dropped (plans built on it are stale)."""
        self._entries: dict[tuple[str, str], tuple[FeatureDefinitionRecord, Any]] = {}
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def refresh_if_due(self) -> None:
        if time.monotonic() - self._checked < self.refresh_s:
            return
        latest = self.workspace.metadata.features.latest_versions()
        with self._lock:
            self._checked = time.monotonic()
            stale = [k for k, (r, _) in self._entries.items() if latest.get(k) != r.version]
            for k in stale:
                del self._entries[k]
            if stale:
                self.generation += 1

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
            self.generation += 1

    def get(self, kind: str, name: str) -> tuple[FeatureDefinitionRecord, Any]:
        """(record, parsed model) of the latest version."""
        self.refresh_if_due()
        entry = self._entries.get((kind, name))
        if entry is None:
            record = self.workspace.metadata.features.get_definition(kind, name)
            entry = (record, MODEL_OF[kind].model_validate(record.spec))
            with self._lock:
                self._entries[(kind, name)] = entry
        return entry

    def view(self, name: str) -> tuple[int, FeatureView]:
        record, view = self.get("feature_view", name)
        return record.version, view

    def entity(self, name: str) -> Entity:
        entity: Entity = self.get("entity", name)[1]
        return entity

    def service(self, name: str) -> FeatureService:
        service: FeatureService = self.get("feature_service", name)[1]
        return service

    def view_names(self) -> list[str]:
        return [r.name for r in self.workspace.metadata.features.list_definitions("feature_view")]

    def join_keys(self, view: FeatureView) -> tuple[str, ...]:
        return tuple(k for e in view.entities for k in self.entity(e).join_keys)

    def unknown_view(self, name: str) -> NotFoundError:
        names = self.view_names()
        return NotFoundError(
            f"No feature view named {name!r}{suggest(name, names)}. Known: "
            f"{', '.join(names) or 'none'}.",
            view=name,
        )
