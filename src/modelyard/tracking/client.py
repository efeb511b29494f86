"""The tracking client and the run context manager.

    client = TrackingClient(workspace)
    with client.start_run("fraud") as run:
        run.log_params({"lr": 0.1})
        run.log_metrics({"auc": 0.93}, step=1)
        run.log_model(model, "model", sample=X.head())

A run ends FINISHED when its block completes, FAILED on an exception, KILLED on Ctrl-C, and
KILLED on SIGTERM when nothing else handles that signal (see :class:`RunTerminated`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from modelyard.entities import (
    ArtifactFile,
    DatasetInput,
    Experiment,
    Metric,
    PagedList,
    Run,
    RunStatus,
    now_ms,
)
from modelyard.errors import InvalidArgumentError
from modelyard.storage import Workspace, default_workspace
from modelyard.storage.artifacts import ArtifactStore
from modelyard.storage.metadata import TrackingStore
from modelyard.tracking.code import git_commit, git_dirty, source_name
from modelyard.tracking.datasets import fingerprint

__all__ = ["DEFAULT_EXPERIMENT", "ActiveRun", "LoggedModel", "TrackingClient"]

log = logging.getLogger("modelyard.tracking")
DEFAULT_EXPERIMENT = "Default"
MetricInput = Mapping[str, Any] | Iterable[Metric | tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class LoggedModel:
    run_id: str
    artifact_path: str
    flavor: str
    files: Mapping[str, str]
    """relative path -> sha256, including MODEL.yaml"""

    @property
    def uri(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"


class TrackingClient:
    """Experiments, runs and their data. Every call is one transaction on the metadata store."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or default_workspace()

    @property
    def store(self) -> TrackingStore:
        return self.workspace.metadata.tracking

    # -- experiments ------------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, Any] | None = None) -> Experiment:
        exp: Experiment = self.store.create_experiment(
            name, self.workspace.settings.artifact_uri, tags
        )
        return exp

    def get_experiment(self, name_or_id: str) -> Experiment:
        exp = self.store.get_experiment_by_name(name_or_id)
        if exp is None and str(name_or_id).isdigit():
            exp = self.store.get_experiment(name_or_id)
        if exp is None:
            from modelyard.errors import NotFoundError, suggest

            names = [e.name for e in self.store.list_experiments()]
            raise NotFoundError(
                f"No experiment named {name_or_id!r}{suggest(str(name_or_id), names)}. "
                "List them with `modelyard experiments list`.",
                name=name_or_id,
            )
        return exp

    def get_or_create_experiment(self, name: str) -> Experiment:
        exp = self.store.get_experiment_by_name(name)
        if exp is not None:
            return exp
        from modelyard.errors import AlreadyExistsError

        try:
            return self.create_experiment(name)
        except AlreadyExistsError:  # created by another process meanwhile
            return self.get_experiment(name)

    def list_experiments(self) -> list[Experiment]:
        return self.store.list_experiments()

    # -- runs -------------------------------------------------------------------------------
    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        code_dir: str | None = None,
    ) -> ActiveRun:
        """Create a run (status RUNNING) and return it as a context manager."""
        exp = self.get_or_create_experiment(experiment)
        commit = git_commit(code_dir)
        all_tags: dict[str, Any] = {"modelyard.source": source_name()}
        if commit:
            all_tags["modelyard.git.commit"] = commit
            dirty = git_dirty(code_dir)
            if dirty is not None:
                all_tags["modelyard.git.dirty"] = str(dirty).lower()
        all_tags.update(tags or {})
        run = self.store.create_run(
            exp.experiment_id,
            name=name or _default_run_name(),
            user=self.workspace.user,
            tags=all_tags,
            parent_run_id=parent_run_id,
            code_version=commit,
            source=source_name(),
        )
        return ActiveRun(self, run)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> None:
        self.store.update_run(run_id, status=status, end_time=now_ms())

    def delete_run(self, run_id: str) -> None:
        self.store.delete_run(run_id)

    def search_runs(
        self,
        experiments: Sequence[str] | str | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> PagedList[Run]:
        """Search runs; see :mod:`modelyard.entities.search` for the filter grammar."""
        ids = None
        if experiments is not None:
            names = [experiments] if isinstance(experiments, str) else list(experiments)
            ids = [self.get_experiment(n).experiment_id for n in names]
        return self.store.search_runs(ids, filter, order_by, max_results, page_token)

    # -- params, tags, metrics --------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_params(run_id, params)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.store.set_tags(run_id, tags)

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        self.store.log_metric(run_id, key, value, step, timestamp)

    def log_metrics(
        self, run_id: str, metrics: MetricInput, step: int = 0, timestamp: int | None = None
    ) -> int:
        """``{"auc": 0.9, "loss": 0.1}`` at one step, or many points ``Metric`` /
        ``(key, value, step[, timestamp])`` — either way ONE transaction."""
        return self.store.log_metrics(run_id, _points(metrics, step, timestamp or now_ms()))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.store.get_metric_history(run_id, key)

    # -- inputs -----------------------------------------------------------------------------
    def log_input(
        self,
        run_id: str,
        data: Any,
        *,
        source: str | None = None,
        name: str | None = None,
        context: str = "training",
    ) -> DatasetInput:
        """Record the fingerprint of a dataset (frame, array, or path/URI) the run used."""
        dataset = (
            data
            if isinstance(data, DatasetInput)
            else fingerprint(data, source=source, name=name, context=context)
        )
        self.store.log_inputs(run_id, [dataset], actor=self.workspace.user)
        return dataset

    # -- artifacts --------------------------------------------------------------------------
    def artifacts_of(self, run_id: str) -> ArtifactStore:
        return self.workspace.artifact_store_for(self.get_run(run_id).artifact_uri)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactFile:
        """Upload one file (to ``artifact_path/`` + its name); it is recorded with sha256 and size."""
        local = Path(local_path)
        if not local.is_file():
            from modelyard.errors import NotFoundError

            raise NotFoundError(
                f"No file at {local}; log_artifacts() uploads directories.", path=str(local)
            )
        dest = f"{artifact_path.strip('/')}/{local.name}" if artifact_path else local.name
        info = self.artifacts_of(run_id).put_file(local, dest)
        self.store.record_artifacts(run_id, [info])
        return info

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactFile]:
        """Upload every file under a directory, keeping its layout under ``artifact_path``."""
        base = (artifact_path or "").strip("/")
        files = self.artifacts_of(run_id).put_dir(local_dir, base)
        recorded = [
            ArtifactFile(f"{base}/{f.path}" if base else f.path, f.size, f.sha256) for f in files
        ]
        self.store.record_artifacts(run_id, recorded)
        return recorded

    def log_text(self, run_id: str, text: str, artifact_file: str) -> ArtifactFile:
        info = self.artifacts_of(run_id).put_bytes(text.encode(), artifact_file)
        self.store.record_artifacts(run_id, [info])
        return info

    def log_dict(self, run_id: str, data: Any, artifact_file: str) -> ArtifactFile:
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(data, sort_keys=False)
        else:
            text = json.dumps(data, indent=2, default=str)
        return self.log_text(run_id, text, artifact_file)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactFile]:
        return self.store.list_artifacts(run_id, prefix)

    def download_artifacts(self, run_id: str, path: str, local_dir: str | os.PathLike[str]) -> Path:
        return self.artifacts_of(run_id).download(path, local_dir)

    # -- models -----------------------------------------------------------------------------
    def log_model(
        self,
        run_id: str,
        model: Any,
        artifact_path: str = "model",
        *,
        sample: Any = None,
        flavor: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        trusted_types: list[str] | None = None,
    ) -> LoggedModel:
        """Save ``model`` (see :func:`modelyard.flavors.save_model`) as an artifact of the run."""
        from modelyard.flavors import save_model

        run = self.get_run(run_id)
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            local = Path(tmp) / "model"
            save_model(
                model,
                local,
                sample=sample,
                flavor=flavor,
                metadata=metadata,
                trusted_types=trusted_types,
                lineage={
                    "run_id": run_id,
                    "experiment_id": run.experiment_id,
                    "inputs": [i.digest for i in run.inputs],
                    "git_commit": run.code_version,
                },
            )
            return self.log_saved_model(run_id, local, artifact_path)

    def log_saved_model(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str = "model"
    ) -> LoggedModel:
        """Log a directory written by :func:`modelyard.flavors.save_model` (e.g. a cached
        model): its files are verified against MODEL.yaml, then uploaded as the run's model."""
        from modelyard.flavors import MANIFEST, manifest_sha256, verify_model_dir

        manifest = verify_model_dir(local_dir)
        files = {rel: str(info["sha256"]) for rel, info in manifest.files.items()}
        files[MANIFEST] = manifest_sha256(local_dir)
        self.log_artifacts(run_id, local_dir, artifact_path)
        run = self.get_run(run_id)
        logged = [p for p in run.tags.get("modelyard.models", "").split(",") if p]
        if artifact_path not in logged:
            self.set_tags(run_id, {"modelyard.models": ",".join([*logged, artifact_path])})
        return LoggedModel(run_id, artifact_path.strip("/"), manifest.flavor, files)


