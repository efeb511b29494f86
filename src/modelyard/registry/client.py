"""The model registry client: register, alias, promote (with hooks), resolve and load."""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.entities import (
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    Webhook,
)
from modelyard.errors import (
    IntegrityError,
    InvalidModelURIError,
    NotFoundError,
    UntrustedModelError,
)
from modelyard.flavors import MANIFEST, LoadedModel, load_model, manifest_sha256, verify_model_dir
from modelyard.registry.hooks import PromotionEvent, PromotionHook, deliver_webhook
from modelyard.registry.uris import ModelRef, RunRef, parse_model_uri
from modelyard.storage import Workspace, default_workspace
from modelyard.storage.metadata import RegistryStore

__all__ = ["RegistryClient", "StagePeriod"]

log = logging.getLogger("modelyard.registry")


@dataclass(frozen=True, slots=True)
class StagePeriod:
    """``version`` held ``stage`` from ``start`` until ``end`` (None: still holds it)."""

    version: int
    stage: str
    start: int
    end: int | None
    promoted_by: str
    reason: str


class RegistryClient:
    """Registered models and their versions. Promotion hooks fire after the change is committed."""

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace or default_workspace()
        self._hooks: list[PromotionHook] = []
        self._cache_lock = threading.Lock()

    @property
    def store(self) -> RegistryStore:
        return self.workspace.metadata.registry

    @property
    def actor(self) -> str:
        return self.workspace.user

    # -- registered models ------------------------------------------------------------------
    def create_model(
        self, name: str, description: str = "", tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        return self.store.create_registered_model(
            name, actor=self.actor, description=description, tags=tags
        )

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_registered_model(name)

    def list_models(self, name_like: str | None = None) -> list[RegisteredModel]:
        return self.store.list_registered_models(name_like)

    def update_model(self, name: str, description: str) -> RegisteredModel:
        return self.store.update_registered_model(name, actor=self.actor, description=description)

    def set_model_tag(self, name: str, key: str, value: Any) -> None:
        self.store.set_registered_model_tag(name, key, value, actor=self.actor)

    def delete_model(self, name: str) -> None:
        self.store.delete_registered_model(name, actor=self.actor)

    # -- versions ---------------------------------------------------------------------------
    def register_model(
        self,
        source: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        promote_to: str | Stage | None = None,
        reason: str = "",
        reference: Any = None,
        trusted_types: Sequence[str] | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` from ``runs:/RUN_ID/PATH``, an artifact URI, or a
        local model directory (uploaded to the artifact store). The files are verified first and
        their sha256 recorded, so a later change to any of them is refused at load time.

        ``promote_to`` moves the new version to a stage in the same transaction as the
        registration (all or nothing); hooks fire after it commits.

        ``reference``: the training inputs (a DataFrame or Arrow Table) or a
        ``modelyard.monitoring.Profile`` (to include predictions); stored as the version's
        reference profile for drift monitoring, before hooks fire.

        ``trusted_types``: a model whose manifest declares types beyond the safe list (custom
        transformers, functions by import path) is registered only when every such type is
        listed here. Registration anchors the manifest, and a registered version then loads those
        types without ``trust=True``, so this is where a person approves them. The approved
        types are kept in the version's ``modelyard.trusted_types`` tag (and its audit event)."""
        ref = parse_model_uri(source)
        run_id: str | None = None
        metrics: dict[str, float] = {}
        if isinstance(ref, ModelRef):
            raise InvalidModelURIError(
                f"{source!r} is already a registered model; register from runs:/RUN_ID/PATH or a "
                "model directory.",
                uri=source,
            )
        profile = _reference_profile(reference) if reference is not None else None
        if isinstance(ref, RunRef):
            run = self.workspace.metadata.tracking.get_run(ref.run_id)
            run_id, metrics = run.run_id, dict(run.metrics)
            artifact_uri = f"{run.artifact_uri}/{ref.path}"
            local = self._materialize(artifact_uri)
            self._verify_run_artifacts(local, run.run_id, ref.path)
        elif "://" in str(ref) and not str(ref).startswith("file://"):
            artifact_uri = str(ref)
            local = self._materialize(artifact_uri)
        else:
            local = Path(str(ref).removeprefix("file://"))
            artifact_uri = ""
        manifest = verify_model_dir(local)
        tags = _approve_types(manifest.trusted_types, trusted_types, source, tags)
        files = {rel: str(info["sha256"]) for rel, info in manifest.files.items()}
        files[MANIFEST] = manifest_sha256(local)
        if not artifact_uri:  # a local directory: copy it into the artifact store
            dest = f"registry/{name}/{uuid.uuid4().hex}"
            self.workspace.artifacts.put_dir(local, dest)
            artifact_uri = self.workspace.artifacts.uri(dest)
        run_id = run_id or manifest.lineage.get("run_id")
        stage = str(promote_to.value if isinstance(promote_to, Stage) else promote_to or "")
        transitions: list[StageTransition] = []
        version = self.store.create_model_version(
            name,
            actor=self.actor,
            artifact_uri=artifact_uri,
            flavor=manifest.flavor,
            run_id=run_id,
            source=source,
            signature=manifest.signature.to_dict() if manifest.signature else {},
            files=files,
            metrics=metrics,
            description=description,
            tags=tags,
            stage=stage or None,
            reason=reason,
            transitions=transitions,
        )
        if profile is not None:
            from modelyard.monitoring import save_profile  # see _reference_profile

            save_profile(self.workspace, name, version.version, profile)
            version = self.get_version(name, version.version)
        if transitions:
            self._fire(transitions)
        return version

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_model_version(name, version)

    def list_versions(self, name: str, stage: str | None = None) -> list[ModelVersion]:
        return self.store.list_model_versions(name, stage)

    def update_version(self, name: str, version: int | str, description: str) -> ModelVersion:
        return self.store.update_model_version(
            name, version, actor=self.actor, description=description
        )

    def set_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        self.store.set_model_version_tag(name, version, key, value, actor=self.actor)

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI points at now."""
        ref = parse_model_uri(uri)
        if not isinstance(ref, ModelRef):
            raise InvalidModelURIError(
                f"{uri!r} is not a registry URI; use models:/NAME@ALIAS or models:/NAME/VERSION.",
                uri=uri,
            )
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        return self.store.resolve_alias(ref.name, ref.alias or "latest")

    # -- aliases and stages -----------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        self.store.set_alias(name, alias, version, actor=self.actor)

    def delete_alias(self, name: str, alias: str) -> None:
        self.store.delete_alias(name, alias, actor=self.actor)

    def add_hook(self, hook: PromotionHook) -> None:
        """Call ``hook(event)`` in this process after every promotion made through this client."""
        self._hooks.append(hook)

    def promote(
        self, name: str, version: int | str, stage: str | Stage, reason: str = ""
    ) -> list[StageTransition]:
        """Move ``version`` to ``stage``, archiving the previous holder; record who, when, why.

        The transitions and their audit events are one transaction; hooks and webhooks run
        after it commits (a failing hook is logged and does not undo the promotion).
        """
        transitions = self.store.transition_stage(
            name,
            version,
            str(stage.value if isinstance(stage, Stage) else stage),
            actor=self.actor,
            reason=reason,
        )
        if transitions:
            self._fire(transitions)
        return transitions

    def _fire(self, transitions: list[StageTransition]) -> None:
        main = transitions[-1]
        event = PromotionEvent(
            name=main.name,
            version=main.version,
            from_stage=main.from_stage,
            to_stage=str(main.to_stage),
            actor=main.actor,
            reason=main.reason,
            timestamp=main.timestamp,
            archived_versions=[t.version for t in transitions[:-1]],
        )
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                log.exception("promotion hook %r failed for %s/%s", hook, event.name, event.version)
        for webhook in self.store.list_webhooks(main.name):
            ok, detail = deliver_webhook(webhook, event)
            self.workspace.metadata.audit.record(
                self.actor,
                "webhook.delivery",
                "webhook",
                str(webhook.webhook_id),
                {
                    "url": webhook.url,
                    "delivered": ok,
                    "detail": detail,
                    "model_version": f"{event.name}/{event.version}",
                },
            )

    def history(self, name: str, stage: str | None = None) -> list[StageTransition]:
        return self.store.get_stage_history(name, stage=stage)

    def stage_periods(self, name: str, stage: str | Stage = Stage.PRODUCTION) -> list[StagePeriod]:
        """Which version held ``stage`` and when: the full history of, e.g., production."""
        target = str(stage.value if isinstance(stage, Stage) else stage).lower()
        periods: list[StagePeriod] = []
        open_: dict[int, StagePeriod] = {}
        for t in self.history(name, target):
            if t.to_stage == target:
                open_[t.version] = StagePeriod(
                    t.version, target, t.timestamp, None, t.actor, t.reason
                )
            elif t.from_stage == target and t.version in open_:
                p = open_.pop(t.version)
                periods.append(
                    StagePeriod(p.version, target, p.start, t.timestamp, p.promoted_by, p.reason)
                )
        periods.extend(open_.values())
        return sorted(periods, key=lambda p: p.start)

    # -- webhooks ---------------------------------------------------------------------------
    def add_webhook(
        self, url: str, *, secret: str | None = None, model_name: str | None = None
    ) -> Webhook:
        """Register a webhook; without a secret one is generated (read it from the result)."""
        return self.store.create_webhook(
            url,
            secret or secrets.token_hex(32),
            actor=self.actor,
            model_name=model_name,
        )

    def list_webhooks(self, model_name: str | None = None) -> list[Webhook]:
        return self.store.list_webhooks(model_name)

    def delete_webhook(self, webhook_id: int) -> None:
        self.store.delete_webhook(webhook_id, actor=self.actor)

    # -- loading ----------------------------------------------------------------------------
    def load_model(
        self, uri: str, *, trust: bool = False, trusted_types: list[str] | None = None
    ) -> LoadedModel:
        """Load ``models:/...``, ``runs:/...``, an artifact URI or a local directory, verifying
        every file's sha256 (against the registry's record for ``models:/`` URIs, and the run's
        artifact record for ``runs:/`` URIs)."""
        local, expected = self.download(uri)
        return load_model(local, trust=trust, trusted_types=trusted_types, expected_files=expected)

    def download(self, uri: str) -> tuple[Path, dict[str, str] | None]:
        """A local copy of a model and, for registry URIs, the hashes it must match (a ``runs:/``
        copy is checked here against the hashes its run recorded)."""
        ref = parse_model_uri(uri)
        if isinstance(ref, ModelRef):
            version = self.resolve(uri)
            local = self._materialize(version.artifact_uri, dict(version.files))
            return local, dict(version.files)
        if isinstance(ref, RunRef):
            run = self.workspace.metadata.tracking.get_run(ref.run_id)
            local = self._materialize(f"{run.artifact_uri}/{ref.path}")
            self._verify_run_artifacts(local, run.run_id, ref.path)
            return local, None
        if "://" in ref and not ref.startswith("file://"):
            return self._materialize(ref), None
        return Path(ref.removeprefix("file://")), None

    def _verify_run_artifacts(self, local: Path, run_id: str, path: str) -> None:
        """Check a run's model against the sha256 the run recorded when it was logged.

        Only the hashes are used: a registered version's hashes also anchor the types MODEL.yaml
        declares (a person approved them when registering), a run's do not."""
        prefix = path.strip("/")
        recorded = {
            a.path[len(prefix) + 1 :] if prefix else a.path: a.sha256
            for a in self.workspace.metadata.tracking.list_artifacts(run_id, prefix)
        }
        if recorded:  # a model written into the run's artifacts by other means has none
            verify_model_dir(local, recorded, recorded_by=f"run {run_id}'s artifact record")

    def _materialize(self, artifact_uri: str, expected: Mapping[str, str] | None = None) -> Path:
        """A local directory with the model: the file itself for file://, else a verified cache."""
        store = self.workspace.artifact_store_for(artifact_uri)
        local = store.local_path("")
        if local is not None:
            if not local.is_dir():
                raise NotFoundError(f"No model at {artifact_uri!r}.", uri=artifact_uri)
            return local
        key = hashlib.sha256(artifact_uri.encode()).hexdigest()[:24]
        target = Path(self.workspace.settings.cache_dir) / "models" / key
        with self._cache_lock:
            if target.is_dir():
                try:
                    verify_model_dir(target, expected)
                    return target
                except IntegrityError:
                    log.warning("cached model %s failed verification; downloading again", target)
                    shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=target.parent))
            try:
                store.download("", tmp)
                tmp.rename(target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return target


TRUSTED_TYPES_TAG = "modelyard.trusted_types"


def _approve_types(
    declared: Sequence[str],
    approved: Sequence[str] | None,
    source: str,
    tags: Mapping[str, Any] | None,
) -> Mapping[str, Any] | None:
    """The version's tags, with the approved types recorded; refuse types nobody approved."""
    if not declared:
        return tags
    missing = sorted(set(declared) - set(approved or ()))
    if missing:
        raise UntrustedModelError(
            f"The model at {source!r} declares types that loading it would build: "
            f"{', '.join(missing)}. A registered version loads them without trust=True, so "
            "review them first, then register with trusted_types=[...] listing them "
            "(CLI: modelyard models register ... --trust-type TYPE).",
            source=source,
            untrusted_types=missing,
        )
    return {**(tags or {}), TRUSTED_TYPES_TAG: ",".join(sorted(declared))}


def _reference_profile(reference: Any) -> Any:
    """A reference profile from training inputs, built before anything is registered (so bad
    data registers nothing). ``modelyard.monitoring`` builds on the registry, so it is imported
    here, lazily, never at module level (that would be an import cycle)."""
    from modelyard.monitoring import Profile, build_profile

    return reference if isinstance(reference, Profile) else build_profile(reference)
