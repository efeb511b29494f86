"""Monitoring: monitor definitions (versioned), check results, alerts and their notifications,
continuous-training attempts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_alerts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("threshold", sa.Float(precision=53), nullable=False),
        sa.Column("op", sa.String(length=4), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("open_check_id", sa.BigInteger(), nullable=False),
        sa.Column("last_check_id", sa.BigInteger(), nullable=False),
        sa.Column("resolve_check_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_monitor_alerts_monitor_status",
        "monitor_alerts",
        ["monitor", "status", "rule"],
        unique=False,
    )
    op.create_index("ix_monitor_alerts_status", "monitor_alerts", ["status", "id"], unique=False)
    op.create_table(
        "monitor_checks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("monitor_version", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.BigInteger(), nullable=True),
        sa.Column("window_end", sa.BigInteger(), nullable=True),
        sa.Column("n_predictions", sa.BigInteger(), nullable=False),
        sa.Column("n_labelled", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("drift", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_monitor_checks_monitor", "monitor_checks", ["monitor", "id"], unique=False)
    op.create_table(
        "monitor_retrains",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("monitor", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("challenger_version", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("champion_value", sa.Float(precision=53), nullable=True),
        sa.Column("challenger_value", sa.Float(precision=53), nullable=True),
        sa.Column("n_rows", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=5000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_monitor_retrains_monitor", "monitor_retrains", ["monitor", "id"], unique=False
    )
    op.create_table(
        "monitor_state",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.Column("last_check_at", sa.BigInteger(), nullable=True),
        sa.Column("last_retrain_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "alert_notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("sink", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=2048), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["monitor_alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_alert_notifications_alert", "alert_notifications", ["alert_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_alert_notifications_alert", table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_table("monitors")
    op.drop_table("monitor_state")
    op.drop_index("ix_monitor_retrains_monitor", table_name="monitor_retrains")
    op.drop_table("monitor_retrains")
    op.drop_index("ix_monitor_checks_monitor", table_name="monitor_checks")
    op.drop_table("monitor_checks")
    op.drop_index("ix_monitor_alerts_status", table_name="monitor_alerts")
    op.drop_index("ix_monitor_alerts_monitor_status", table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