class RunTerminated(KeyboardInterrupt):
    """SIGTERM inside a run's ``with`` block, raised like Ctrl-C so that the runs end KILLED.

    The outermost ``with`` block installs the handler only in the main thread and only while
    SIGTERM has its default action (a handler of the program's own, or the CLI's, is left
    alone); on the way out it restores the default and sends SIGTERM again, so the process still
    ends as a terminated one (exit status 143 in a shell)."""


class _SigtermGuard:
    """The handler the outermost run installs, and whether SIGTERM came while it was in place."""

    def __init__(self) -> None:
        self.received = False
        self.previous = signal.getsignal(signal.SIGTERM)

    @staticmethod
    def install() -> _SigtermGuard | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return None  # the program's own handler (or an outer run's): never replace it
        guard = _SigtermGuard()
        signal.signal(signal.SIGTERM, guard._raise)
        return guard

    def _raise(self, _signum: int, _frame: Any) -> None:
        self.received = True
        raise RunTerminated("SIGTERM")

    def _note(self, _signum: int, _frame: Any) -> None:
        self.received = True

    def _installed(self) -> bool:
        """False once the block put a handler of its own in place (that one is kept)."""
        return signal.getsignal(signal.SIGTERM) in (self._raise, self._note)

    def hold(self) -> None:
        """While the run's end is recorded, a second SIGTERM is only noted."""
        if self._installed():
            signal.signal(signal.SIGTERM, self._note)

    def release(self) -> None:
        if not self._installed():
            return
        signal.signal(signal.SIGTERM, self.previous)
        if self.received:
            signal.raise_signal(signal.SIGTERM)  # the default action: the process ends


