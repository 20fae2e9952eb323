"""Results directories into the history database: a run (run.json's identity and typed summary,
then records.jsonl streamed into one compact row per request, inserted in batches), or a study
(its index, then each of its runs). A torn last line of a killed run is reported and skipped; a
run without a summary (killed) gets one recomputed from its records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, Table, insert, select, update
from sqlalchemy.engine import Connection

from llmbench.config.load import profile_name
from llmbench.errors import StoreError
from llmbench.metrics.columns import RunColumns
from llmbench.metrics.summary import summarize_run
from llmbench.records import RequestRecord
from llmbench.store.db.database import HistoryStore
from llmbench.store.db.tables import requests, run_labels, runs, studies
from llmbench.store.results import RECORDS_FILE, RUN_FILE, read_run_file
from llmbench.store.run_schema import RunResult
from llmbench.store.study_index import STUDY_FILE, load_any_study
from llmbench.store.study_schema import ComparisonIndex, StudyIndex

BATCH_ROWS = 20_000  # rows per executemany: large enough to amortize, small enough to stream


@dataclass(slots=True)
class Imported:
    """What one results directory became: `stored` False when it was already in the store."""

    run_id: str
    directory: Path
    stored: bool
    n_requests: int = 0
    kind: str = "run"  # run | study
    warnings: list[str] = field(default_factory=list)


def _time(iso: str | None) -> datetime | None:
    if iso is None:
        return None
    moment = datetime.fromisoformat(iso)  # stored in UTC: SQLite keeps no zone
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _parse(path: Path, number: int, line: bytes, warnings: list[str]) -> dict[str, Any] | None:
    try:
        data = orjson.loads(line)
        if not isinstance(data, dict) or "sent_ns" not in data or "status" not in data:
            raise ValueError("not a request record")
    except ValueError as exc:
        if not line.endswith(b"\n"):  # the last line, cut short when the process died
            warnings.append(f"{path}:{number}: torn last line skipped (the run was killed)")
            return None
        raise StoreError(
            f"{path}:{number}: unreadable record ({exc})",
            hint="the file was edited or corrupted; restore it or remove that line",
        ) from None
    return data


def iter_record_dicts(path: Path, warnings: list[str]) -> Iterator[dict[str, Any]]:
    """records.jsonl's lines as dicts, streamed; the same torn-line rule as `iter_records`."""
    if not path.exists():
        warnings.append(f"{path} is missing: no request records")
        return
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                data = _parse(path, number, line, warnings)
                if data is not None:
                    yield data


def _since(data: dict[str, Any], key: str, sent_ns: int) -> int | None:
    value = data.get(key)
    return None if value is None else int(value) - sent_ns


REQUEST_COLUMNS = tuple(column.name for column in requests.columns)


def request_row(run_pk: int, seq: int, data: dict[str, Any], origin_ns: int) -> tuple[Any, ...]:
    """One request's compact row (REQUEST_COLUMNS' order): times from sent_ns as
    metrics/request.py defines them."""
    get = data.get
    sent_ns = int(data["sent_ns"])
    first_sent = get("first_sent_ns")
    error = get("error")
    return (
        run_pk, seq, str(get("request_id", seq)), data["status"], bool(get("warmup", False)),
        error.get("category") if isinstance(error, dict) else None, get("http_status"),
        sent_ns - origin_ns,
        (sent_ns if first_sent is None else first_sent) - data["scheduled_ns"],
        _since(data, "headers_ns", sent_ns), _since(data, "first_token_ns", sent_ns),
        _since(data, "first_content_ns", sent_ns), _since(data, "end_ns", sent_ns),
        get("input_tokens"), get("output_tokens"), get("cached_tokens"),
        len(get("chunk_offsets_ns") or ()), get("attempts", 1), get("session_id"), get("turn"),
        get("task_id"), get("step_id"),
    )  # fmt: skip


class RowInserter:
    """executemany of plain tuples through the driver: SQLAlchemy compiles the statement once
    for the database's parameter style; its per-row processing (half the import's time at a
    million rows) is skipped, which plain ints, strings, bools and None do not need."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        compiled = insert(requests).compile(dialect=connection.dialect,
                                            column_keys=list(REQUEST_COLUMNS))  # fmt: skip
        self.sql = str(compiled)
        names = list(compiled.positiontup or ()) if compiled.positional else None
        if names is not None and names != list(REQUEST_COLUMNS):
            raise AssertionError(f"unexpected parameter order {names}")
        self.positional = names is not None

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if self.connection.dialect.name == "postgresql":
            self._copy(rows)
            return
        params: Any = rows if self.positional else [dict(zip(REQUEST_COLUMNS, row, strict=True))
                                                    for row in rows]  # fmt: skip
        self.connection.exec_driver_sql(self.sql, params)

    def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL: COPY FROM STDIN on the transaction's own connection (psycopg 3), about
        three times faster than executemany at a million rows."""
        driver = self.connection.connection.driver_connection
        assert driver is not None
        sql = f"COPY requests ({', '.join(REQUEST_COLUMNS)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


