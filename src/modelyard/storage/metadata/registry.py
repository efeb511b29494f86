"""Registered models, versions, aliases, stage transitions and webhooks.

Every mutation writes its audit event in the same transaction. Mutations that read before they
write lock the registered model's row first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
the write transaction already holds the database's write lock), so concurrent registrations get
distinct version numbers and a stage never has two holders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelyard.entities import (
    ALIAS_PATTERN,
    MODEL_NAME_PATTERN,
    RESERVED_ALIASES,
    LineageNode,
    ModelVersion,
    RegisteredModel,
    Stage,
    StageTransition,
    Webhook,
    now_ms,
)
from modelyard.entities.validation import check_key, stringify
from modelyard.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    suggest,
)
from modelyard.storage.metadata import schema as t
from modelyard.storage.metadata.database import Database

__all__ = ["RegistryStore", "check_alias", "check_model_name"]

_EXCLUSIVE_STAGES = (Stage.STAGING.value, Stage.PRODUCTION.value)


def check_model_name(name: Any) -> str:
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.match(name):
        raise InvalidArgumentError(
            f"Invalid model name {name!r}: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit.",
            field="name",
            value=repr(name),
        )
    return name


def check_alias(alias: Any, *, allow_reserved: bool = False) -> str:
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias):
        raise InvalidArgumentError(
            f"Invalid alias {alias!r}: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter (e.g. 'champion').",
            field="alias",
            value=repr(alias),
        )
    if not allow_reserved and alias.lower() in RESERVED_ALIASES:
        raise InvalidArgumentError(
            f"Alias {alias!r} is reserved: 'staging', 'production' and 'archived' are stages "
            "(move them with promote), 'latest' always means the newest version.",
            field="alias",
            value=alias,
        )
    return alias


def check_stage(stage: Any) -> str:
    value = str(stage).lower() if stage is not None else ""
    if value not in {s.value for s in Stage}:
        raise InvalidArgumentError(
            f"Invalid stage {stage!r}{suggest(value, [s.value for s in Stage])}; "
            f"use one of {', '.join(s.value for s in Stage)}.",
            field="stage",
            value=str(stage),
        )
    return value


class RegistryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- registered models ------------------------------------------------------------------
    def create_registered_model(
        self, name: str, *, actor: str, description: str = "", tags: Mapping[str, Any] | None = None
    ) -> RegisteredModel:
        check_model_name(name)
        with self.db.write() as conn:
            if self._model_row(conn, name) is not None:
                raise AlreadyExistsError(f"Registered model {name!r} already exists.", name=name)
            self._insert_model(conn, name, description, tags, actor)
        return self.get_registered_model(name)

    def _insert_model(
        self,
        conn: Connection,
        name: str,
        description: str,
        tags: Mapping[str, Any] | None,
        actor: str,
    ) -> None:
        ts = now_ms()
        conn.execute(
            t.registered_models.insert().values(
                name=name, description=description, created_at=ts, updated_at=ts
            )
        )
        if tags:
            conn.execute(
                t.registered_model_tags.insert(),
                [
                    {"name": name, "key": check_key("tag", k), "value": stringify(v)}
                    for k, v in tags.items()
                ],
            )
        self.db.audit(
            conn,
            actor,
            "registered_model.create",
            "registered_model",
            name,
            {"description": description, "tags": dict(tags or {})},
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = self._model_row(conn, name)
            if row is None:
                raise self._model_not_found(conn, name)
            return self._registered_model(conn, row)

    def list_registered_models(self, name_like: str | None = None) -> list[RegisteredModel]:
        query = sa.select(t.registered_models).order_by(t.registered_models.c.name)
        if name_like:
            query = query.where(t.registered_models.c.name.like(name_like))
        with self.db.read() as conn:
            return [self._registered_model(conn, r) for r in conn.execute(query).all()]

    def update_registered_model(
        self, name: str, *, actor: str, description: str
    ) -> RegisteredModel:
        with self.db.write() as conn:
            self._lock_model(conn, name)
            conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == name)
                .values(description=description, updated_at=now_ms())
            )
            self.db.audit(
                conn,
                actor,
                "registered_model.update",
                "registered_model",
                name,
                {"description": description},
            )
        return self.get_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any, *, actor: str) -> None:
        with self.db.write() as conn:
            self._lock_model(conn, name)
            self.db.upsert(
                conn,
                t.registered_model_tags,
                [{"name": name, "key": check_key("tag", key), "value": stringify(value)}],
                keys=["name", "key"],
                update=["value"],
            )
            self.db.audit(
                conn,
                actor,
                "registered_model.set_tag",
                "registered_model",
                name,
                {"key": key, "value": stringify(value)},
            )

    def delete_registered_model(self, name: str, *, actor: str) -> None:
        """Delete a model and its versions (the audit trail and transitions are kept)."""
        with self.db.write() as conn:
            self._lock_model(conn, name)
            versions = [
                r[0]
                for r in conn.execute(
                    sa.select(t.model_versions.c.version).where(t.model_versions.c.name == name)
                )
            ]
            for table in (
                t.model_version_tags,
                t.model_aliases,
                t.model_versions,
                t.registered_model_tags,
            ):
                conn.execute(table.delete().where(table.c.name == name))
            conn.execute(t.registered_models.delete().where(t.registered_models.c.name == name))
            self.db.audit(
                conn,
                actor,
                "registered_model.delete",
                "registered_model",
                name,
                {"versions": versions},
            )

    # -- versions ---------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        actor: str,
        artifact_uri: str,
        flavor: str,
        run_id: str | None = None,
        source: str = "",
        signature: Mapping[str, Any] | None = None,
        files: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        stage: str | None = None,
        reason: str = "",
        transitions: list[StageTransition] | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` (creating the registered model if needed).

        With ``stage``, the new version is also moved to that stage (archiving the previous
        holder) in the SAME transaction: it is never left registered but not promoted. The
        transitions written are appended to ``transitions`` when a list is given."""
        check_model_name(name)
        target = check_stage(stage) if stage is not None else None
        with self.db.write() as conn:
            ts0 = now_ms()
            new_model = {"name": name, "description": "", "created_at": ts0, "updated_at": ts0}
            if self.db.insert_if_absent(conn, t.registered_models, new_model, ["name"]):
                self.db.audit(
                    conn,
                    actor,
                    "registered_model.create",
                    "registered_model",
                    name,
                    {"description": "", "tags": {}},
                )
            self._model_row(conn, name, lock=True)  # serialize version numbering per model
            version = (
                conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.name == name
                    )
                ).scalar()
                or 0
            ) + 1
            ts = now_ms()
            conn.execute(
                t.model_versions.insert().values(
                    name=name,
                    version=version,
                    run_id=run_id,
                    artifact_uri=artifact_uri,
                    source=source,
                    flavor=flavor,
                    stage=None,
                    description=description,
                    signature=dict(signature or {}),
                    files=dict(files or {}),
                    metrics={k: v for k, v in (metrics or {}).items() if not math.isnan(v)},
                    created_at=ts,
                    created_by=actor,
                    updated_at=ts,
                )
            )
            if tags:
                conn.execute(
                    t.model_version_tags.insert(),
                    [
                        {
                            "name": name,
                            "version": version,
                            "key": check_key("tag", k),
                            "value": stringify(v),
                        }
                        for k, v in tags.items()
                    ],
                )
            conn.execute(
                t.registered_models.update()
                .where(t.registered_models.c.name == name)
                .values(updated_at=ts)
            )
            if run_id is not None:
                self.db.add_edge(
                    conn,
                    LineageNode("run", run_id),
                    LineageNode("model_version", f"{name}/{version}"),
                    "registered",
                )
            self.db.audit(
                conn,
                actor,
                "model_version.create",
                "model_version",
                f"{name}/{version}",
                {
                    "run_id": run_id,
                    "artifact_uri": artifact_uri,
                    "flavor": flavor,
                    "source": source,
                },
            )
            if target is not None:
                moves = self._moves(conn, name, version, None, target, archive_previous=True)
                ids = [
                    self._move(conn, name, n, old, new, actor, reason, ts) for n, old, new in moves
                ]
        if target is not None and transitions is not None:
            transitions.extend(self.get_stage_history(name, transition_ids=ids))
        return self.get_model_version(name, version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        number = _version_number(version)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(t.model_versions).where(
                    t.model_versions.c.name == name, t.model_versions.c.version == number
                )
            ).first()
            if row is None:
                if self._model_row(conn, name) is None:
                    raise self._model_not_found(conn, name)
                latest = conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.name == name
                    )
                ).scalar()
                raise NotFoundError(
                    f"Model {name!r} has no version {number}"
                    + (
                        f"; its versions are 1..{latest}."
                        if latest
                        else "; it has no versions yet."
                    ),
                    name=name,
                    version=number,
                )
            return self._versions(conn, [row])[0]

    def list_model_versions(self, name: str, stage: str | None = None) -> list[ModelVersion]:
        query = sa.select(t.model_versions).where(t.model_versions.c.name == name)
        if stage is not None:
            query = query.where(t.model_versions.c.stage == check_stage(stage))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.model_versions.c.version)).all()
            if not rows and self._model_row(conn, name) is None:
                raise self._model_not_found(conn, name)
            return self._versions(conn, rows)

    def update_model_version(
        self, name: str, version: int | str, *, actor: str, description: str
    ) -> ModelVersion:
        number = _version_number(version)
        self.get_model_version(name, number)
        with self.db.write() as conn:
            conn.execute(
                t.model_versions.update()
                .where(t.model_versions.c.name == name, t.model_versions.c.version == number)
                .values(description=description, updated_at=now_ms())
            )
            self.db.audit(
                conn,
                actor,
                "model_version.update",
                "model_version",
                f"{name}/{number}",
                {"description": description},
            )
        return self.get_model_version(name, number)

    def set_model_version_tag(
        self, name: str, version: int | str, key: str, value: Any, *, actor: str
    ) -> None:
        number = _version_number(version)
        self.get_model_version(name, number)
        with self.db.write() as conn:
            self.db.upsert(
                conn,
                t.model_version_tags,
                [
                    {
                        "name": name,
                        "version": number,
                        "key": check_key("tag", key),
                        "value": stringify(value),
                    }
                ],
                keys=["name", "version", "key"],
                update=["value"],
            )
            self.db.audit(
                conn,
                actor,
                "model_version.set_tag",
                "model_version",
                f"{name}/{number}",
                {"key": key, "value": stringify(value)},
            )

    # -- aliases and stages -----------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str, *, actor: str) -> None:
        check_alias(alias)
        number = _version_number(version)
        self.get_model_version(name, number)
        with self.db.write() as conn:
            self._lock_model(conn, name)
            previous = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).scalar()
            self.db.upsert(
                conn,
                t.model_aliases,
                [{"name": name, "alias": alias, "version": number}],
                keys=["name", "alias"],
                update=["version"],
            )
            self.db.audit(
                conn,
                actor,
                "alias.set",
                "registered_model",
                name,
                {"alias": alias, "version": number, "previous_version": previous},
            )

    def delete_alias(self, name: str, alias: str, *, actor: str) -> None:
        with self.db.write() as conn:
            self._lock_model(conn, name)
            done = conn.execute(
                t.model_aliases.delete().where(
                    t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                )
            ).rowcount
            if not done:
                raise NotFoundError(
                    f"Model {name!r} has no alias {alias!r}.", name=name, alias=alias
                )
            self.db.audit(conn, actor, "alias.delete", "registered_model", name, {"alias": alias})

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias or stage points at (``latest``: the newest version)."""
        key = alias.lower()
        with self.db.read() as conn:
            if key == "latest":
                number = conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        t.model_versions.c.name == name
                    )
                ).scalar()
            elif key in {s.value for s in Stage}:
                number = self._stage_holder(conn, name, key)
            else:
                number = conn.execute(
                    sa.select(t.model_aliases.c.version).where(
                        t.model_aliases.c.name == name, t.model_aliases.c.alias == alias
                    )
                ).scalar()
            if number is None:
                if self._model_row(conn, name) is None:
                    raise self._model_not_found(conn, name)
                known = sorted(self._aliases(conn, name))
                raise NotFoundError(
                    f"Model {name!r} has no version at {alias!r}. "
                    + (
                        f"Its aliases: {', '.join(known)}."
                        if known
                        else "It has no aliases yet; "
                        f"promote a version with `modelyard models promote {name} VERSION production`."
                    ),
                    name=name,
                    alias=alias,
                )
        return self.get_model_version(name, number)

    @staticmethod
    def _stage_holder(conn: Connection, name: str, stage: str) -> int | None:
        if stage == Stage.ARCHIVED.value:  # many versions may be archived: the latest archived
            return conn.execute(
                sa.select(t.stage_transitions.c.version)
                .where(
                    t.stage_transitions.c.name == name,
                    t.stage_transitions.c.to_stage == stage,
                    t.stage_transitions.c.version.in_(
                        sa.select(t.model_versions.c.version).where(
                            t.model_versions.c.name == name, t.model_versions.c.stage == stage
                        )
                    ),
                )
                .order_by(t.stage_transitions.c.id.desc())
                .limit(1)
            ).scalar()
        return conn.execute(
            sa.select(t.model_versions.c.version).where(
                t.model_versions.c.name == name, t.model_versions.c.stage == stage
            )
        ).scalar()

    def transition_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        *,
        actor: str,
        reason: str = "",
        archive_previous: bool = True,
    ) -> list[StageTransition]:
        """Move ``version`` to ``stage``; the previous holder of staging/production is archived.

        Returns the transitions written (the previous holder's first), all in one transaction.
        """
        target = check_stage(stage)
        number = _version_number(version)
        with self.db.write() as conn:
            self._lock_model(conn, name)
            current = conn.execute(
                sa.select(t.model_versions.c.stage).where(
                    t.model_versions.c.name == name, t.model_versions.c.version == number
                )
            ).first()
            if current is None:
                raise NotFoundError(
                    f"Model {name!r} has no version {number}.", name=name, version=number
                )
            moves = self._moves(conn, name, number, current.stage, target, archive_previous)
            ts = now_ms()  # one instant: the old holder leaves as the new one arrives
            ids = [self._move(conn, name, v, old, new, actor, reason, ts) for v, old, new in moves]
        return self.get_stage_history(name, transition_ids=ids)

    def _moves(
        self,
        conn: Connection,
        name: str,
        version: int,
        current: str | None,
        target: str,
        archive_previous: bool,
    ) -> list[tuple[int, str | None, str]]:
        """(version, from, to) moves that put ``version`` in ``target``: the previous holder of
        an exclusive stage is archived first."""
        moves: list[tuple[int, str | None, str]] = []
        if target in _EXCLUSIVE_STAGES and archive_previous:
            holder = self._stage_holder(conn, name, target)
            if holder is not None and holder != version:
                moves.append((holder, target, Stage.ARCHIVED.value))
        if current != target:
            moves.append((version, current, target))
        return moves

    def _move(
        self,
        conn: Connection,
        name: str,
        version: int,
        old: str | None,
        new: str,
        actor: str,
        reason: str,
        ts: int,
    ) -> int:
        conn.execute(
            t.model_versions.update()
            .where(t.model_versions.c.name == name, t.model_versions.c.version == version)
            .values(stage=new, updated_at=ts)
        )
        transition_id = conn.execute(
            t.stage_transitions.insert().values(
                name=name,
                version=version,
                from_stage=old,
                to_stage=new,
                actor=actor,
                timestamp=ts,
                reason=reason,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        self.db.audit(
            conn,
            actor,
            "model_version.transition",
            "model_version",
            f"{name}/{version}",
            {"from": old, "to": new, "reason": reason},
        )
        return int(transition_id)

    def get_stage_history(
        self,
        name: str,
        *,
        stage: str | None = None,
        version: int | None = None,
        transition_ids: Sequence[int] | None = None,
    ) -> list[StageTransition]:
        """Transitions in the order they happened (filtered by stage entered/left or version)."""
        query = sa.select(t.stage_transitions).where(t.stage_transitions.c.name == name)
        if stage is not None:
            s = check_stage(stage)
            query = query.where(
                sa.or_(t.stage_transitions.c.to_stage == s, t.stage_transitions.c.from_stage == s)
            )
        if version is not None:
            query = query.where(t.stage_transitions.c.version == version)
        if transition_ids is not None:
            query = query.where(t.stage_transitions.c.id.in_(list(transition_ids)))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.stage_transitions.c.id)).all()
            if not rows and transition_ids is None and not self._known_name(conn, name):
                raise self._model_not_found(conn, name)
        return [
            StageTransition(
                r.id, r.name, r.version, r.from_stage, r.to_stage, r.actor, r.timestamp, r.reason
            )
            for r in rows
        ]

    # -- webhooks ---------------------------------------------------------------------------
    def create_webhook(
        self, url: str, secret: str, *, actor: str, model_name: str | None = None
    ) -> Webhook:
        if not url.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"Webhook URL {url!r} must start with http:// or https://.", field="url"
            )
        with self.db.write() as conn:
            ts = now_ms()
            hook_id = conn.execute(
                t.webhooks.insert().values(
                    url=url, secret=secret, model_name=model_name, created_at=ts
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            self.db.audit(
                conn,
                actor,
                "webhook.create",
                "webhook",
                str(hook_id),
                {"url": url, "model_name": model_name},
            )
        return Webhook(int(hook_id), url, secret, model_name, ts)

    def list_webhooks(self, model_name: str | None = None) -> list[Webhook]:
        query = sa.select(t.webhooks).order_by(t.webhooks.c.id)
        if model_name is not None:
            query = query.where(
                sa.or_(t.webhooks.c.model_name.is_(None), t.webhooks.c.model_name == model_name)
            )
        with self.db.read() as conn:
            return [
                Webhook(r.id, r.url, r.secret, r.model_name, r.created_at)
                for r in conn.execute(query)
            ]

    def delete_webhook(self, webhook_id: int, *, actor: str) -> None:
        with self.db.write() as conn:
            if not conn.execute(t.webhooks.delete().where(t.webhooks.c.id == webhook_id)).rowcount:
                raise NotFoundError(f"No webhook with id {webhook_id}.", webhook_id=webhook_id)
            self.db.audit(conn, actor, "webhook.delete", "webhook", str(webhook_id), {})

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _model_row(conn: Connection, name: str, lock: bool = False) -> Any:
        query = sa.select(t.registered_models).where(t.registered_models.c.name == name)
        if lock:
            query = query.with_for_update()
        return conn.execute(query).first()

    def _known_name(self, conn: Connection, name: str) -> bool:
        """Registered now, or deleted with its history kept."""
        if self._model_row(conn, name) is not None:
            return True
        history = sa.select(t.stage_transitions.c.id).where(t.stage_transitions.c.name == name)
        return conn.execute(history.limit(1)).first() is not None

    def _lock_model(self, conn: Connection, name: str) -> None:
        if self._model_row(conn, name, lock=True) is None:
            raise self._model_not_found(conn, name)

    @staticmethod
    def _model_not_found(conn: Connection, name: str) -> NotFoundError:
        names = [r[0] for r in conn.execute(sa.select(t.registered_models.c.name))]
        return NotFoundError(
            f"No registered model named {name!r}{suggest(name, names)}. "
            "List them with `modelyard models list`.",
            name=name,
        )

    @staticmethod
    def _aliases(conn: Connection, name: str) -> dict[str, int]:
        aliases = dict(
            conn.execute(
                sa.select(t.model_aliases.c.alias, t.model_aliases.c.version).where(
                    t.model_aliases.c.name == name
                )
            ).all()
        )
        for version, stage in conn.execute(
            sa.select(t.model_versions.c.version, t.model_versions.c.stage).where(
                t.model_versions.c.name == name, t.model_versions.c.stage.in_(_EXCLUSIVE_STAGES)
            )
        ):
            aliases[stage] = version
        return aliases

    def _registered_model(self, conn: Connection, row: Any) -> RegisteredModel:
        tags = dict(
            conn.execute(
                sa.select(t.registered_model_tags.c.key, t.registered_model_tags.c.value).where(
                    t.registered_model_tags.c.name == row.name
                )
            ).all()
        )
        latest = conn.execute(
            sa.select(sa.func.max(t.model_versions.c.version)).where(
                t.model_versions.c.name == row.name
            )
        ).scalar()
        return RegisteredModel(
            row.name,
            row.description,
            row.created_at,
            row.updated_at,
            tags,
            self._aliases(conn, row.name),
            latest,
        )

    def _versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        if not rows:
            return []
        name = rows[0].name
        tags: dict[int, dict[str, str]] = {}
        for v, k, val in conn.execute(
            sa.select(
                t.model_version_tags.c.version,
                t.model_version_tags.c.key,
                t.model_version_tags.c.value,
            ).where(t.model_version_tags.c.name == name)
        ):
            tags.setdefault(v, {})[k] = val
        by_version: dict[int, list[str]] = {}
        for alias, version in self._aliases(conn, name).items():
            by_version.setdefault(version, []).append(alias)
        return [
            ModelVersion(
                name=r.name,
                version=r.version,
                artifact_uri=r.artifact_uri,
                flavor=r.flavor,
                created_at=r.created_at,
                created_by=r.created_by,
                run_id=r.run_id,
                source=r.source,
                stage=r.stage,
                description=r.description,
                signature=r.signature or {},
                files=r.files or {},
                metrics=r.metrics or {},
                tags=tags.get(r.version, {}),
                aliases=tuple(sorted(by_version.get(r.version, []))),
            )
            for r in rows
        ]


def _version_number(version: int | str) -> int:
    try:
        number = int(version)
        if number < 1:
            raise ValueError(number)
        return number
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Invalid model version {version!r}: versions are positive integers (1, 2, ...); "
            "for an alias use models:/NAME@ALIAS.",
            field="version",
            value=str(version),
        ) from exc
