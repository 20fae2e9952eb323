"""The results directories an export reads: run directories as given, a study directory as its
runs in order, each with its place in a study (scenario, step, repeat) when it has one, and the
clock anchor that puts its monotonic timestamps in wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from llmbench.errors import StoreError
from llmbench.records import RequestRecord
from llmbench.store.results import (
    RECORDS_FILE,
    RUN_FILE,
    TASKS_FILE,
    iter_records,
    iter_tasks,
    read_run_file,
)
from llmbench.store.run_schema import RunResult
from llmbench.store.study_index import STUDY_FILE, load_any_study
from llmbench.store.study_schema import AnyStudy, ComparisonIndex
from llmbench.tasks import TaskRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StudyPlace:
    """Where a run sits in a study: a comparison study's scenario, step and repeat, or a steps
    study's profile and step label."""

    study: str
    scenario: str | None
    step: str | None
    repeat: int | None


@dataclass(slots=True)
class RunSource:
    directory: Path
    run: RunResult | None  # None: no run.json (the run did not start cleanly)
    study: StudyPlace | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id if self.run is not None else self.directory.name

    @property
    def origin_ns(self) -> int | None:
        """The monotonic clock at the run's start (timestamps are exported relative to it)."""
        return None if self.run is None else self.run.clock.monotonic_ns_at_start

    @property
    def wall_origin_ns(self) -> int | None:
        """The run's start in Unix nanoseconds: run.json's `started_at`, stamped just before
        `clock.monotonic_ns_at_start` (microsecond precision)."""
        if self.run is None:
            return None
        started = datetime.fromisoformat(self.run.started_at)
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        delta = started - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000

    def records(self) -> Iterator[RequestRecord]:
        """records.jsonl one record at a time (a torn last line is skipped with a warning)."""
        return iter_records(self.directory / RECORDS_FILE, self.warnings)

    def tasks(self) -> Iterator[TaskRecord]:
        return iter_tasks(self.directory / TASKS_FILE, self.warnings)


def run_sources(paths: list[Path]) -> list[RunSource]:
    """Each path as run directories: a run directory itself, or a study directory's runs."""
    sources: list[RunSource] = []
    for path in paths:
        if not path.is_dir():
            raise StoreError(
                f"{path} is not a results directory",
                hint="pass a run directory (with run.json) or a study directory (with study.json)",
            )
        if (path / STUDY_FILE).is_file() and not (path / RUN_FILE).is_file():
            sources.extend(_study_runs(path, load_any_study(path)))
        else:
            sources.append(_one_run(path, _place_in_parent(path)))
    return sources


def _one_run(directory: Path, place: StudyPlace | None) -> RunSource:
    warnings: list[str] = []
    run_path = directory / RUN_FILE
    run = None
    if run_path.is_file():
        run = read_run_file(run_path)
    elif (directory / RECORDS_FILE).is_file():
        warnings.append(f"{run_path} is missing: the run did not start cleanly")
    else:
        raise StoreError(
            f"{directory} holds neither {RUN_FILE} nor {RECORDS_FILE}",
            hint="pass a run directory written by `llmbench run` or a study directory",
        )
    return RunSource(directory, run, place, warnings)


def _places(study_dir: Path, index: AnyStudy) -> list[tuple[str, StudyPlace]]:
    """(run directory name, place) of every run of a study, in its order."""
    if isinstance(index, ComparisonIndex):
        name = index.name or study_dir.name
        runs = sorted(index.runs, key=lambda r: r.order)
        return [(r.dir, StudyPlace(name, r.scenario, r.step, r.repeat)) for r in runs]
    return [(s.dir, StudyPlace(index.study, None, s.label, None)) for s in index.steps]


def _study_runs(study_dir: Path, index: AnyStudy) -> Iterator[RunSource]:
    for name, place in _places(study_dir, index):
        directory = study_dir / name
        if (directory / RUN_FILE).is_file() or (directory / RECORDS_FILE).is_file():
            yield _one_run(directory, place)


def _place_in_parent(directory: Path) -> StudyPlace | None:
    """The run's place when its parent directory is a study that lists it."""
    parent = directory.resolve().parent
    if not (parent / STUDY_FILE).is_file():
        return None
    try:
        index = load_any_study(parent)
    except StoreError:  # a study.json this run is not part of, or one that cannot be read
        return None
    for name, place in _places(parent, index):
        if (parent / name).resolve() == directory.resolve():
            return place
    return None
