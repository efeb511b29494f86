"""Feature references (``"view:feature"``, ``"view"``, or a feature service's name) resolved to
the views, versions and output columns they mean, and the query plans built from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelyard.entities import OfflineSource, ViewQuery
from modelyard.errors import InvalidArgumentError, NotFoundError, suggest
from modelyard.features.definitions import FeatureView
from modelyard.features.registry import DefinitionCache
from modelyard.features.windows import window_aggregates

__all__ = [
    "Resolved",
    "ResolvedView",
    "entity_key",
    "key_value",
    "resolve_features",
    "view_query",
]

KEY_SEPARATOR = "\x1f"


def entity_key(values: Sequence[Any]) -> str:
    """The online key of an entity: its join key values as text (``\\x1f`` between several).
    Integral floats are written as integers, so 42 and 42.0 name the same entity."""
    parts = []
    for v in values:
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        elif hasattr(v, "item"):  # numpy scalars
            v = v.item()
            if isinstance(v, float) and v.is_integer():
                v = int(v)
        parts.append(str(v))
    return parts[0] if len(parts) == 1 else KEY_SEPARATOR.join(parts)


def key_value(value: Any, *, integral_floats: bool = False) -> str | int | None:
    """A join key value as text or an integer (numpy scalars unwrapped; with
    ``integral_floats``, 42.0 as 42), or None when it cannot name an entity (a bool, a fraction,
    None, a list, an array...). Push and the online read check keys with it."""
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (TypeError, ValueError):  # an array of several values
            return None
    if integral_floats and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return value


@dataclass(frozen=True, slots=True)
class ResolvedView:
    name: str
    version: int
    view: FeatureView
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolved:
    views: tuple[ResolvedView, ...]
    names: tuple[str, ...]
    """Output column names, in the order asked for."""
    positions: tuple[tuple[int, int], ...]
    """For each output name: (index in ``views``, index in that view's ``features``)."""

    @property
    def versions(self) -> list[tuple[str, int]]:
        return [(v.name, v.version) for v in self.views]

    @property
    def join_keys(self) -> list[str]:
        """Every join key the views need, once each, in view order."""
        return list(dict.fromkeys(k for v in self.views for k in v.join_keys))

    @property
    def references(self) -> list[str]:
        """``view:feature`` of every output column, in order."""
        return [f"{self.views[i].name}:{self.views[i].features[j]}" for i, j in self.positions]


def _expand(cache: DefinitionCache, features: str | Sequence[str]) -> list[str]:
    if isinstance(features, str):
        return list(cache.service(features).features)
    refs = list(features)
    if not refs:
        raise InvalidArgumentError(
            "No features asked for: pass 'view:feature' references, 'view' for all of a view's "
            "features, or a feature service's name.",
            field="features",
        )
    return refs


def resolve_features(
    cache: DefinitionCache, features: str | Sequence[str], *, full_feature_names: bool = False
) -> Resolved:
    refs = _expand(cache, features)
    picked: dict[str, list[str]] = {}
    order: list[tuple[str, str]] = []
    views: dict[str, tuple[int, FeatureView]] = {}
    for ref in refs:
        view_name, _, feature = str(ref).partition(":")
        if view_name not in views:
            try:
                views[view_name] = cache.view(view_name)
            except NotFoundError:
                raise cache.unknown_view(view_name) from None
        view = views[view_name][1]
        wanted = [feature] if feature else view.feature_names
        for f in wanted:
            if f not in view.feature_names:
                known = [f"{view_name}:{n}" for n in view.feature_names]
                raise NotFoundError(
                    f"Feature view {view_name!r} has no feature {f!r}"
                    f"{suggest(f'{view_name}:{f}', known)}. Its features: "
                    f"{', '.join(view.feature_names)}.",
                    view=view_name,
                    feature=f,
                )
            if f not in picked.setdefault(view_name, []):
                picked[view_name].append(f)
                order.append((view_name, f))
    return _build(cache, views, picked, order, full_feature_names)


def _build(
    cache: DefinitionCache,
    views: dict[str, tuple[int, FeatureView]],
    picked: dict[str, list[str]],
    order: list[tuple[str, str]],
    full: bool,
) -> Resolved:
    names = [f"{v}__{f}" if full else f for v, f in order]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgumentError(
            f"Several feature views have a feature named {dupes[0]!r}; ask for full feature "
            "names (full_feature_names=True / --full-names) to get 'view__feature' columns.",
            field="features",
            duplicates=dupes,
        )
    resolved = []
    index = {name: i for i, name in enumerate(picked)}
    for name, feats in picked.items():
        version, view = views[name]
        outputs = tuple(f"{name}__{f}" if full else f for f in feats)
        resolved.append(
            ResolvedView(name, version, view, cache.join_keys(view), tuple(feats), outputs)
        )
    positions = tuple((index[v], picked[v].index(f)) for v, f in order)
    return Resolved(tuple(resolved), tuple(names), positions)


def view_query(
    view: FeatureView,
    join_keys: tuple[str, ...],
    outputs: Sequence[tuple[str, str]] = (),
) -> ViewQuery:
    """The offline store's plan for one view: its batch source, plus the log of pushed rows
    (plain views) or of streamed events (stream views without a batch source)."""
    sources: list[OfflineSource] = []
    if view.source is not None:
        s = view.source
        sources.append(OfflineSource(path=s.path, query=s.query, format=s.format))
    if not view.aggregations:
        sources.append(OfflineSource(log=view.name))
    elif view.source is None:
        sources.append(OfflineSource(log=view.name, dedupe_column=STREAM_ID_COLUMN))
    return ViewQuery(
        name=view.name,
        sources=tuple(sources),
        timestamp_field=view.timestamp_field,
        join_keys=join_keys,
        features={f.name: f.dtype for f in view.all_features},
        outputs=tuple(outputs),
        ttl_ms=view.ttl_ms,
        created_field=view.created_timestamp_field,
        aggregates=window_aggregates(view),
    )


STREAM_ID_COLUMN = "_stream_id"
