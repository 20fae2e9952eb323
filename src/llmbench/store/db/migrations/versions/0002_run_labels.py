"""Revision 2: run_labels, one row per (run, label), filled from runs.labels, so filtering by
label is an indexed join on SQLite and PostgreSQL alike.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def _labels(value: Any) -> list[str]:
    if isinstance(value, str):  # a driver that hands JSON back as text
        value = json.loads(value)
    return [str(label) for label in value or []]


def upgrade() -> None:
    run_labels = op.create_table(
        "run_labels",
        sa.Column(
            "run_pk", sa.Integer, sa.ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("label", sa.String(200), primary_key=True, index=True),
    )
    assert run_labels is not None
    runs = sa.table("runs", sa.column("pk", sa.Integer), sa.column("labels", sa.JSON))
    connection = op.get_bind()
    rows = [
        {"run_pk": pk, "label": label}
        for pk, labels in connection.execute(sa.select(runs.c.pk, runs.c.labels))
        for label in dict.fromkeys(_labels(labels))
    ]
    if rows:
        op.bulk_insert(run_labels, rows)


def downgrade() -> None:
    op.drop_table("run_labels")