@dataclass(frozen=True, slots=True)
class RunPlace:
    """Where a run sits: in a study (and which target and scenario the study says), or alone."""

    study_pk: int | None = None
    target: str | None = None
    scenario: str | None = None


def _run_row(
    directory: Path, run: RunResult | None, labels: list[str], place: RunPlace
) -> dict[str, Any]:
    now = datetime.now(UTC)
    if run is None:  # no run.json: the run died before it started cleanly
        started = datetime.fromtimestamp(directory.stat().st_mtime, UTC)
        return {
            "run_id": directory.name, "study_pk": place.study_pk, "status": "failed",
            "started_at": started, "finished_at": None, "target": place.target or "unknown",
            "model": None, "scenario": place.scenario or "unknown", "labels": labels,
            "spec_hash": "", "environment": None, "summary": None, "counts": None,
            "summary_source": "none", "n_requests": 0, "results_path": str(directory),
            "recorded_at": now,
        }  # fmt: skip
    return {
        "run_id": run.run_id, "study_pk": place.study_pk, "status": run.status,
        "started_at": _time(run.started_at), "finished_at": _time(run.finished_at),
        "target": place.target or run.target.id, "model": run.target.model,
        "scenario": place.scenario or profile_name(run.spec.load.model_dump()),
        "labels": labels, "spec_hash": run.spec_hash,
        "environment": run.environment.model_dump(mode="json"),
        "summary": None if run.summary is None else run.summary.model_dump(mode="json"),
        "counts": None if run.counts is None else run.counts.model_dump(mode="json"),
        "summary_source": "none" if run.summary is None else RUN_FILE, "n_requests": 0,
        "results_path": str(directory), "recorded_at": now,
    }  # fmt: skip


def _stream_requests(
    connection: Connection, run_pk: int, path: Path, origin_ns: int | None, warnings: list[str],
    columns: RunColumns | None,
) -> int:  # fmt: skip
    """Inserts every readable record as a row, BATCH_ROWS at a time; feeds `columns` too when
    the summary has to be recomputed. Returns the number of rows."""
    inserter = RowInserter(connection)
    batch: list[tuple[Any, ...]] = []
    n = 0
    for data in iter_record_dicts(path, warnings):
        if origin_ns is None:  # no run.json: offsets from the first record's send
            origin_ns = int(data["sent_ns"])
        batch.append(request_row(run_pk, n, data, origin_ns))
        if columns is not None:
            columns.append(_record(path, n, data))
        n += 1
        if len(batch) >= BATCH_ROWS:
            inserter.insert(batch)
            batch = []
    if batch:
        inserter.insert(batch)
    return n


def _record(path: Path, seq: int, data: dict[str, Any]) -> RequestRecord:
    try:
        return RequestRecord.from_json_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{path}: record {seq + 1}: unreadable ({exc})") from None


