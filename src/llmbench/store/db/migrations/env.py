"""Alembic's entry point: runs the migrations on the connection `store.db.database.migrate`
hands over (already in its write transaction), never on one of its own."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection)  # only ever run through database.migrate
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
