"""The history database's tables at the newest schema revision, as SQLAlchemy Core objects the
queries are written against. Each revision in `migrations/versions/` creates or changes them;
`tests/unit/store/test_history_migrations.py` checks that migrating to head gives these.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

studies = Table(
    "studies",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("study_id", String(200), nullable=False, unique=True),  # the study directory's name
    Column("name", String(200)),
    Column("kind", String(40), nullable=False),  # comparison | sweep | repeat | slo-search ...
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("spec_hash", String(80), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("environment", JSON),
    Column("summary", JSON),  # per run: target, scenario, step, status and headline numbers
    Column("results_path", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), nullable=False, unique=True),  # the run directory's name
    Column("study_pk", Integer, ForeignKey("studies.pk", ondelete="CASCADE"), index=True),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("finished_at", DateTime(timezone=True)),
    Column("target", String(200), nullable=False, index=True),
    Column("model", String(200)),
    Column("scenario", String(200), nullable=False, index=True),
    Column("labels", JSON, nullable=False),  # in the order given; run_labels indexes them
    Column("spec_hash", String(80), nullable=False),
    Column("environment", JSON),
    Column("summary", JSON),  # run.json's typed summary block (or recomputed: summary_source)
    Column("counts", JSON),
    Column("summary_source", String(20), nullable=False),  # run.json | records | none
    Column("n_requests", Integer, nullable=False),
    Column("results_path", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# One row per request of records.jsonl, in file order: the key times (ns, from sent_ns, as
# metrics/request.py defines them) and counts; chunk timestamps stay in the results files.
requests = Table(
    "requests",
    metadata,
    Column("run_pk", Integer, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("request_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("warmup", Boolean, nullable=False),
    Column("error_category", String(40)),
    Column("http_status", Integer),
    Column("sent_offset_ns", BigInteger, nullable=False),  # from the run's start clock
    Column("client_lag_ns", BigInteger),
    Column("ttfb_ns", BigInteger),
    Column("ttft_ns", BigInteger),
    Column("ttfo_ns", BigInteger),
    Column("e2e_ns", BigInteger),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cached_tokens", Integer),
    Column("n_chunks", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("session_id", String(200)),
    Column("turn", Integer),
    Column("task_id", String(200)),
    Column("step_id", String(200)),
)

# Revision 2: one row per (run, label), so a label filter is an indexed join on any database
# instead of a search inside a JSON column (which SQLite and PostgreSQL spell differently).
run_labels = Table(
    "run_labels",
    metadata,
    Column("run_pk", Integer, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("label", String(200), primary_key=True, index=True),
)
