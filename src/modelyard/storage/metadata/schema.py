"""Table definitions (SQLAlchemy Core). Alembic migrations create exactly these; a test compares.

Times are milliseconds since the epoch (BIGINT), as in MLflow, so both dialects sort and compare
them the same way.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ms = sa.BigInteger

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("artifact_location", sa.String(1024), nullable=False),
    sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", _ms, nullable=False),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(8000), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id", sa.Integer, sa.ForeignKey("experiments.experiment_id"), nullable=False
    ),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", _ms, nullable=False),
    sa.Column("end_time", _ms),
    sa.Column("user", sa.String(256), nullable=False),
    sa.Column("artifact_uri", sa.String(1024), nullable=False),
    sa.Column("parent_run_id", sa.String(32)),
    sa.Column("code_version", sa.String(64)),
    sa.Column("source", sa.String(1024)),
    sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_parent", "parent_run_id"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(6000), nullable=False),
    sa.Index("ix_params_key_run", "key", "run_id"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(8000), nullable=False),
    sa.Index("ix_run_tags_key_run", "key", "run_id"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Column("value", sa.Float(precision=53)),  # NULL stores NaN
    # Covering index: a metric's history is one index range scan, never a table lookup.
    sa.Index("ix_metrics_history", "run_id", "key", "step", "timestamp", "value", "id"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float(precision=53)),  # NULL stores NaN
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("context", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("source", sa.String(2048), nullable=False),
    sa.Column("num_rows", sa.BigInteger),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Index("ix_run_inputs_digest", "digest"),
)

artifact_files = sa.Table(
    "artifact_files",
    metadata,
    sa.Column(
        "run_id", sa.String(32), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
)

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.String(5000), nullable=False, server_default=""),
    sa.Column("created_at", _ms, nullable=False),
    sa.Column("updated_at", _ms, nullable=False),
)

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    sa.Column(
        "name",
        sa.String(128),
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(5000), nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "name",
        sa.String(128),
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(32)),
    sa.Column("artifact_uri", sa.String(1024), nullable=False),
    sa.Column("source", sa.String(1024), nullable=False, server_default=""),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("stage", sa.String(32)),
    sa.Column("description", sa.String(5000), nullable=False, server_default=""),
    sa.Column("signature", sa.JSON, nullable=False),
    sa.Column("files", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("created_at", _ms, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("updated_at", _ms, nullable=False),
    sa.Index("ix_model_versions_run", "run_id"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.String(5000), nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column(
        "name",
        sa.String(128),
        sa.ForeignKey("registered_models.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

stage_transitions = sa.Table(
    "stage_transitions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("from_stage", sa.String(32)),
    sa.Column("to_stage", sa.String(32)),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Column("reason", sa.String(5000), nullable=False, server_default=""),
    sa.Index("ix_stage_transitions_name_ts", "name", "timestamp"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(256), nullable=False),
    sa.Column("model_name", sa.String(128)),
    sa.Column("created_at", _ms, nullable=False),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("object_type", sa.String(64), nullable=False),
    sa.Column("object_id", sa.String(512), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_audit_object", "object_type", "object_id"),
    sa.Index("ix_audit_timestamp", "timestamp"),
)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("source_kind", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(512), nullable=False),
    sa.Column("target_kind", sa.String(64), nullable=False),
    sa.Column("target_id", sa.String(512), nullable=False),
    sa.Column("relation", sa.String(64), nullable=False),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.UniqueConstraint(
        "source_kind", "source_id", "target_kind", "target_id", "relation", name="uq_lineage_edge"
    ),
    sa.Index("ix_lineage_target", "target_kind", "target_id"),
)

# -- feature store (migration 0002) --------------------------------------------------------------
feature_definitions = sa.Table(
    "feature_definitions",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", _ms, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
)

feature_materializations = sa.Table(
    "feature_materializations",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("view", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("start_ts", _ms, nullable=False),
    sa.Column("end_ts", _ms, nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("created_at", _ms, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Index("ix_feature_materializations_view", "view", "id"),
)

# -- monitoring (migration 0003) -----------------------------------------------------------------
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")

monitors = sa.Table(
    "monitors",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", _ms, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
)

monitor_state = sa.Table(
    "monitor_state",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("deleted_at", _ms),
    sa.Column("last_check_at", _ms),
    sa.Column("last_retrain_at", _ms),
)

monitor_checks = sa.Table(
    "monitor_checks",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(128), nullable=False),
    sa.Column("monitor_version", sa.Integer, nullable=False),
    sa.Column("started_at", _ms, nullable=False),
    sa.Column("finished_at", _ms, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("model_version", sa.Integer),
    sa.Column("window_start", _ms),
    sa.Column("window_end", _ms),
    sa.Column("n_predictions", sa.BigInteger, nullable=False),
    sa.Column("n_labelled", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("drift", sa.JSON, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_monitor_checks_monitor", "monitor", "id"),
)

monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(128), nullable=False),
    sa.Column("rule", sa.String(256), nullable=False),
    sa.Column("metric", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("opened_at", _ms, nullable=False),
    sa.Column("last_seen_at", _ms, nullable=False),
    sa.Column("resolved_at", _ms),
    sa.Column("occurrences", sa.Integer, nullable=False),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("threshold", sa.Float(precision=53), nullable=False),
    sa.Column("op", sa.String(4), nullable=False),
    sa.Column("message", sa.String(2000), nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("model_version", sa.Integer),
    sa.Column("open_check_id", sa.BigInteger, nullable=False),
    sa.Column("last_check_id", sa.BigInteger, nullable=False),
    sa.Column("resolve_check_id", sa.BigInteger),
    sa.Index("ix_monitor_alerts_monitor_status", "monitor", "status", "rule"),
    sa.Index("ix_monitor_alerts_status", "status", "id"),
)

alert_notifications = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("monitor_alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("sink", sa.String(32), nullable=False),
    sa.Column("target", sa.String(2048), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("detail", sa.String(2000), nullable=False),
    sa.Column("timestamp", _ms, nullable=False),
    sa.Index("ix_alert_notifications_alert", "alert_id", "id"),
)

monitor_retrains = sa.Table(
    "monitor_retrains",
    metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(128), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("alert_id", sa.BigInteger),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("started_at", _ms, nullable=False),
    sa.Column("finished_at", _ms),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("champion_version", sa.Integer),
    sa.Column("challenger_version", sa.Integer),
    sa.Column("metric", sa.String(128), nullable=False),
    sa.Column("champion_value", sa.Float(precision=53)),
    sa.Column("challenger_value", sa.Float(precision=53)),
    sa.Column("n_rows", sa.BigInteger),
    sa.Column("reason", sa.String(5000), nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Index("ix_monitor_retrains_monitor", "monitor", "id"),
)
