"""Experiments, runs, params, tags, metrics, dataset inputs and artifact records."""

from __future__ import annotations

import base64
import functools
import json
import math
import operator
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelyard.entities import (
    ArtifactFile,
    DatasetInput,
    Experiment,
    LifecycleStage,
    LineageNode,
    Metric,
    PagedList,
    Run,
    RunStatus,
    now_ms,
)
from modelyard.entities.search import parse_filter, parse_order_by
from modelyard.entities.validation import (
    MAX_PARAM_VALUE,
    MAX_TAG_VALUE,
    check_key,
    check_value_length,
    stringify,
    to_int,
    to_metric_value,
)
from modelyard.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from modelyard.storage.metadata import schema as t
from modelyard.storage.metadata.database import Database
from modelyard.storage.metadata.search import compile_filter, compile_order_by

__all__ = ["TrackingStore"]

MAX_RESULTS_LIMIT = 50_000
_CHUNK = 500


_new_metric = functools.partial(tuple.__new__, Metric)
_value_of = operator.itemgetter(1)


def _null_to_nan(value: float | None) -> float:
    return math.nan if value is None else value


class TrackingStore:
    """Reads and writes tracking entities. Every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        mark = "?" if db.dialect == "sqlite" else "%s"
        self._sql = {
            "insert_metric": "INSERT INTO metrics (run_id, key, step, timestamp, value) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
            "upsert_latest": "INSERT INTO latest_metrics (run_id, key, step, timestamp, value) "
            f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) ON CONFLICT (run_id, key) DO UPDATE "
            "SET value = excluded.value, step = excluded.step, timestamp = excluded.timestamp "
            "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
            "AND excluded.timestamp >= latest_metrics.timestamp)",
            "run_exists": f"SELECT 1 FROM runs WHERE run_id = {mark}",
            "history": f"SELECT key, value, step, timestamp FROM metrics "
            f"WHERE run_id = {mark} AND key = {mark} ORDER BY step, timestamp",
        }

    # -- experiments ------------------------------------------------------------------------
    def create_experiment(
        self, name: str, artifact_root: str, tags: Mapping[str, Any] | None = None
    ) -> Experiment:
        if not name or not isinstance(name, str) or len(name) > 256:
            raise InvalidArgumentError(
                f"Invalid experiment name {name!r}: use 1-256 characters.", field="name"
            )
        with self.db.write() as conn:
            exists = conn.execute(
                sa.select(t.experiments.c.experiment_id).where(t.experiments.c.name == name)
            ).first()
            if exists:
                raise AlreadyExistsError(f"Experiment {name!r} already exists.", name=name)
            exp_id = conn.execute(
                t.experiments.insert().values(
                    name=name,
                    artifact_location="",
                    created_at=now_ms(),
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            location = f"{artifact_root.rstrip('/')}/{exp_id}"
            conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == exp_id)
                .values(artifact_location=location)
            )
            if tags:
                conn.execute(
                    t.experiment_tags.insert(),
                    [
                        {"experiment_id": exp_id, "key": check_key("tag", k), "value": stringify(v)}
                        for k, v in tags.items()
                    ],
                )
        return self.get_experiment(str(exp_id))

    def get_experiment(self, experiment_id: str) -> Experiment:
        exp = self._find_experiment(t.experiments.c.experiment_id == _exp_id(experiment_id))
        if exp is None:
            raise NotFoundError(
                f"No experiment with id {experiment_id!r}.", experiment_id=experiment_id
            )
        return exp

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self._find_experiment(t.experiments.c.name == name)

    def _find_experiment(self, where: Any) -> Experiment | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.experiments).where(where)).first()
            if row is None:
                return None
            tags = self._experiment_tags(conn, [row.experiment_id])
        return _experiment(row, tags.get(row.experiment_id, {}))

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        query = sa.select(t.experiments).order_by(t.experiments.c.experiment_id)
        if not include_deleted:
            query = query.where(t.experiments.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            tags = self._experiment_tags(conn, [r.experiment_id for r in rows])
        return [_experiment(r, tags.get(r.experiment_id, {})) for r in rows]

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        with self.db.write() as conn:
            self.db.upsert(
                conn,
                t.experiment_tags,
                [
                    {
                        "experiment_id": _exp_id(experiment_id),
                        "key": check_key("tag", key),
                        "value": stringify(value),
                    }
                ],
                keys=["experiment_id", "key"],
                update=["value"],
            )

    def delete_experiment(self, experiment_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                t.experiments.update()
                .where(t.experiments.c.experiment_id == _exp_id(experiment_id))
                .values(lifecycle_stage=LifecycleStage.DELETED.value)
            ).rowcount
        if not done:
            raise NotFoundError(f"No experiment with id {experiment_id!r}.")

    @staticmethod
    def _experiment_tags(conn: Connection, ids: list[int]) -> dict[int, dict[str, str]]:
        out: dict[int, dict[str, str]] = {}
        if not ids:
            return out
        rows = conn.execute(
            sa.select(t.experiment_tags).where(t.experiment_tags.c.experiment_id.in_(ids))
        )
        for row in rows:
            out.setdefault(row.experiment_id, {})[row.key] = row.value
        return out

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        name: str,
        user: str,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        code_version: str | None = None,
        source: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        exp = self.get_experiment(experiment_id)
        if exp.lifecycle_stage != LifecycleStage.ACTIVE:
            raise ConflictError(f"Experiment {exp.name!r} is deleted; restore it or use another.")
        run_id = uuid.uuid4().hex
        row = {
            "run_id": run_id,
            "experiment_id": int(exp.experiment_id),
            "name": name[:256],
            "status": RunStatus.RUNNING.value,
            "start_time": start_time or now_ms(),
            "end_time": None,
            "user": user,
            "artifact_uri": f"{exp.artifact_location}/{run_id}/artifacts",
            "parent_run_id": parent_run_id,
            "code_version": code_version,
            "source": source,
            "lifecycle_stage": LifecycleStage.ACTIVE.value,
        }
        tag_rows = [
            {
                "run_id": run_id,
                "key": check_key("tag", k),
                "value": check_value_length("tag", k, stringify(v), MAX_TAG_VALUE),
            }
            for k, v in (tags or {}).items()
        ]
        with self.db.write() as conn:
            if parent_run_id is not None:
                self._require_run(conn, parent_run_id)
            conn.execute(t.runs.insert().values(**row))
            if tag_rows:
                conn.execute(t.run_tags.insert(), tag_rows)
        return self.get_run(run_id)

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if status is not None:
            try:
                values["status"] = RunStatus(str(status).upper()).value
            except ValueError as exc:
                raise InvalidArgumentError(
                    f"Invalid run status {status!r}; use one of "
                    f"{', '.join(s.value for s in RunStatus)}.",
                    field="status",
                ) from exc
        if end_time is not None:
            values["end_time"] = end_time
        if name is not None:
            values["name"] = name[:256]
        if not values:
            return
        with self.db.write() as conn:
            if not conn.execute(
                t.runs.update().where(t.runs.c.run_id == run_id).values(**values)
            ).rowcount:
                raise _run_not_found(run_id)

    def delete_run(self, run_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                t.runs.update()
                .where(t.runs.c.run_id == run_id)
                .values(lifecycle_stage=LifecycleStage.DELETED.value)
            ).rowcount
        if not done:
            raise _run_not_found(run_id)

    def get_run(self, run_id: str) -> Run:
        with self.db.read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.run_id == run_id)).first()
            if row is None:
                raise _run_not_found(run_id)
            return self._hydrate(conn, [row])[0]

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if (
            conn.execute(sa.select(t.runs.c.run_id).where(t.runs.c.run_id == run_id)).first()
            is None
        ):
            raise _run_not_found(run_id)

    # -- params and tags --------------------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log params. A param is immutable: logging a different value for a key is an error."""
        rows = {
            check_key("param", k): check_value_length("param", k, stringify(v), MAX_PARAM_VALUE)
            for k, v in params.items()
        }
        if not rows:
            return
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            existing = dict(
                conn.execute(
                    sa.select(t.params.c.key, t.params.c.value).where(
                        t.params.c.run_id == run_id, t.params.c.key.in_(list(rows))
                    )
                ).all()
            )
            for key, old in existing.items():
                if old != rows[key]:
                    raise ConflictError(
                        f"Param {key!r} of run {run_id} is already {old!r}; cannot change it to "
                        f"{rows[key]!r}. Params are immutable: log a new run or use a tag.",
                        key=key,
                        old=old,
                        new=rows[key],
                    )
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in rows.items()
                if k not in existing
            ]
            if new:
                conn.execute(t.params.insert(), new)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        rows = [
            {
                "run_id": run_id,
                "key": check_key("tag", k),
                "value": check_value_length("tag", k, stringify(v), MAX_TAG_VALUE),
            }
            for k, v in tags.items()
        ]
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            self.db.upsert(conn, t.run_tags, rows, keys=["run_id", "key"], update=["value"])

    def delete_tag(self, run_id: str, key: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                t.run_tags.delete().where(t.run_tags.c.run_id == run_id, t.run_tags.c.key == key)
            ).rowcount
        if not done:
            raise NotFoundError(f"Run {run_id} has no tag {key!r}.", run_id=run_id, key=key)

    # -- metrics ----------------------------------------------------------------------------
    def log_metric(
        self, run_id: str, key: str, value: Any, step: int = 0, timestamp: int | None = None
    ) -> None:
        """One point, one short transaction (two statements)."""
        self.log_metrics(run_id, [Metric(key, value, step, timestamp or now_ms())])

    def log_metrics(self, run_id: str, points: Iterable[Metric]) -> int:
        """Log many points in ONE transaction. Returns how many were written.

        This is the hot path of tracking, so it hands tuples straight to the DBAPI cursor's
        ``executemany`` (SQLAlchemy's per-statement machinery costs more than SQLite itself here)
        and updates ``latest_metrics`` once per key, not once per point.
        """
        rows: list[tuple[Any, ...]] = []
        latest: dict[str, tuple[Any, ...]] = {}
        default_ts = now_ms()
        append, current = rows.append, latest.get
        for key, value, step, ts in points:  # Metric is a named tuple: unpacking is cheapest
            cur = current(key)
            if cur is None:
                check_key("metric", key)
            if type(value) is not float:
                value = to_metric_value(key, value)
            if type(step) is not int:
                step = to_int("step", step)
            # NaN is stored as NULL (the self-comparison is the cheapest NaN test)
            row = (run_id, key, step, ts or default_ts, None if value != value else value)  # noqa: PLR0124
            append(row)
            if cur is None or step > cur[2] or (step == cur[2] and row[3] >= cur[3]):
                latest[key] = row
        if not rows:
            return 0
        with self.db.raw_write() as cursor:
            try:
                if self.db.dialect == "postgresql":
                    self._pg_insert_metrics(cursor, rows)
                else:  # the bare SQLite connection checks no foreign keys: check the run once
                    cursor.execute(self._sql["run_exists"], (run_id,))
                    if cursor.fetchone() is None:
                        raise _run_not_found(run_id)
                    cursor.executemany(self._sql["insert_metric"], rows)
            except Exception as exc:
                if "IntegrityError" in {c.__name__ for c in type(exc).__mro__}:
                    raise _run_not_found(run_id) from exc
                raise
            if len(latest) == 1:
                cursor.execute(self._sql["upsert_latest"], next(iter(latest.values())))
            else:
                cursor.executemany(self._sql["upsert_latest"], list(latest.values()))
        return len(rows)

    def _pg_insert_metrics(self, cursor: Any, rows: list[tuple[Any, ...]]) -> None:
        # COPY streams a large batch in one round trip (3-4x executemany on this machine).
        if len(rows) == 1:  # execute() is one round trip; executemany() several
            cursor.execute(self._sql["insert_metric"], rows[0])
            return
        if len(rows) < 64:
            cursor.executemany(self._sql["insert_metric"], rows)
            return
        columns = "run_id, key, step, timestamp, value"
        with cursor.copy(f"COPY metrics ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp (a covering-index scan)."""
        with self.db.read() as conn:
            cursor = conn.connection.cursor()
            cursor.execute(self._sql["history"], (run_id, key))
            rows = cursor.fetchall()
            cursor.close()
            if not rows:
                self._require_run(conn, run_id)
        # Rows come in Metric's field order: build the tuples in C (no per-row Python call).
        points = list(map(_new_metric, rows))
        if None in map(_value_of, points):  # NaN is stored as NULL
            points = [p._replace(value=math.nan) if p.value is None else p for p in points]
        return points

    def get_metric_histories(
        self, run_id: str, keys: Sequence[str] | None = None
    ) -> dict[str, list[Metric]]:
        query = sa.select(
            t.metrics.c.key, t.metrics.c.step, t.metrics.c.timestamp, t.metrics.c.value
        ).where(t.metrics.c.run_id == run_id)
        if keys is not None:
            query = query.where(t.metrics.c.key.in_(list(keys)))
        out: dict[str, list[Metric]] = {}
        with self.db.read() as conn:
            for k, s, ts, v in conn.execute(
                query.order_by(t.metrics.c.key, t.metrics.c.step, t.metrics.c.timestamp)
            ):
                out.setdefault(k, []).append(Metric(k, _null_to_nan(v), s, ts))
        return out

    # -- inputs and artifact records --------------------------------------------------------
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput], actor: str) -> None:
        """Record dataset inputs, and a lineage edge dataset -> run for each."""
        rows = [
            {
                "run_id": run_id,
                "digest": i.digest,
                "context": i.context,
                "name": i.name,
                "source": i.source,
                "num_rows": i.num_rows,
                "schema": dict(i.schema),
            }
            for i in inputs
        ]
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            self.db.upsert(
                conn,
                t.run_inputs,
                rows,
                keys=["run_id", "digest", "context"],
                update=["name", "source", "num_rows", "schema"],
            )
            for i in inputs:
                self.db.add_edge(
                    conn,
                    LineageNode("dataset", i.digest),
                    LineageNode("run", run_id),
                    relation=f"input:{i.context}",
                    details={"name": i.name, "source": i.source},
                )

    def record_artifacts(self, run_id: str, files: Sequence[ArtifactFile]) -> None:
        rows = [
            {"run_id": run_id, "path": f.path, "size": f.size, "sha256": f.sha256} for f in files
        ]
        with self.db.write() as conn:
            self._require_run(conn, run_id)
            self.db.upsert(
                conn, t.artifact_files, rows, keys=["run_id", "path"], update=["size", "sha256"]
            )

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactFile]:
        query = sa.select(t.artifact_files).where(t.artifact_files.c.run_id == run_id)
        if prefix:
            prefix = prefix.rstrip("/")
            query = query.where(
                sa.or_(
                    t.artifact_files.c.path == prefix,
                    t.artifact_files.c.path.startswith(prefix + "/", autoescape=True),
                )
            )
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(t.artifact_files.c.path)).all()
        return [ArtifactFile(r.path, r.size, r.sha256) for r in rows]

    # -- search -----------------------------------------------------------------------------
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> PagedList[Run]:
        """Runs matching ``filter`` (see :mod:`modelyard.entities.search`), one page at a time."""
        if not 1 <= max_results <= MAX_RESULTS_LIMIT:
            raise InvalidArgumentError(
                f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results}.",
                field="max_results",
            )
        offset = _decode_token(page_token)
        where = compile_filter(parse_filter(filter))
        query = sa.select(t.runs)
        if where is not None:
            query = query.where(where)
        if experiment_ids:
            query = query.where(t.runs.c.experiment_id.in_([_exp_id(e) for e in experiment_ids]))
        if not include_deleted:
            query = query.where(t.runs.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
        query = compile_order_by(query, parse_order_by(order_by))
        query = query.limit(max_results + 1).offset(offset)
        with self.db.read() as conn:
            if self.db.dialect == "postgresql" and (where is not None or order_by):
                # Search joins whole tables; with stale statistics (a burst of new runs before
                # autovacuum's ANALYZE) the planner picks nested loops that take seconds. Hash
                # joins are the right plan for these shapes at any size.
                conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
            rows = conn.execute(query).all()
            more = len(rows) > max_results
            runs = self._hydrate(conn, rows[:max_results])
        token = _encode_token(offset + max_results) if more else None
        return PagedList(runs, token)

    def _hydrate(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Attach params, tags, latest metrics and inputs to run rows (4 queries per chunk)."""
        ids = [r.run_id for r in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        inputs: dict[str, list[DatasetInput]] = {i: [] for i in ids}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for table, target in ((t.params, params), (t.run_tags, tags)):
                q = sa.select(table.c.run_id, table.c.key, table.c.value).where(
                    table.c.run_id.in_(chunk)
                )
                for run_id, key, value in conn.execute(q):
                    target[run_id][key] = value
            q = sa.select(
                t.latest_metrics.c.run_id, t.latest_metrics.c.key, t.latest_metrics.c.value
            )
            for run_id, key, value in conn.execute(q.where(t.latest_metrics.c.run_id.in_(chunk))):
                metrics[run_id][key] = _null_to_nan(value)
            for r in conn.execute(sa.select(t.run_inputs).where(t.run_inputs.c.run_id.in_(chunk))):
                inputs[r.run_id].append(
                    DatasetInput(r.name, r.digest, r.source, r.num_rows, r.schema or {}, r.context)
                )
        return [
            Run(
                run_id=r.run_id,
                experiment_id=str(r.experiment_id),
                name=r.name,
                status=RunStatus(r.status),
                start_time=r.start_time,
                end_time=r.end_time,
                user=r.user,
                artifact_uri=r.artifact_uri,
                parent_run_id=r.parent_run_id,
                code_version=r.code_version,
                source=r.source,
                lifecycle_stage=LifecycleStage(r.lifecycle_stage),
                params=params[r.run_id],
                tags=tags[r.run_id],
                metrics=metrics[r.run_id],
                inputs=tuple(inputs[r.run_id]),
            )
            for r in rows
        ]


def _exp_id(experiment_id: Any) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError) as exc:
        raise NotFoundError(
            f"No experiment with id {experiment_id!r} (ids are integers; look experiments up "
            "by name with get_experiment_by_name).",
            experiment_id=str(experiment_id),
        ) from exc


def _experiment(row: Any, tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
        created_at=row.created_at,
        tags=tags,
    )


def _run_not_found(run_id: str) -> NotFoundError:
    return NotFoundError(
        f"No run with id {run_id!r}. List runs with `modelyard runs list`.", run_id=run_id
    )


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        if offset < 0:
            raise ValueError(offset)
        return offset
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(
            f"Invalid page token {token!r}: pass the next_page_token of a previous search.",
            field="page_token",
        ) from exc
