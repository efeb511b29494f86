"""Monitor definitions: load a spec (YAML file, mapping or MonitorSpec), check it, store it as a
new version when it changed.

    apply_monitors(workspace, "monitors/fraud.yaml")       # one monitor, or `monitors: [...]`
    spec = get_monitor(workspace, "fraud-production").spec
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modelyard.entities.monitoring import Alert, CheckRecord, MonitorRecord, RetrainRecord
from modelyard.entities.specs import Problems, load_yaml, problems_from
from modelyard.errors import ModelyardError, NotFoundError, SpecError
from modelyard.monitoring.spec import MonitorSpec
from modelyard.storage import Workspace

__all__ = [
    "AppliedMonitor",
    "Monitor",
    "MonitorHistory",
    "MonitorStatus",
    "apply_monitors",
    "delete_monitor",
    "get_monitor",
    "list_alerts",
    "list_monitors",
    "load_monitor_specs",
    "monitor_history",
    "monitor_statuses",
    "redacted",
]

MonitorSource = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Any] | MonitorSpec


@dataclass(frozen=True)
class Monitor:
    """A stored monitor: its record (name, version, who, when) and its parsed spec."""

    record: MonitorRecord
    spec: MonitorSpec

    @property
    def name(self) -> str:
        return self.record.name


@dataclass(frozen=True)
class AppliedMonitor:
    name: str
    version: int
    status: str
    """created | updated | unchanged | restored"""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "status": self.status}


def load_monitor_specs(
    source: MonitorSource, *, base_dir: str | os.PathLike[str] | None = None
) -> list[MonitorSpec]:
    """Parse and check monitor specs, reporting every problem with its path (and YAML line).

    A file or mapping holds one monitor, or ``monitors: [...]``. Relative paths in ``retrain``
    (the pipeline, the fresh data) are resolved against the file's directory (or ``base_dir``).
    """
    text: str | None = None
    what = "the monitor spec"
    base = Path(base_dir or Path.cwd())
    raw: Any = source
    if isinstance(source, MonitorSpec):
        raw = source.model_dump(mode="json")
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(
                f"Monitor spec {str(path)!r} does not exist.", field="spec", value=str(path)
            )
        text, what = path.read_text(), str(path)
        raw = load_yaml(text, what)
        base = Path(base_dir or path.resolve().parent)
    items, key = _items(raw, what)
    problems = Problems(what=what, text=text)
    specs = []
    for i, item in enumerate(items):
        prefix: tuple[str | int, ...] = () if key is None else ((key, i) if key else (i,))
        try:
            spec = MonitorSpec.model_validate(item)
        except ValidationError as exc:
            problems.extend(problems_from(exc, MonitorSpec, prefix=prefix))
            continue
        specs.append(_resolve_paths(spec, base, problems, prefix))
    names = [s.name for s in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.add(("name",), f"monitor {name!r} is defined more than once")
    problems.raise_if_any()
    return specs


def _items(data: Any, what: str) -> tuple[list[Any], str | None]:
    """The monitors in ``data`` and where they sit: ``"monitors"`` (a ``monitors:`` list),
    ``""`` (a bare list) or None (one monitor)."""
    if isinstance(data, Mapping) and "monitors" in data:
        if set(data) != {"monitors"} or not isinstance(data["monitors"], list):
            raise SpecError(
                f"{what}: `monitors:` must be the only key and hold a list of monitors.",
                field="monitors",
            )
        return list(data["monitors"]), "monitors"
    if isinstance(data, Mapping):
        return [dict(data)], None
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return list(data), ""
    raise SpecError(
        f"{what} must hold a monitor (name:, model:, ...) or a list of them, got "
        f"{type(data).__name__}. See docs/monitoring.md.",
        field="spec",
    )


def _resolve_paths(
    spec: MonitorSpec, base: Path, problems: Problems, prefix: tuple[str | int, ...]
) -> MonitorSpec:
    retrain = spec.retrain
    if retrain is None:
        return spec
    pipeline = _absolute(retrain.pipeline, base)
    data = retrain.data
    if data.source is not None:
        data = data.model_copy(update={"source": _absolute(data.source, base)})
    try:
        from modelyard.pipeline import load_spec

        loaded = load_spec(pipeline)
        if loaded.spec.registration is None:
            problems.add(
                (*prefix, "retrain", "pipeline"),
                f"{pipeline} has no register section; a retrain registers the challenger there",
            )
    except ModelyardError as exc:
        problems.add((*prefix, "retrain", "pipeline"), exc.message.splitlines()[0])
    update = {"pipeline": pipeline, "data": data}
    return spec.model_copy(update={"retrain": retrain.model_copy(update=update)})


def _absolute(location: str, base: Path) -> str:
    if "://" in location:
        return location
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def apply_monitors(
    workspace: Workspace,
    source: MonitorSource,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[AppliedMonitor]:
    """Check and store monitors; a changed spec becomes the monitor's next version."""
    specs = load_monitor_specs(source, base_dir=base_dir)
    registry = workspace.metadata.registry
    for spec in specs:
        registry.get_registered_model(spec.model.name)  # NotFoundError names the known models
    store = workspace.metadata.monitoring
    out = []
    for spec in specs:
        record, status = store.apply_monitor(
            spec.name, spec.model.name, spec.model_dump(mode="json"), actor=workspace.user
        )
        out.append(AppliedMonitor(record.name, record.version, status))
    return out