class ActiveRun:
    """A run being recorded; use it as a context manager to set its final status."""

    def __init__(self, client: TrackingClient, run: Run) -> None:
        self.client = client
        self.info = run
        self.run_id = run.run_id
        self._ended = False
        self._sigterm: _SigtermGuard | None = None

    @property
    def run(self) -> Run:
        """The run as stored now (params, tags, latest metrics)."""
        return self.client.get_run(self.run_id)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_params(self.run_id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.log_params(self.run_id, params)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tags(self.run_id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.run_id, tags)

    def log_metric(
        self, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        self.client.log_metric(self.run_id, key, value, step, timestamp)

    def log_metrics(self, metrics: MetricInput, step: int = 0, timestamp: int | None = None) -> int:
        return self.client.log_metrics(self.run_id, metrics, step, timestamp)

    def log_input(self, data: Any, **kwargs: Any) -> DatasetInput:
        return self.client.log_input(self.run_id, data, **kwargs)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactFile:
        return self.client.log_artifact(self.run_id, local_path, artifact_path)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactFile]:
        return self.client.log_artifacts(self.run_id, local_dir, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> ArtifactFile:
        return self.client.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: Any, artifact_file: str) -> ArtifactFile:
        return self.client.log_dict(self.run_id, data, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> ArtifactFile:
        """Save a matplotlib figure (PNG / SVG by extension) as an artifact."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            figure.savefig(path, bbox_inches="tight")
            parent = str(Path(artifact_file).parent)
            return self.log_artifact(path, None if parent == "." else parent)

    def log_model(self, model: Any, artifact_path: str = "model", **kwargs: Any) -> LoggedModel:
        return self.client.log_model(self.run_id, model, artifact_path, **kwargs)

    def log_saved_model(
        self, local_dir: str | os.PathLike[str], artifact_path: str = "model"
    ) -> LoggedModel:
        return self.client.log_saved_model(self.run_id, local_dir, artifact_path)

    def child(self, name: str | None = None, **kwargs: Any) -> ActiveRun:
        """Start a nested run (e.g. one tuning trial) in the same experiment."""
        exp = self.client.store.get_experiment(self.info.experiment_id)
        return self.client.start_run(exp.name, name, parent_run_id=self.run_id, **kwargs)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        if not self._ended:
            self._ended = True
            self.client.end_run(self.run_id, status)

    def __enter__(self) -> ActiveRun:
        self._sigterm = _SigtermGuard.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        guard, self._sigterm = self._sigterm, None
        if guard is None:
            self._finish(exc_type, exc)
            return
        guard.hold()
        try:
            if guard.received and exc_type is None:  # the block swallowed RunTerminated
                exc_type, exc = RunTerminated, RunTerminated("SIGTERM")
            self._finish(exc_type, exc)
        finally:
            guard.release()

    def _finish(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
            return
        if issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        elif issubclass(exc_type, SystemExit):
            code = getattr(exc, "code", None)
            status = RunStatus.FINISHED if code in (None, 0) else RunStatus.FAILED
        else:
            status = RunStatus.FAILED
        try:
            if status is not RunStatus.FINISHED:
                self.client.set_tags(
                    self.run_id, {"modelyard.error": f"{exc_type.__name__}: {exc}"[:8000]}
                )
            self.end(status)
        except Exception:  # never hide the user's exception behind a bookkeeping failure
            log.exception("could not record the end of run %s", self.run_id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run_id} {self.info.name!r}>"


def _points(metrics: MetricInput, step: int, timestamp: int) -> list[Metric]:
    if isinstance(metrics, Mapping):
        return [Metric(k, v, step, timestamp) for k, v in metrics.items()]
    points = []
    for item in metrics:
        if isinstance(item, Metric):
            points.append(
                item if item.timestamp else Metric(item.key, item.value, item.step, timestamp)
            )
        elif isinstance(item, tuple) and 2 <= len(item) <= 4:
            key, value, *rest = item
            points.append(
                Metric(
                    key, value, rest[0] if rest else step, rest[1] if len(rest) > 1 else timestamp
                )
            )
        else:
            raise InvalidArgumentError(
                f"Cannot log {item!r} as a metric point; use Metric(key, value, step) or "
                "(key, value, step[, timestamp]).",
                field="metrics",
            )
    return points


_ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "deft",
    "eager",
    "fond",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "quiet",
    "rapid",
    "sly",
    "tidy",
    "vivid",
    "witty",
)
_NOUNS = (
    "otter",
    "heron",
    "lynx",
    "finch",
    "badger",
    "crane",
    "gecko",
    "ibis",
    "koala",
    "marten",
    "newt",
    "owl",
    "panda",
    "quail",
    "raven",
    "stoat",
)


def _default_run_name() -> str:
    import secrets

    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000):03d}"
