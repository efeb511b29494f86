"""Materialization: the latest value per entity of each online feature view, from the offline
store into the online store, recorded in the metadata store (so ``materialize_incremental``
knows where the last run stopped). For a view with aggregates, an entity's row is its window
state instead: its events of the widest window before its latest event (what the stream
processor writes; reads compute the aggregates at the read instant)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from modelyard.entities import Materialization
from modelyard.errors import InvalidArgumentError
from modelyard.features.registry import DefinitionCache
from modelyard.features.resolve import entity_key, view_query
from modelyard.features.windows import WINDOW_FIELD, snapshot
from modelyard.storage import Workspace
from modelyard.storage.online import RowInput

__all__ = ["Progress", "materialize_views"]

Progress = Callable[[str, int], None]
"""Called with (view name, rows just written)."""


def _rows(batch: Any, join_keys: Sequence[str], features: Sequence[str]) -> Iterator[RowInput]:
    columns = batch.to_pydict()
    keys = [columns[k] for k in join_keys]
    ts = columns["__ts_ms"]
    values = [columns[f] for f in features]
    for i in range(batch.num_rows):
        yield (
            entity_key([k[i] for k in keys]),
            int(ts[i]),
            {f: v[i] for f, v in zip(features, values)},
        )


def _iso(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return stamp.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")[:-6] + "Z"


def _window_rows(batch: Any, join_keys: Sequence[str], horizon_ms: int) -> Iterator[RowInput]:
    columns = batch.to_pydict()
    keys = [columns.pop(k) for k in join_keys]
    ts, times = columns.pop("__ts_ms"), columns.pop("__times")
    for i in range(batch.num_rows):
        values = {c: v[i] for c, v in columns.items()}
        yield (
            entity_key([k[i] for k in keys]),
            int(ts[i]),
            {WINDOW_FIELD: snapshot(horizon_ms, times[i], values)},
        )


def materialize_views(
    workspace: Workspace,
    cache: DefinitionCache,
    views: Sequence[str] | None,
    window: Callable[[str], tuple[int, int]],
    progress: Progress | None = None,
) -> list[Materialization]:
    """Materialize each online view over the ``(start, end)`` ms window ``window(view)`` gives
    (both ends inclusive)."""
    names = list(views) if views else cache.view_names()
    out = []
    for name in names:
        version, view = cache.view(name)
        if not view.online:
            if views:
                raise InvalidArgumentError(
                    f"Feature view {name!r} is offline-only (online: false); nothing to "
                    "materialize.",
                    view=name,
                )
            continue
        start, end = window(name)
        if start > end:
            raise InvalidArgumentError(
                f"Materialization window of {name!r} starts after it ends ({_iso(start)} > "
                f"{_iso(end)}); give an end at or after the start (an incremental run starts "
                "where the last one of the view's version ended).",
                view=name,
                start=_iso(start),
                end=_iso(end),
            )
        plan = view_query(view, cache.join_keys(view))
        features = list(plan.features)
        written = 0
        horizon = max((a.window_ms for a in plan.aggregates), default=0)
        for batch in workspace.offline.latest_values(plan, start, end):
            if plan.aggregates:
                rows = _window_rows(batch, plan.join_keys, horizon)
            else:
                rows = _rows(batch, plan.join_keys, features)
            written += workspace.online.write(name, rows)
            if progress is not None:
                progress(name, batch.num_rows)
        out.append(
            workspace.metadata.features.record_materialization(
                name, version, start, end, written, actor=workspace.user
            )
        )
    return out
