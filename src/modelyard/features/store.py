"""``FeatureStore``: the facade over definitions, offline retrieval, materialization, online
reads, push, streaming, parity and training sets. Each verb delegates to its module."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from modelyard.entities import FeatureDefinitionRecord, Materialization
from modelyard.errors import InvalidArgumentError
from modelyard.features.definitions import Definition, Entity, FeatureService, FeatureView
from modelyard.features.loader import collect_definitions
from modelyard.features.materialize import Progress, materialize_views
from modelyard.features.offline import get_historical_features, to_arrow
from modelyard.features.online import EntityRows, OnlineFeatures, OnlinePlan
from modelyard.features.parity import ParityReport, compare
from modelyard.features.push import push_rows, to_epoch_ms
from modelyard.features.registry import AppliedDefinition, DefinitionCache, apply_definitions
from modelyard.features.resolve import Resolved, resolve_features, view_query
from modelyard.features.streaming import StreamProcessor
from modelyard.features.training import TrainingSet, pick_timestamp_column
from modelyard.storage import Workspace, default_workspace

__all__ = ["FeatureStore"]

TimeInput = Any
"""A datetime, pandas Timestamp, ISO-8601 string or epoch milliseconds."""


def _ms(value: TimeInput | None, default: int) -> int:
    if value is None:
        return default
    try:
        return to_epoch_ms(value)
    except (ValueError, TypeError):
        raise InvalidArgumentError(
            f"Invalid time {value!r}: use ISO-8601 (2026-01-31T12:00:00) or epoch milliseconds.",
            value=repr(value),
        ) from None


class FeatureStore:
    """The feature store of a workspace (its metadata, offline and online stores)."""

    def __init__(self, workspace: Workspace | None = None, *, refresh_s: float = 10.0) -> None:
        self.workspace = workspace or default_workspace()
        self.cache = DefinitionCache(self.workspace, refresh_s)
        self._plans: dict[tuple[Any, ...], OnlinePlan] = {}
        self._plans_generation = -1
        self._lock = threading.Lock()

    # -- definitions ------------------------------------------------------------------------
    def apply(
        self,
        definitions: Sequence[Definition] | str | os.PathLike[str],
        *,
        validate_sources: bool = True,
    ) -> list[AppliedDefinition]:
        """Register definitions (objects, or a .py / .yaml file or directory of them). A changed
        definition becomes a new version; unchanged ones are left alone."""
        loaded = None
        if isinstance(definitions, (str, os.PathLike)):
            loaded = collect_definitions(definitions)
            definitions = loaded.definitions
        applied = apply_definitions(
            self.workspace, list(definitions), validate_sources=validate_sources, loaded=loaded
        )
        self.cache.invalidate()
        return applied

    def get_entity(self, name: str, version: int | None = None) -> Entity:
        return Entity.model_validate(self.get_definition("entity", name, version).spec)

    def get_feature_view(self, name: str, version: int | None = None) -> FeatureView:
        return FeatureView.model_validate(self.get_definition("feature_view", name, version).spec)

    def get_feature_service(self, name: str, version: int | None = None) -> FeatureService:
        return FeatureService.model_validate(
            self.get_definition("feature_service", name, version).spec
        )

    def get_definition(
        self, kind: str, name: str, version: int | None = None
    ) -> FeatureDefinitionRecord:
        """The stored record of a definition (``kind``: entity, feature_view, feature_service)."""
        return self.workspace.metadata.features.get_definition(kind, name, version)

    def list_definitions(self, kind: str | None = None) -> list[FeatureDefinitionRecord]:
        """The latest version of every definition (or of one kind)."""
        return self.workspace.metadata.features.list_definitions(kind)

    def list_versions(self, kind: str, name: str) -> list[FeatureDefinitionRecord]:
        return self.workspace.metadata.features.list_versions(kind, name)

    def list_materializations(self, view: str, limit: int = 100) -> list[Materialization]:
        """Materializations of a view, newest first."""
        return self.workspace.metadata.features.list_materializations(view, limit=limit)

    def resolve(
        self, features: str | Sequence[str], *, full_feature_names: bool = False
    ) -> Resolved:
        """What ``features`` (a feature service's name, or references) means now: the latest
        version of each view, the join keys they need and the output column names. Raises
        NotFoundError (with close names) for an unknown service, view or feature."""
        return resolve_features(self.cache, features, full_feature_names=full_feature_names)

    # -- offline ----------------------------------------------------------------------------
    def get_historical_features(
        self,
        entity_df: Any,
        features: str | Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
        output: str | None = None,
    ) -> Any:
        """Point-in-time-correct feature values for each entity row (see
        :func:`modelyard.features.offline.get_historical_features`). ``features`` is a list of
        ``"view:feature"`` / ``"view"`` references or a feature service's name."""
        result, _ = get_historical_features(
            self.workspace,
            self.cache,
            entity_df,
            features,
            timestamp_column=timestamp_column,
            full_feature_names=full_feature_names,
            output=output,
        )
        return result

    # -- materialization --------------------------------------------------------------------
    def materialize(
        self,
        start: TimeInput,
        end: TimeInput,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Materialization]:
        """Write the latest value per entity with an event time in ``[start, end]`` online
        (for a view with aggregates: the entity's window state, its events of the widest
        window before its latest event)."""
        start_ms, end_ms = _ms(start, 0), _ms(end, 0)
        return materialize_views(
            self.workspace, self.cache, views, lambda _v: (start_ms, end_ms), progress
        )

    def materialize_incremental(
        self,
        end: TimeInput | None = None,
        views: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> list[Materialization]:
        """Materialize from where the last materialization of each view's current version
        stopped up to ``end`` (default: now). A version never materialized starts from the
        beginning: the rows an older version wrote online lack what the new one changed."""
        end_ms = _ms(end, int(time.time() * 1000))
        meta = self.workspace.metadata.features

        def window(view: str) -> tuple[int, int]:
            last = meta.last_materialized(view, self.cache.view(view)[0])
            return (0 if last is None else last, end_ms)

        return materialize_views(self.workspace, self.cache, views, window, progress)

    # -- online -----------------------------------------------------------------------------
    def _plan(self, features: str | Sequence[str], full_feature_names: bool) -> OnlinePlan:
        self.cache.refresh_if_due()
        key = (features if isinstance(features, str) else tuple(features), full_feature_names)
        if self._plans_generation != self.cache.generation:
            with self._lock:
                self._plans.clear()
                self._plans_generation = self.cache.generation
        plan = self._plans.get(key)
        if plan is None:
            resolved = resolve_features(self.cache, features, full_feature_names=full_feature_names)
            plan = OnlinePlan(resolved)
            with self._lock:
                if len(self._plans) > 1024:
                    self._plans.clear()
                self._plans[key] = plan
        return plan

    def get_online_features(
        self,
        features: str | Sequence[str],
        entity_rows: EntityRows,
        *,
        now: TimeInput | Sequence[TimeInput] | None = None,
        full_feature_names: bool = False,
    ) -> OnlineFeatures:
        """The latest values of ``features`` for each entity row, with a status per value
        (``present`` / ``expired`` / ``not_found``), as of ``now``: the clock by default, one
        time, or one time per entity row (replaying past events). TTL is enforced against it,
        windowed aggregates are computed at it, and a value from the future of an explicit
        ``now`` reads as ``not_found``."""
        plan = self._plan(features, full_feature_names)
        at: int | list[int] | None = None
        if isinstance(now, Sequence) and not isinstance(now, str):
            at = [_ms(t, 0) for t in now]
        elif now is not None:
            at = _ms(now, 0)
        return plan.read(self.workspace.online, entity_rows, at)

    def push(self, view: str, rows: Any) -> int:
        """Write fresh rows of a view online and to its offline log (all checked first)."""
        _, definition = self._view(view)
        return push_rows(self.workspace, definition, self.cache.join_keys(definition), rows)

    def _view(self, name: str) -> tuple[int, FeatureView]:
        return self.cache.view(name)

    # -- streaming --------------------------------------------------------------------------
    def stream_processor(self, view: str, **options: Any) -> StreamProcessor:
        """A processor for a stream view (``run()`` it; see :mod:`modelyard.features.streaming`)."""
        _, definition = self._view(view)
        entities = [self.cache.entity(e) for e in definition.entities]
        keys = [k for e in entities for k in e.join_keys]
        dtypes = [e.key_dtype for e in entities for _ in e.join_keys]
        return StreamProcessor(self.workspace, definition, keys, dtypes, **options)

    # -- parity -----------------------------------------------------------------------------
    def check_parity(
        self,
        features: str | Sequence[str],
        *,
        sample: int = 100,
        at: TimeInput | None = None,
        seed: int = 0,
    ) -> ParityReport:
        """Compare offline point-in-time values with online values for up to ``sample``
        entities per view at one instant (default: where the last materialization of the
        views' current versions ended, else now)."""
        import pyarrow as pa

        resolved = resolve_features(self.cache, features)
        at_ms = _ms(at, self._default_instant([rv.name for rv in resolved.views]))
        report = ParityReport(at_ms)
        for rv in resolved.views:
            plan = view_query(rv.view, rv.join_keys)
            keys = self.workspace.offline.sample_keys(plan, sample, at_ms, seed)
            if keys.num_rows == 0:
                continue
            stamps = pa.array([at_ms * 1000] * keys.num_rows, type=pa.timestamp("us"))
            entity_rows = keys.append_column("__parity_ts", stamps)
            refs = [f"{rv.name}:{f}" for f in rv.features]
            offline = self.get_historical_features(
                entity_rows, refs, timestamp_column="__parity_ts", full_feature_names=True
            )
            names = [f"{rv.name}__{f}" for f in rv.features]
            key_rows = keys.to_pylist()
            # values newer than the instant are read as of their own time, then skipped
            online = self._plan(refs, False).read(
                self.workspace.online, key_rows, at_ms, hide_future=False
            )
            offline_rows = offline[names].astype(object).values.tolist()
            compare(report, rv.name, key_rows, list(rv.features), offline_rows, online)
        return report

    def _default_instant(self, views: Sequence[str]) -> int:
        meta = self.workspace.metadata.features
        ends = [
            e
            for e in (meta.last_materialized(v, self.cache.view(v)[0]) for v in views)
            if e is not None
        ]
        return min(ends) if ends else int(time.time() * 1000)

    # -- training sets ----------------------------------------------------------------------
    def get_training_set(
        self,
        features: str | Sequence[str],
        entities: Any,
        *,
        timestamp_column: str | None = None,
        full_feature_names: bool = False,
    ) -> TrainingSet:
        """Join ``features`` (a feature service's name, or references) point-in-time onto
        labelled entity rows (a DataFrame or a Parquet / CSV path); returns the frame and the
        feature view versions used."""
        rows = to_arrow(entities)
        if isinstance(rows, str):
            columns = self.workspace.offline.describe_entity_file(rows)
        else:
            columns = {f.name: str(f.type).upper() for f in rows.schema}
        ts_column = pick_timestamp_column(columns, timestamp_column)
        frame, resolved = get_historical_features(
            self.workspace,
            self.cache,
            rows,
            features,
            timestamp_column=ts_column,
            full_feature_names=full_feature_names,
        )
        return TrainingSet(
            frame,
            list(resolved.names),
            resolved.versions,
            features if isinstance(features, str) else None,
            ts_column,
        )

    def link_run(self, run_id: str, training_set: TrainingSet | Sequence[tuple[str, int]]) -> None:
        """Record lineage: each feature view version (of a training set, or ``(view,
        version)`` pairs) -> the run that trained on it."""
        views = (
            training_set.feature_views
            if isinstance(training_set, TrainingSet)
            else list(training_set)
        )
        self.workspace.metadata.features.link_run(run_id, views, relation="features:training")
