"""Core schema: tracking, registry, audit, lineage.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=512), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_object", "audit_events", ["object_type", "object_id"], unique=False)
    op.create_index("ix_audit_timestamp", "audit_events", ["timestamp"], unique=False)
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("artifact_location", sa.String(length=1024), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "lineage_edges",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source_kind", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("target_kind", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=512), nullable=False),
        sa.Column("relation", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "source_kind",
            "source_id",
            "target_kind",
            "target_id",
            "relation",
            name="uq_lineage_edge",
        ),
    )
    op.create_index(
        "ix_lineage_target", "lineage_edges", ["target_kind", "target_id"], unique=False
    )
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=5000), server_default="", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "stage_transitions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=5000), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_stage_transitions_name_ts", "stage_transitions", ["name", "timestamp"], unique=False
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "alias"),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("artifact_uri", sa.String(length=1024), nullable=False),
        sa.Column("source", sa.String(length=1024), server_default="", nullable=False),
        sa.Column("flavor", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=5000), server_default="", nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"], unique=False)
    op.create_table(
        "registered_model_tags",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        sa.ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "key"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("user", sa.String(length=256), nullable=False),
        sa.Column("artifact_uri", sa.String(length=1024), nullable=False),
        sa.Column("parent_run_id", sa.String(length=32), nullable=True),
        sa.Column("code_version", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=1024), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=16), server_default="active", nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
        ),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index(
        "ix_runs_experiment_start", "runs", ["experiment_id", "start_time"], unique=False
    )
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"], unique=False)
    op.create_table(
        "artifact_files",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "path"),
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"], unique=False)
    op.create_table(
        "metrics",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_metrics_history",
        "metrics",
        ["run_id", "key", "step", "timestamp", "value", "id"],
        unique=False,
    )
    op.create_table(
        "model_version_tags",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=5000), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", "key"),
    )
    op.create_table(
        "params",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=6000), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_params_key_run", "params", ["key", "run_id"], unique=False)
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("context", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=True),
        sa.Column("schema", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "digest", "context"),
    )
    op.create_index("ix_run_inputs_digest", "run_inputs", ["digest"], unique=False)
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=8000), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key"),
    )
    op.create_index("ix_run_tags_key_run", "run_tags", ["key", "run_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_run_tags_key_run", table_name="run_tags")
    op.drop_table("run_tags")
    op.drop_index("ix_run_inputs_digest", table_name="run_inputs")
    op.drop_table("run_inputs")
    op.drop_index("ix_params_key_run", table_name="params")
    op.drop_table("params")
    op.drop_table("model_version_tags")
    op.drop_index("ix_metrics_history", table_name="metrics")
    op.drop_table("metrics")
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.drop_table("latest_metrics")
    op.drop_table("artifact_files")
    op.drop_index("ix_runs_parent", table_name="runs")
    op.drop_index("ix_runs_experiment_start", table_name="runs")
    op.drop_table("runs")
    op.drop_table("registered_model_tags")
    op.drop_index("ix_model_versions_run", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("model_aliases")
    op.drop_table("experiment_tags")
    op.drop_table("webhooks")
    op.drop_index("ix_stage_transitions_name_ts", table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_table("registered_models")
    op.drop_index("ix_lineage_target", table_name="lineage_edges")
    op.drop_table("lineage_edges")
    op.drop_table("experiments")
    op.drop_index("ix_audit_timestamp", table_name="audit_events")
    op.drop_index("ix_audit_object", table_name="audit_events")
    op.drop_table("audit_events")
