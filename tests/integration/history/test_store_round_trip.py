"""The history store end to end, on a SQLite file and on a real PostgreSQL server: runs record
into it, `history` reads them back (the stored request rows give the run's own percentiles),
`gate` finds them by label or id; two importers at once both land; a killed run's directory is
imported with its torn last line reported and skipped."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmbench.store.db.database import PG_MIGRATION_LOCK, HistoryStore
from llmbench.store.db.queries import RunFilter, list_runs, request_counts
from llmbench.store.results import read_run_file
from support.cli import LLMBENCH, llmbench, start_long_run, wait_for_records
from support.history import synthetic_run

RUN = ["run", "--requests", "30", "--concurrency", "6", "--output-tokens", "4",
       "--sim-itl-ms", "2", "--no-monitors"]  # fmt: skip


def _json(*args: str) -> object:
    done = llmbench(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_run_store_history_gate(store_url: str, tmp_path: Path) -> None:
    for name, ttft in (("base", "50"), ("cand", "65")):  # a 30 % TTFT regression
        done = llmbench(*RUN, "--sim-ttft-ms", ttft, "--output-dir", str(tmp_path / name),
                        "--store", store_url, "--label", name, "--label", "nightly")  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "stored 1 run(s) in the history" in done.stderr
    runs = _json("history", "--store", store_url, "--label", "nightly", "--format", "json")
    assert isinstance(runs, list)
    assert [(r["run_id"], r["labels"], r["n_requests"]) for r in runs] == [
        ("base", ["base", "nightly"], 30), ("cand", ["cand", "nightly"], 30)]  # fmt: skip
    trend = _json("history", "--store", store_url, "--trend", "ttft_ms.p50", "--format", "json")
    assert isinstance(trend, list)
    values = [p["value"] for p in trend]
    assert values[1] / values[0] == pytest.approx(1.3, rel=0.05)
    # The stored request rows give back the run's own statistics (same definition, same rows).
    shown = _json("history", "base", "--store", store_url, "--format", "json")
    assert isinstance(shown, dict)
    run = read_run_file(tmp_path / "base" / "run.json")
    assert run.summary is not None
    assert shown["from_rows"]["ttft_ms"]["n"] == run.summary.ttft_ms.n == 30
    for statistic in ("p50", "p95", "mean"):
        stored = getattr(run.summary.ttft_ms, statistic)
        assert shown["from_rows"]["ttft_ms"][statistic] == pytest.approx(stored, rel=1e-9)
    assert shown["from_rows"]["ttft_ms"]["p99"] is None  # 30 values do not support a P99
    gate = ["gate", "--metric", "ttft_ms.p50", "--max-regression", "10%", "--store", store_url]
    done = llmbench(*gate, "--baseline", "base", "--candidate", "cand")  # by label
    assert done.returncode == 1, done.stdout + done.stderr
    assert "gate REGRESSION" in done.stdout
    done = llmbench(*gate, "--baseline", "cand", "--candidate", str(tmp_path / "cand"))
    assert done.returncode == 0, done.stdout + done.stderr  # by id and by directory: itself
    done = llmbench(*gate, "--baseline", "nobody", "--candidate", "cand")
    assert done.returncode == 4
    assert "no stored run has the id or label 'nobody'" in done.stderr


@contextlib.contextmanager
def _locked(url: str) -> Iterator[None]:
    """Holds the store's write lock (SQLite: a write transaction; PostgreSQL, not migrated
    yet: the migration lock), so writers started meanwhile must wait and then go together."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
            yield
        return
    with HistoryStore.open(url) as store, store.write():
        yield


def test_two_writers_at_once(store_url: str, tmp_path: Path) -> None:
    """Two `llmbench import`s into one store, started while its lock is held: both wait,
    then both land whole (on PostgreSQL both also migrate the new store at once)."""
    dirs = [synthetic_run(tmp_path / f"w{k}", 20_000) for k in (1, 2)]
    with _locked(store_url):
        importers = [
            subprocess.Popen([*LLMBENCH, "import", str(d), "--store", store_url, "--label", "w"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for d in dirs
        ]  # fmt: skip
        time.sleep(3)  # both started and waiting on the lock
        assert [p.poll() for p in importers] == [None, None]
    for process in importers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "20000 requests stored" in out
    with HistoryStore.open(store_url) as store, store.read() as connection:
        stored = list_runs(connection, RunFilter(label="w"))
        assert sorted(r.run_id for r in stored) == ["w1", "w2"]
        for run in stored:
            assert run.n_requests == 20_000
            assert request_counts(connection, run.pk) == _counts(dirs[0] / "records.jsonl")


def _counts(records: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in records.read_text().splitlines():
        data = json.loads(line)
        key = "warmup" if data["warmup"] else data["status"]
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_import_killed_run(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = start_long_run(out)
    try:
        wait_for_records(out, 12)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    records = out / "records.jsonl"
    complete = records.read_bytes().split(b"\n")[:-1]
    with records.open("ab") as f:  # a write cut short by the kill: half a line, no newline
        f.write(complete[-1][:40])
    done = llmbench("import", str(out), "--store", store_url)
    assert done.returncode == 0, done.stderr
    assert f"{records}:{len(complete) + 1}: torn last line skipped" in done.stderr
    assert f"run killed: {len(complete)} requests stored" in done.stdout
    shown = _json("history", "killed", "--store", store_url, "--format", "json")
    assert isinstance(shown, dict)
    assert shown["status"] == "running"  # as run.json says: it never finished
    assert shown["summary_source"] == "records"  # no summary in run.json: recomputed
    assert shown["summary"]["ttft_ms"]["n"] == shown["from_rows"]["ttft_ms"]["n"] > 0
    again = llmbench("import", str(out), "--store", store_url)
    assert "run killed: already stored, left as it is" in again.stdout