def get_monitor(workspace: Workspace, name: str, version: int | None = None) -> Monitor:
    record = workspace.metadata.monitoring.get_monitor(name, version)
    return Monitor(record, MonitorSpec.model_validate(record.spec))


def list_monitors(workspace: Workspace, model: str | None = None) -> list[Monitor]:
    return [
        Monitor(r, MonitorSpec.model_validate(r.spec))
        for r in workspace.metadata.monitoring.list_monitors(model)
    ]


def delete_monitor(workspace: Workspace, name: str) -> int:
    """Stop a monitor; its history stays. Returns how many open alerts were resolved."""
    return workspace.metadata.monitoring.delete_monitor(name, actor=workspace.user)


def redacted(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with webhook secrets replaced by ``***`` (for display)."""
    out = dict(spec)
    out["sinks"] = [
        {**s, "secret": "***"} if isinstance(s, Mapping) and s.get("secret") else s
        for s in spec.get("sinks", [])
    ]
    return out


@dataclass(frozen=True)
class MonitorStatus:
    """A monitor at a glance: its latest check (None before the first) and open alerts."""

    monitor: Monitor
    last_check: CheckRecord | None
    open_alerts: int


def monitor_statuses(workspace: Workspace) -> list[MonitorStatus]:
    """Every monitor with its latest check and how many of its alerts are open."""
    store = workspace.metadata.monitoring
    open_alerts = store.count_open_alerts()
    return [
        MonitorStatus(
            m,
            next(iter(store.list_checks(m.name, limit=1)), None),
            open_alerts.get(m.name, 0),
        )
        for m in list_monitors(workspace)
    ]


@dataclass(frozen=True)
class MonitorHistory:
    """What a monitor has done: its definition's versions, recent checks, open alerts and
    recent retrains (newest first)."""

    versions: list[int]
    checks: list[CheckRecord]
    open_alerts: list[Alert]
    retrains: list[RetrainRecord]


def monitor_history(
    workspace: Workspace, name: str, *, checks: int = 10, retrains: int = 5
) -> MonitorHistory:
    store = workspace.metadata.monitoring
    return MonitorHistory(
        [r.version for r in store.list_monitor_versions(name)],
        store.list_checks(name, limit=checks),
        store.list_alerts(monitor=name, status="open", limit=None),
        store.list_retrains(name, limit=retrains),
    )


def list_alerts(
    workspace: Workspace,
    *,
    monitor: str | None = None,
    only_open: bool = False,
    limit: int | None = 50,
) -> list[Alert]:
    """Alerts, newest first (``limit=None``: all)."""
    return workspace.metadata.monitoring.list_alerts(
        monitor=monitor, status="open" if only_open else None, limit=limit
    )