def _utc(moment: datetime) -> datetime:
    """Comparable across backends: SQLite gives back a naive UTC time, PostgreSQL an aware one."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _stored_as(
    connection: Connection, table: Table, id_column: Column[str], name: str, started: datetime
) -> tuple[str, int | None]:
    """The id a run or study is stored under, and its row when stored already. A directory's
    name is reused (`--output-dir results/run` every night, a study's `001-...` run folders),
    so the name is the id only while no other run has it; another run (another start time)
    gets `NAME@START` (UTC). The same run imported again finds its row."""
    for candidate in (name, f"{name}@{_utc(started):%Y%m%dT%H%M%S.%fZ}"):
        found = connection.execute(
            select(table.c.pk, table.c.started_at).where(id_column == candidate)
        ).first()
        if found is None:
            return candidate, None
        if _utc(found.started_at) == _utc(started):
            return candidate, found.pk
    raise StoreError(f"{name}: two other runs started at {started} are stored under its names")


def import_run(
    connection: Connection, directory: Path, labels: list[str], place: RunPlace = RunPlace()
) -> Imported:
    """One results directory into the store (in the caller's transaction); a run already
    stored (same run id) is left as it is."""
    warnings: list[str] = []
    if not directory.is_dir():
        raise StoreError(f"{directory} is not a results directory", hint="pass the run's folder")
    run_path = directory / RUN_FILE
    run = read_run_file(run_path) if run_path.exists() else None
    if run is None:
        warnings.append(f"{run_path} is missing: the run did not start cleanly")
    row = _run_row(directory.resolve(), run, labels, place)
    name, started = row["run_id"], row["started_at"]
    run_id, stored_pk = _stored_as(connection, runs, runs.c.run_id, name, started)
    if stored_pk is not None:
        return Imported(run_id, directory, stored=False, warnings=warnings)
    if run_id != row["run_id"]:
        warnings.append(f"{directory}: another run is stored as {name}: stored as {run_id}")
        row["run_id"] = run_id
    run_pk = connection.execute(insert(runs).returning(runs.c.pk), row).scalar_one()
    if labels:
        connection.execute(insert(run_labels), [{"run_pk": run_pk, "label": label}
                                                for label in dict.fromkeys(labels)])  # fmt: skip
    columns = RunColumns() if row["summary"] is None else None
    origin = None if run is None else run.clock.monotonic_ns_at_start
    n = _stream_requests(connection, run_pk, directory / RECORDS_FILE, origin, warnings, columns)
    done: dict[str, Any] = {"n_requests": n}
    if columns is not None and n:
        parts = summarize_run(columns, seed=0 if run is None else run.spec.seed)
        done |= {"summary": parts["summary"], "counts": parts["counts"],
                 "summary_source": "records"}  # fmt: skip
        warnings.append(f"{directory}: no summary in run.json: recomputed from its records")
    connection.execute(update(runs).where(runs.c.pk == run_pk).values(**done))
    return Imported(row["run_id"], directory, stored=True, n_requests=n, warnings=warnings)


def _study_row(
    directory: Path, index: StudyIndex | ComparisonIndex, labels: list[str]
) -> dict[str, Any]:
    if isinstance(index, ComparisonIndex):
        kind, name, environment = "comparison", index.name, index.environment
        started, finished = _time(index.started_at), _time(index.finished_at)
        summary: Any = [r.model_dump(mode="json", exclude={"workload_hash"}) for r in index.runs]
    else:
        kind, name, environment = index.study, index.spec.name, None
        started = finished = None
        summary = [step.model_dump(mode="json") for step in index.steps]
    mtime = datetime.fromtimestamp((directory / STUDY_FILE).stat().st_mtime, UTC)
    return {
        "study_id": directory.name, "name": name, "kind": kind, "status": index.status,
        "started_at": started or mtime, "finished_at": finished, "spec_hash": index.spec_hash,
        "labels": labels,
        "environment": None if environment is None else environment.model_dump(mode="json"),
        "summary": summary, "results_path": str(directory), "recorded_at": datetime.now(UTC),
    }  # fmt: skip


def _study_runs(
    directory: Path, index: StudyIndex | ComparisonIndex
) -> Iterator[tuple[Path, RunPlace]]:
    if isinstance(index, ComparisonIndex):
        for run in index.runs:
            scenario = f"{run.scenario}:{run.step}" if run.step else run.scenario
            yield directory / run.dir, RunPlace(target=run.target, scenario=scenario)
    else:
        for step in index.steps:
            yield directory / step.dir, RunPlace(scenario=f"{index.study}:{step.label}")


def import_study(connection: Connection, directory: Path, labels: list[str]) -> list[Imported]:
    """A study directory: its row, then each of its runs that has a directory."""
    index = load_any_study(directory)
    row = _study_row(directory.resolve(), index, labels)
    study_id, study_pk = _stored_as(
        connection, studies, studies.c.study_id, row["study_id"], row["started_at"]
    )
    row["study_id"] = study_id
    stored = study_pk is None
    if study_pk is None:
        study_pk = connection.execute(insert(studies).returning(studies.c.pk), row).scalar_one()
    out = [Imported(row["study_id"], directory, stored=stored, kind="study")]
    for run_dir, place in _study_runs(directory, index):
        if run_dir.is_dir():
            where = RunPlace(study_pk, place.target, place.scenario)
            out.append(import_run(connection, run_dir, labels, where))
    return out


def import_directory(store: HistoryStore, directory: Path, labels: list[str]) -> list[Imported]:
    """A run or study directory, in one write transaction (all of it lands, or none)."""
    if not directory.is_dir():
        raise StoreError(f"{directory} is not a directory", hint="pass a results directory")
    with store.write() as connection:
        if (directory / STUDY_FILE).exists():
            return import_study(connection, directory, labels)
        if not (directory / RUN_FILE).exists() and not (directory / RECORDS_FILE).exists():
            raise StoreError(
                f"{directory} holds no run.json, records.jsonl or study.json",
                hint="pass a run or study results directory",
            )
        return [import_run(connection, directory, labels)]
