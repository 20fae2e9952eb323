"""What a report is built from: the runs of a run directory or a study directory, each named by
its target, scenario and step (from run.json and study.json alone). The per-request samples
(records.jsonl), agent tasks (tasks.jsonl) and monitor series (monitors.jsonl) are read only
when a chart asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from llmbench.errors import StoreError
from llmbench.metrics.request import e2e_ns, ttft_ns
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
from llmbench.store.study_schema import ComparisonIndex, ComparisonRun, StudyIndex
from llmbench.tasks import TaskRecord

# A single-target study's kind → the scenario its steps belong to.
SCENARIO_OF_STUDY = {
    "concurrency-sweep": "concurrency",
    "input-sweep": "input-length",
    "sweep": "rate",
    "slo-search": "search",
    "repeat": "baseline",
}
MS = 1e6


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One run of the report: where it is, its run.json, and where it belongs."""

    directory: Path
    run: RunResult
    target: str
    scenario: str  # baseline | concurrency | input-length | rate | search | tasks | ...
    label: str  # the step's label ("c4", "in512", "repeat-2"); the run id for a lone run

    @property
    def concurrency(self) -> int | None:
        value = getattr(self.run.spec.load, "concurrency", None)
        return value if isinstance(value, int) else None

    @property
    def input_tokens(self) -> int | None:
        value = getattr(self.run.spec.workload, "input_tokens", None)
        return value if isinstance(value, int) else None

    @property
    def name(self) -> str:
        """The target, and the step when the target has several runs in one table."""
        return f"{self.target} {self.label}"


@dataclass(frozen=True, slots=True)
class ReportSource:
    directory: Path
    kind: str  # "run" | "study"
    title: str
    entries: tuple[RunEntry, ...]
    study: StudyIndex | ComparisonIndex | None = None
    warnings: tuple[str, ...] = ()

    def targets(self) -> list[str]:
        """Target names in the order they first appear."""
        return list(dict.fromkeys(e.target for e in self.entries))

    def name_of(self, entry: RunEntry) -> str:
        """The target alone when it has one run here, else the target and the step."""
        alone = sum(e.target == entry.target for e in self.entries) == 1
        return entry.target if alone else entry.name

    def scenario(self, name: str) -> list[RunEntry]:
        return [e for e in self.entries if e.scenario == name]

    def headline_entries(self) -> list[RunEntry]:
        """The runs of the per-target tables: the baseline scenario's, else every run."""
        return self.scenario("baseline") or list(self.entries)


def load_source(directory: Path) -> ReportSource:
    """A run directory (run.json) or a study directory (study.json and its step directories)."""
    if (directory / STUDY_FILE).is_file():
        index = load_any_study(directory)
        if isinstance(index, ComparisonIndex):
            return _comparison_source(directory, index)
        return _study_source(directory, index)
    if not (directory / RUN_FILE).is_file():
        raise StoreError(
            f"{directory} holds neither {RUN_FILE} nor {STUDY_FILE}",
            hint="pass a run's results directory or a study directory",
        )
    run = read_run_file(directory / RUN_FILE)
    entry = RunEntry(directory, run, run.target.id, "baseline", run.run_id)
    return ReportSource(directory, "run", run.run_id, (entry,))


def _study_source(directory: Path, index: StudyIndex) -> ReportSource:
    scenario = SCENARIO_OF_STUDY.get(index.study, index.study)
    entries, warnings = [], []
    for step in index.steps:
        path = directory / step.dir / RUN_FILE
        if not path.is_file():
            warnings.append(f"{path} is missing: step {step.label} left out")
            continue
        run = read_run_file(path)
        entries.append(RunEntry(directory / step.dir, run, run.target.id, scenario, step.label))
    title = f"{index.study} ({directory.name})"
    return ReportSource(directory, "study", title, tuple(entries), index, tuple(warnings))


def _comparison_source(directory: Path, index: ComparisonIndex) -> ReportSource:
    """A comparison study's runs that finished (their run.json has a summary), named by the
    study's target names; a step with repeats gets a row per repeat (`c4 r2`)."""
    kinds = {s.name: s.kind for s in index.scenarios}
    repeated = any(r.repeat > 1 for r in index.runs)
    entries, warnings = [], []
    for planned in sorted(index.runs, key=_plan_order(index)):
        path = directory / planned.dir / RUN_FILE
        if planned.status != "complete":
            why = f": {planned.error}" if planned.error else ""
            warnings.append(f"{planned.dir}: {planned.status}{why}")
            continue
        if not path.is_file():
            warnings.append(f"{path} is missing: run {planned.dir} left out")
            continue
        label = planned.step + (f" r{planned.repeat}" if repeated else "")
        entries.append(
            RunEntry(
                directory / planned.dir,
                read_run_file(path),
                planned.target,
                kinds.get(planned.scenario, planned.scenario),
                label,
            )
        )
    title = index.name or directory.name
    return ReportSource(directory, "study", title, tuple(entries), index, tuple(warnings))


