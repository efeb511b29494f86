"""The Alembic migrations create exactly the tables of schema.py, and SCHEMA_HEAD is the head."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelyard.storage.metadata import SCHEMA_HEAD, open_metadata_store
from modelyard.storage.metadata.schema import metadata


def test_schema_head_is_the_newest_revision() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "modelyard.storage.metadata:migrations")
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert heads == [SCHEMA_HEAD], "one head only: chain new migrations after the current head"


def test_migrated_database_matches_schema(metadata_uri: str) -> None:
    store = open_metadata_store(metadata_uri)
    try:
        with store.db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, metadata)
        assert diff == [], f"schema.py and the migrations disagree: {diff}"
        assert store.db.current_revision() == SCHEMA_HEAD
    finally:
        store.close()


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    open_metadata_store(uri).close()
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE marker (x INTEGER)"))
    open_metadata_store(uri).close()  # would fail on "table exists" if it re-ran migrations
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("marker")
