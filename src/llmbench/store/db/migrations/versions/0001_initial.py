"""Revision 1: runs, studies, one row per request.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    _studies()
    _runs()
    _requests()


def _studies() -> None:
    op.create_table(
        "studies",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200)),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("spec_hash", sa.String(80), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("environment", sa.JSON),
        sa.Column("summary", sa.JSON),
        sa.Column("results_path", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(200), nullable=False, unique=True),
        sa.Column(
            "study_pk", sa.Integer, sa.ForeignKey("studies.pk", ondelete="CASCADE"), index=True
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("target", sa.String(200), nullable=False, index=True),
        sa.Column("model", sa.String(200)),
        sa.Column("scenario", sa.String(200), nullable=False, index=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("spec_hash", sa.String(80), nullable=False),
        sa.Column("environment", sa.JSON),
        sa.Column("summary", sa.JSON),
        sa.Column("counts", sa.JSON),
        sa.Column("summary_source", sa.String(20), nullable=False),
        sa.Column("n_requests", sa.Integer, nullable=False),
        sa.Column("results_path", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def _requests() -> None:
    op.create_table(
        "requests",
        sa.Column(
            "run_pk",
            sa.Integer,
            sa.ForeignKey("runs.pk", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("warmup", sa.Boolean, nullable=False),
        sa.Column("error_category", sa.String(40)),
        sa.Column("http_status", sa.Integer),
        sa.Column("sent_offset_ns", sa.BigInteger, nullable=False),
        sa.Column("client_lag_ns", sa.BigInteger),
        sa.Column("ttfb_ns", sa.BigInteger),
        sa.Column("ttft_ns", sa.BigInteger),
        sa.Column("ttfo_ns", sa.BigInteger),
        sa.Column("e2e_ns", sa.BigInteger),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("cached_tokens", sa.Integer),
        sa.Column("n_chunks", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("session_id", sa.String(200)),
        sa.Column("turn", sa.Integer),
        sa.Column("task_id", sa.String(200)),
        sa.Column("step_id", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("requests")
    op.drop_table("runs")
    op.drop_table("studies")
