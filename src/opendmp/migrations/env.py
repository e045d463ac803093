"""Alembic environment: the connection comes from opendmp.migrate (admin URL when given)."""

from __future__ import annotations

from alembic import context

from opendmp.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `opendmp db upgrade`")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