def _plan_order(index: ComparisonIndex) -> Callable[[ComparisonRun], tuple[int, int, int, int]]:
    """Runs by target (the spec's order), scenario, step and repeat: tables read down a
    target's steps whatever order the study ran them in."""
    targets = {t.name: k for k, t in enumerate(index.targets)}
    scenarios = {s.name: k for k, s in enumerate(index.scenarios)}
    steps = {(s.name, step): k for s in index.scenarios for k, step in enumerate(s.steps)}

    def key(run: ComparisonRun) -> tuple[int, int, int, int]:
        return (
            targets.get(run.target, len(targets)),
            scenarios.get(run.scenario, 0),
            steps.get((run.scenario, run.step), 0),
            run.repeat,
        )

    return key


@dataclass(frozen=True, slots=True)
class Samples:
    """A run's measured ok requests in send order: seconds from the run's start, latency in ms,
    and where each request belongs in an agent workload (turn, step)."""

    sent_s: np.ndarray[Any, np.dtype[np.float64]]
    ttft_ms: np.ndarray[Any, np.dtype[np.float64]]  # NaN: no first token (not streamed)
    e2e_ms: np.ndarray[Any, np.dtype[np.float64]]
    turns: tuple[int | None, ...]
    steps: tuple[str | None, ...]


def read_samples(entry: RunEntry) -> Samples:
    """The measured (not warm-up) ok requests of records.jsonl: the requests the run's latency
    statistics describe."""
    origin = entry.run.clock.monotonic_ns_at_start
    rows = []
    for record in iter_records(entry.directory / RECORDS_FILE, []):
        if record.ok and not record.warmup:
            ttft, e2e = ttft_ns(record), e2e_ns(record)
            rows.append(
                (
                    (record.sent_ns - origin) / 1e9,
                    np.nan if ttft is None else ttft / MS,
                    np.nan if e2e is None else e2e / MS,
                    record.turn,
                    record.step_id,
                )
            )
    rows.sort(key=lambda row: row[0])
    return Samples(
        sent_s=np.array([r[0] for r in rows], dtype=np.float64),
        ttft_ms=np.array([r[1] for r in rows], dtype=np.float64),
        e2e_ms=np.array([r[2] for r in rows], dtype=np.float64),
        turns=tuple(r[3] for r in rows),
        steps=tuple(r[4] for r in rows),
    )


def read_tasks(entry: RunEntry) -> list[TaskRecord]:
    return list(iter_tasks(entry.directory / TASKS_FILE, []))


def has_tasks(entry: RunEntry) -> bool:
    return (entry.directory / TASKS_FILE).is_file()


@dataclass(frozen=True, slots=True)
class MonitorPoint:
    """One monitors.jsonl sample: seconds from the run's start, CPU % of one core, memory MiB."""

    t_s: float
    client_cpu: float | None
    target_cpu: float | None
    host_cpu: float | None
    client_mib: float | None
    target_mib: float | None


def read_monitor_series(entry: RunEntry) -> list[MonitorPoint]:
    """The run's monitors.jsonl (empty without a monitors block or file)."""
    block = entry.run.monitors
    if block is None:
        return []
    path = entry.directory / block.file
    if not path.is_file():
        return []
    origin = entry.run.clock.monotonic_ns_at_start
    return [_point(sample, origin) for sample in _json_lines(path)]


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for line in f:
            if line.endswith(b"\n") and line.strip():  # a torn last line: the run was killed
                yield orjson.loads(line)


def _point(sample: dict[str, Any], origin_ns: int) -> MonitorPoint:
    client, target, host = sample.get("client") or {}, sample.get("target") or {}, sample["host"]

    def mib(group: dict[str, Any]) -> float | None:
        rss = group.get("rss_bytes")
        return None if rss is None else rss / 2**20

    return MonitorPoint(
        t_s=(sample["t_ns"] - origin_ns) / 1e9,
        client_cpu=client.get("cpu_percent"),
        target_cpu=target.get("cpu_percent"),
        host_cpu=host.get("cpu_percent"),
        client_mib=mib(client),
        target_mib=mib(target),
    )
