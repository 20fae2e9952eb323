"""The history schema's migrations, on SQLite and PostgreSQL: a store written at revision 1
keeps every row when migrated to the newest revision (and revision 2 indexes its labels), and
the migrated schema is exactly the one the queries are written against (`tables.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Table, insert, select

from llmbench.store.db.database import HEAD_REVISION, HistoryStore
from llmbench.store.db.database import store_url as parse_url
from llmbench.store.db.queries import RunFilter, list_runs
from llmbench.store.db.tables import metadata, requests, run_labels, runs, studies

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _run(n: int, labels: list[str], study_pk: int | None) -> dict[str, Any]:
    return {
        "pk": n, "run_id": f"run-{n}", "study_pk": study_pk, "status": "complete",
        "started_at": T0.replace(hour=n), "finished_at": None, "target": "sim", "model": "m",
        "scenario": "concurrency", "labels": labels, "spec_hash": "h" * 64,
        "environment": {"python": "3.11"}, "summary": {"ttft_ms": {"n": 2, "p50": 10.0 + n}},
        "counts": {"ok": 2}, "summary_source": "run.json", "n_requests": 2,
        "results_path": f"/results/run-{n}", "recorded_at": T0,
    }  # fmt: skip


def _request(run_pk: int, seq: int) -> dict[str, Any]:
    return {
        "run_pk": run_pk, "seq": seq, "request_id": f"r-{run_pk}-{seq}", "status": "ok",
        "warmup": seq == 0, "error_category": None, "http_status": 200,
        "sent_offset_ns": 1_000 * seq, "client_lag_ns": 5, "ttfb_ns": 900, "ttft_ns": 2**40 + seq,
        "ttfo_ns": 2**40 + seq, "e2e_ns": 2**41, "input_tokens": 128, "output_tokens": 16,
        "cached_tokens": None, "n_chunks": 16, "attempts": 1, "session_id": None, "turn": None,
        "task_id": None, "step_id": None,
    }  # fmt: skip


def _rows(store: HistoryStore, table: Table) -> list[tuple[Any, ...]]:
    with store.read() as connection:
        return sorted(tuple(row) for row in connection.execute(select(table)))


def test_revision_1_rows_survive_the_migration(store_url: str) -> None:
    with HistoryStore(parse_url(store_url), migrate_to="0001") as store:
        assert store.revision() == "0001"
        with store.write() as connection:
            connection.execute(insert(studies), {
                "pk": 1, "study_id": "study-1", "name": "s", "kind": "comparison",
                "status": "complete", "started_at": T0, "finished_at": T0, "spec_hash": "s",
                "labels": ["a"], "environment": None, "summary": [{"target": "sim"}],
                "results_path": "/results/study-1", "recorded_at": T0,
            })  # fmt: skip
            connection.execute(insert(runs), [_run(1, [], None), _run(2, ["a"], 1),
                                              _run(3, ["a", "b", "a"], None)])  # fmt: skip
            connection.execute(insert(requests), [_request(pk, s) for pk in (1, 2, 3)
                                                  for s in range(2)])  # fmt: skip
        before = {table.name: _rows(store, table) for table in (studies, runs, requests)}
        assert [len(rows) for rows in before.values()] == [1, 3, 6]
        store.migrate()
        assert store.revision() == HEAD_REVISION
        after = {table.name: _rows(store, table) for table in (studies, runs, requests)}
        assert after == before
        assert _rows(store, run_labels) == [(2, "a"), (3, "a"), (3, "b")]
        with store.read() as connection:
            assert [r.run_id for r in list_runs(connection, RunFilter(label="a"))] == [
                "run-2", "run-3"]  # fmt: skip
            assert [r.run_id for r in list_runs(connection, RunFilter(label="b"))] == ["run-3"]


def test_head_schema_is_the_tables_the_queries_use(store_url: str) -> None:
    with HistoryStore(parse_url(store_url)) as store, store.read() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
