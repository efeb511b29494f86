"""Alembic environment: migrations run on the connection the store hands over."""

from alembic import context

from modelyard.storage.metadata.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the store runs migrations
    raise RuntimeError("modelyard migrations run through Database.ensure_schema()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
