"""The history store's pieces on a SQLite file: store URLs (never showing a password), study
import, corrupt records refused whole, metric lookup for trends, and the CLI's errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmbench.cli.history import parse_since
from llmbench.errors import ConfigError, StoreError
from llmbench.store.codec import write_atomic
from llmbench.store.db.database import HistoryStore, shown, store_url
from llmbench.store.db.ingest import import_directory
from llmbench.store.db.queries import (
    RunFilter,
    StoredRun,
    check_metric,
    find_run,
    list_runs,
    metric_value,
)
from llmbench.store.results import read_run_file
from support.history import synthetic_run

GOLDEN_SWEEP = Path(__file__).parents[2] / "golden" / "results-v1" / "concurrency-sweep"


def test_store_urls(tmp_path: Path) -> None:
    assert store_url(str(tmp_path / "h.db")).database == str(tmp_path / "h.db")
    assert store_url("default").database == str(Path.home() / ".llmbench" / "history.db")
    assert store_url("sqlite:///~/x.db").database == str(Path.home() / "x.db")
    pg = store_url("postgresql://ann:sekret@db.example:5433/bench")
    assert pg.drivername == "postgresql+psycopg"
    assert shown(pg) == "postgresql+psycopg://ann:***@db.example:5433/bench"
    with pytest.raises(StoreError, match=re.escape("mysql://...: not a history store")):
        store_url("mysql://ann@db/bench")


@pytest.mark.parametrize(
    "url",
    ["postgresql://ann:sekret@127.0.0.1:notaport/db", "postgresql://ann:sekret@[::1:1/db",
     "sqlite://ann:sekret@/x.db"],
)  # fmt: skip
def test_a_malformed_url_is_a_store_error_without_the_password(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        HistoryStore.open(url)
    assert "sekret" not in str(caught.value)
    assert "sekret" not in (caught.value.hint or "")


def test_a_password_given_as_a_parameter_is_not_shown() -> None:
    url = store_url("postgresql://ann@127.0.0.1:5432/db?password=sekret&sslmode=require")
    assert shown(url) == "postgresql+psycopg://ann@127.0.0.1:5432/db?password=***&sslmode=require"


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        HistoryStore.open("postgresql://ann:sekret@127.0.0.1:1/bench")
    assert "sekret" not in str(caught.value)
    assert "postgresql+psycopg://ann:***@127.0.0.1:1/bench" in caught.value.message


def test_study_import_keeps_its_runs_and_is_idempotent(tmp_path: Path) -> None:
    study = shutil.copytree(GOLDEN_SWEEP, tmp_path / "sweep")
    with HistoryStore.open(str(tmp_path / "h.db")) as store:
        first = import_directory(store, study, ["v1"])
        assert [(i.kind, i.stored) for i in first] == [("study", True)] + [("run", True)] * 3
        again = import_directory(store, study, ["v1"])
        assert [i.stored for i in again] == [False] * 4
        with store.read() as connection:
            runs = list_runs(connection, RunFilter(label="v1"))
            assert [r.scenario for r in runs] == [
                "concurrency-sweep:c1", "concurrency-sweep:c2", "concurrency-sweep:c4"]  # fmt: skip
            assert all(r.summary_source == "run.json" for r in runs)
            assert find_run(connection, "v1").run_id == runs[-1].run_id  # a label: the newest


def _restarted(run_dir: Path, started_at: str) -> Path:
    """The run as if it had started at another time (a later run in a folder of that name)."""
    run = read_run_file(run_dir / "run.json").model_copy(update={"started_at": started_at})
    write_atomic(run_dir / "run.json", run)
    return run_dir


def test_another_run_in_a_reused_folder_name_is_stored_too(tmp_path: Path) -> None:
    """`--output-dir results/run` every night: each night's run is kept, under `NAME@START`
    when the name is taken; importing one again stores nothing new."""
    first = synthetic_run(tmp_path / "monday" / "run", 5)
    second = _restarted(synthetic_run(tmp_path / "tuesday" / "run", 5), "2030-01-02T03:04:05Z")
    with HistoryStore.open(str(tmp_path / "h.db")) as store:
        (a,) = import_directory(store, first, ["nightly"])
        (b,) = import_directory(store, second, ["nightly"])
        assert (a.run_id, a.stored) == ("run", True)
        assert (b.run_id, b.stored) == ("run@20300102T030405.000000Z", True)
        assert any("another run is stored as run" in w for w in b.warnings)
        again = [import_directory(store, d, ["nightly"])[0] for d in (first, second)]
        assert [(i.run_id, i.stored) for i in again] == [(a.run_id, False), (b.run_id, False)]
        with store.read() as connection:
            assert find_run(connection, "nightly").run_id == b.run_id  # the newest
            assert len(list_runs(connection, RunFilter(label="nightly"))) == 2


def test_a_corrupt_line_stores_nothing_of_that_run(tmp_path: Path) -> None:
    run = synthetic_run(tmp_path / "bad", 30)
    lines = (run / "records.jsonl").read_bytes().split(b"\n")
    lines[9] = b'{"not a record'
    (run / "records.jsonl").write_bytes(b"\n".join(lines))
    with HistoryStore.open(str(tmp_path / "h.db")) as store:
        with pytest.raises(StoreError, match=r"records.jsonl:10: unreadable record"):
            import_directory(store, run, [])
        with store.read() as connection:
            assert list_runs(connection) == []  # the transaction was rolled back whole


def _stored(summary: dict[str, object]) -> StoredRun:
    return StoredRun(1, "r", "complete", datetime.now(UTC), "t", None, "s", [], "h", 1,
                     summary, None, "run.json", "/r")  # fmt: skip


def test_metric_lookup() -> None:
    run = _stored({"ttft_ms": {"n": 3, "p50": 20.5, "p99": None}, "requests_per_s": 4})
    assert metric_value(run, "ttft_ms.p50") == 20.5
    assert metric_value(run, "ttft_ms.p99") is None  # not supported by n: absent, never 0
    assert metric_value(run, "requests_per_s") == 4.0
    assert metric_value(run, "e2e_ms.p50") is None
    check_metric("ttft_ms.p99", run.summary or {})
    for bad in ("ttft_ms.p42", "speed", "requests_per_s.p50"):
        with pytest.raises(StoreError, match="not a metric of the stored summaries"):
            check_metric(bad, run.summary or {})


def test_since() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    assert parse_since("2026-12-01T02:00+02:00") == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since: 'last week' is not a time"):
        parse_since("last week")


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LLMBENCH_STORE"} | {"HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "llmbench", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=home, check=False)  # fmt: skip


def test_cli_errors(tmp_path: Path) -> None:
    done = _cli(tmp_path, "history", "--html", str(tmp_path / "t.html"))
    assert done.returncode == 2
    assert "--html: an HTML chart is of a trend" in done.stderr
    gate = ["gate", "--metric", "ttft_ms.p95", "--max-regression", "10%"]
    done = _cli(tmp_path, *gate, "--baseline", "nowhere", "--candidate", "nowhere")
    assert done.returncode == 4  # not comparable
    assert "nowhere is not a results directory (and there is no history store)" in done.stderr
    assert not (tmp_path / ".llmbench").exists()  # a gate never creates the default store
    synthetic_run(tmp_path / "r1", 5)
    done = _cli(tmp_path, "import", str(tmp_path / "r1"))  # the default store: ~/.llmbench
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".llmbench" / "history.db").is_file()
    done = _cli(tmp_path, "history", "--trend", "ttft_ms.p42")
    assert done.returncode == 1
    assert "'ttft_ms.p42' is not a metric of the stored summaries" in done.stderr
    done = _cli(tmp_path, "run", "--requests", "1", "--store", "mysql://x@y/z")
    assert done.returncode == 2  # refused before the run: no results directory made
    assert "--store: mysql://...: not a history store" in done.stderr
    assert not (tmp_path / "results").exists()
