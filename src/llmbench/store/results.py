"""A results directory: `run.json` (spec, environment, target, summary), `records.jsonl`
(one line per finished request, appended and flushed as it finishes) and, for agent tasks,
`tasks.jsonl` (one line per finished task, the same way), so a run stopped at any moment, even
by `kill -9`, leaves every finished record readable.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from llmbench.errors import StoreError
from llmbench.metrics.columns import RunColumns
from llmbench.records import RequestRecord
from llmbench.store.codec import read_json, run_from_json, write_atomic
from llmbench.store.run_schema import RunResult
from llmbench.tasks import TaskRecord

RUN_FILE = "run.json"
RECORDS_FILE = "records.jsonl"
TASKS_FILE = "tasks.jsonl"


def record_line(record: RequestRecord) -> bytes:
    """The record's records.jsonl line, newline included: the one encoding, wherever it is made."""
    # orjson: ~5x faster than json, and this runs on an event loop once per request.
    return orjson.dumps(record.to_json_dict(), option=orjson.OPT_APPEND_NEWLINE)


class RunWriter:
    """Owns one results directory while a run writes it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if (directory / RECORDS_FILE).exists():
                raise StoreError(
                    f"{directory} already holds a run",
                    hint="choose another --output-dir or remove the old one",
                )
            self._records: IO[bytes] = (directory / RECORDS_FILE).open("ab")
        except OSError as exc:
            raise StoreError(
                f"cannot write results to {directory}: {exc.strerror or exc}",
                hint="choose a writable --output-dir with free space",
            ) from exc
        self.n_written = 0
        self.failure: StoreError | None = None  # set by the first append that could not write
        self._tasks: IO[bytes] | None = None  # tasks.jsonl, opened at the first task

    def write_run(self, run: RunResult) -> None:
        """Writes (or rewrites) run.json; called at start with status 'running' and at the end."""
        try:
            write_atomic(self.directory / RUN_FILE, run)
        except OSError as exc:
            raise StoreError(f"cannot write {self.directory / RUN_FILE}: {exc}") from exc

    def append(self, record: RequestRecord) -> bool:
        """Appends `record_line(record)`; see `append_line`."""
        return self.append_line(record_line(record))

    def append_line(self, line: bytes) -> bool:
        """One line per record (`record_line`, made here or in a worker process), flushed at once
        so a killed process loses nothing finished.

        Returns False when the line could not be written (disk full, file too large): from then
        on `failure` says why and nothing more is appended, so the file ends at most in one torn
        line, which readers ignore.
        """
        if self.failure is not None:
            return False
        try:
            self._records.write(line)
            self._records.flush()
        except OSError as exc:
            self.failure = StoreError(
                f"cannot append to {self.directory / RECORDS_FILE}: {exc.strerror or exc}; "
                f"the run stopped, {self.n_written} records were written before",
                hint=f"free disk space and run again; `llmbench report {self.directory}` "
                "shows what was written",
            )
            return False
        self.n_written += 1
        return True

    def append_task(self, task: TaskRecord) -> bool:
        """One tasks.jsonl line per finished task, flushed at once; False (and `failure` set)
        when it could not be written, as `append_line`."""
        if self.failure is not None:
            return False
        path = self.directory / TASKS_FILE
        try:
            if self._tasks is None:
                self._tasks = path.open("ab")
            self._tasks.write(task.model_dump_json().encode() + b"\n")
            self._tasks.flush()
        except OSError as exc:
            self.failure = StoreError(
                f"cannot append to {path}: {exc.strerror or exc}; the run stopped",
                hint="free disk space and run again",
            )
            return False
        return True

    def close(self) -> None:
        if self._tasks is not None:
            with contextlib.suppress(OSError):
                self._tasks.close()
        # After a failed write the buffer still holds the rest of that line: closing retries
        # the write and fails again, which `failure` already reports.
        with contextlib.suppress(OSError):
            self._records.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(slots=True)
class LoadedRun:
    directory: Path
    run: RunResult | None  # None: no run.json (the run did not start cleanly)
    records: list[RequestRecord]
    warnings: list[str] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)  # agent tasks (tasks.jsonl)


@dataclass(slots=True)
class LoadedColumns:
    """A results directory read for its statistics: run.json and the records as columns."""

    directory: Path
    run: RunResult | None
    columns: RunColumns
    warnings: list[str] = field(default_factory=list)


def iter_records(path: Path, warnings: list[str]) -> Iterator[RequestRecord]:
    """The records of a records.jsonl one by one (memory flat in the file's size); a torn last
    line (no newline after it: written when the process died) is skipped with a warning."""
    if not path.exists():
        warnings.append(f"{path} is missing: no request records")
        return
    number = 0
    with path.open(encoding="utf-8", newline="\n") as f:
        try:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    record = _parse_line(path, number, line, warnings)
                    if record is not None:
                        yield record
        except UnicodeDecodeError as exc:
            raise StoreError(
                f"{path}: after line {number}: not UTF-8 ({exc.reason})",
                hint="the file was edited or corrupted; restore it",
            ) from exc


def _parse_line(path: Path, number: int, line: str, warnings: list[str]) -> RequestRecord | None:
    try:
        return RequestRecord.from_json_dict(json.loads(line))
    except (ValueError, KeyError, TypeError) as exc:
        if not line.endswith("\n"):  # the last line, cut short when the process died
            warnings.append(f"{path}:{number}: torn last line ignored (run was killed)")
            return None
        raise StoreError(
            f"{path}:{number}: unreadable record ({exc})",
            hint="the file was edited or corrupted; restore it or remove that line",
        ) from exc


def iter_tasks(path: Path, warnings: list[str]) -> Iterator[TaskRecord]:
    """The task records of a tasks.jsonl (none when the file is absent: not a task run); a torn
    last line is skipped with a warning, as in records.jsonl."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield TaskRecord.model_validate_json(line)
            except ValueError as exc:
                if not line.endswith("\n"):
                    warnings.append(f"{path}:{number}: torn last line ignored (run was killed)")
                    continue
                raise StoreError(
                    f"{path}:{number}: unreadable task record ({exc.__class__.__name__})",
                    hint="the file was edited or corrupted; restore it or remove that line",
                ) from exc


def _read_run_json(directory: Path, warnings: list[str]) -> RunResult | None:
    if not directory.is_dir():
        raise StoreError(f"{directory} is not a results directory", hint="pass the run's folder")
    run_path = directory / RUN_FILE
    if not run_path.exists():
        warnings.append(f"{run_path} is missing: the run did not start cleanly")
        return None
    return read_run_file(run_path)


def read_run_file(path: Path) -> RunResult:
    """One run.json of any schema version, as the current model."""
    return run_from_json(read_json(path), str(path))


def load_run(directory: Path) -> LoadedRun:
    """Reads a results directory; tolerates a missing run.json or a torn last record."""
    warnings: list[str] = []
    run = _read_run_json(directory, warnings)
    records = list(iter_records(directory / RECORDS_FILE, warnings))
    tasks = list(iter_tasks(directory / TASKS_FILE, warnings))
    return LoadedRun(directory, run, records, warnings, tasks)


def load_run_columns(directory: Path) -> LoadedColumns:
    """Like `load_run`, but streams the records into columns instead of keeping them."""
    warnings: list[str] = []
    run = _read_run_json(directory, warnings)
    columns = RunColumns.from_records(iter_records(directory / RECORDS_FILE, warnings))
    return LoadedColumns(directory, run, columns, warnings)
