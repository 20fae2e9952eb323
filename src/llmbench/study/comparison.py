"""Runs a comparison study into one directory: study.json (every planned run, `pending` until it
has run) and one run directory per (target, scenario, step[, repeat]), each a complete
`execute_run` result. study.json is rewritten after every run, so a stopped or killed study keeps
every finished run; `resume` reruns exactly the runs that did not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from llmbench.config.study_file import StudyFile
from llmbench.errors import ConfigError, LlmbenchError, StoreError
from llmbench.metrics.columns import ColumnRow
from llmbench.monitor.environment import capture_environment
from llmbench.redaction import public_url
from llmbench.run.execute import execute_run
from llmbench.store.results import read_run_file
from llmbench.store.run_schema import Environment, RunResult
from llmbench.store.study_index import STUDY_FILE, load_any_study, write_study_index
from llmbench.store.study_schema import (
    ComparisonIndex,
    ComparisonRun,
    ComparisonScenario,
    RunHeadline,
)
from llmbench.study.on_ray import StudyRay
from llmbench.study.plan import Plan, PlannedRun, plan_study
from llmbench.study.scenarios import scenario_steps
from llmbench.study.targets import StartedTarget


class StudyObserver(Protocol):
    """What a progress display is told while a study runs."""

    def study_started(self, runs: list[PlannedRun], done: set[int]) -> None: ...
    def run_started(self, run: PlannedRun) -> None: ...
    def record(self, run: PlannedRun, row: ColumnRow) -> None: ...
    def run_finished(self, run: PlannedRun, entry: ComparisonRun) -> None: ...


def planned_entry(run: PlannedRun) -> ComparisonRun:
    return ComparisonRun(
        order=run.order, target=run.target, scenario=run.scenario, step=run.step.label,
        value=run.step.value, repeat=run.repeat, dir=run.dir, workload_hash=run.workload_hash,
        status="pending",
    )  # fmt: skip


def finished_entry(run: PlannedRun, result: RunResult) -> ComparisonRun:
    headline = RunHeadline.of(result)
    extra = {} if headline is None else {"headline": headline}
    return planned_entry(run).model_copy(
        update={"status": result.status, "run_id": result.run_id, **extra}
    )


def _scenarios(study: StudyFile, plan: Plan) -> list[ComparisonScenario]:
    out = []
    for name, entry in study.scenarios.items():
        steps = scenario_steps(study, name)
        skipped = {t for t, s, _ in plan.skipped if s == name}
        out.append(
            ComparisonScenario(
                name=name, kind=entry.kind, over=steps.over,
                steps=[s.label for s in steps.steps], values=[s.value for s in steps.steps],
                targets=[t for t in study.targets if t not in skipped],
            )
        )  # fmt: skip
    return out


def public_study_spec(study: StudyFile) -> StudyFile:
    """The spec as stored in study.json: endpoint URLs without user:password or query."""
    dumped = study.model_dump(mode="json")
    for target in dumped["targets"].values():
        if target.get("base_url"):
            target["base_url"] = public_url(target["base_url"])
    return StudyFile.model_validate(dumped)


def _finished_before(directory: Path, entry: ComparisonRun) -> bool:
    """A run counts as done on resume when study.json and its own run.json both say complete."""
    if entry.status != "complete":
        return False
    try:
        return read_run_file(directory / entry.dir / "run.json").status == "complete"
    except StoreError:
        return False


def _previous(directory: Path, study: StudyFile, resume: bool) -> ComparisonIndex | None:
    if not (directory / STUDY_FILE).exists():
        if resume:  # a mistyped directory would rerun the whole study
            raise ConfigError(
                f"{directory} holds no study to resume (no {STUDY_FILE})",
                where="--resume",
                hint="check --output-dir, or drop --resume to start the study there",
            )
        return None
    if not resume:
        raise StoreError(
            f"{directory} already holds a study",
            hint="pass --resume to finish it, or choose another --output-dir",
        )
    previous = load_any_study(directory)
    if not isinstance(previous, ComparisonIndex) or previous.spec_hash != study.spec_hash():
        raise StoreError(
            f"{directory}: its study.json is not this study spec's (the spec changed?)",
            hint="resume with the spec it was started with, or choose another --output-dir",
        )
    return previous


def _set_aside(path: Path) -> None:
    """A run directory left by a killed run is kept, renamed, never deleted or reused."""
    if not path.exists():
        return
    n = 1
    while (aside := path.with_name(f"{path.name}.interrupted-{n}")).exists():
        n += 1
    path.rename(aside)


class _Study:
    def __init__(self, directory: Path, index: ComparisonIndex) -> None:
        self.directory, self.index = directory, index

    def set_run(self, entry: ComparisonRun) -> None:
        runs = [entry if r.order == entry.order else r for r in self.index.runs]
        self.index = self.index.model_copy(update={"runs": runs})
        write_study_index(self.directory, self.index)

    def finish(self, status: str) -> ComparisonIndex:
        finished = datetime.now(UTC).isoformat()
        self.index = self.index.model_copy(update={"status": status, "finished_at": finished})
        write_study_index(self.directory, self.index)
        return self.index


def start_index(
    study: StudyFile, directory: Path, targets: dict[str, StartedTarget], resume: bool
) -> tuple[Plan, ComparisonIndex]:
    """The plan, and study.json as it stands before the first run of this invocation."""
    plan = plan_study(study)
    previous = _previous(directory, study, resume)
    done = {}
    if previous is not None:
        done = {r.order: r for r in previous.runs if _finished_before(directory, r)}
    index = ComparisonIndex(
        kind="comparison", name=study.name, status="running", spec=public_study_spec(study),
        spec_hash=study.spec_hash(),
        environment=Environment.model_validate(capture_environment()),
        started_at=previous.started_at if previous else datetime.now(UTC).isoformat(),
        finished_at=None, targets=[t.info for t in targets.values()],
        scenarios=_scenarios(study, plan),
        runs=[done.get(r.order) or planned_entry(r) for r in plan.runs],
        skipped=plan.skipped,
    )  # fmt: skip
    write_study_index(directory, index)
    return plan, index


async def _one(
    run: PlannedRun, target: StartedTarget, state: _Study, stop: asyncio.Event,
    on_record: Callable[[ColumnRow], None], ray: StudyRay | None,
) -> ComparisonRun:  # fmt: skip
    spec = run.spec
    if ray is not None:  # the study's one connection to Ray; if it cannot connect, it stops
        spec = await ray.prepare(run)
    path = state.directory / run.dir
    _set_aside(path)
    state.set_run(planned_entry(run).model_copy(update={"status": "running"}))
    try:
        where = target.for_spec(spec)
        result = await execute_run(
            spec, where, path, api_key=target.api_key, stop=stop, on_record=on_record
        )
    except LlmbenchError as exc:
        entry = planned_entry(run).model_copy(update={"status": "failed", "error": str(exc)})
    else:
        entry = finished_entry(run, result)
    state.set_run(entry)
    return entry


async def run_comparison(
    study: StudyFile,
    directory: Path,
    targets: dict[str, StartedTarget],
    *,
    resume: bool = False,
    stop: asyncio.Event | None = None,
    observer: StudyObserver | None = None,
    ray: StudyRay | None = None,
) -> ComparisonIndex:
    """Runs every planned run not finished yet, in the plan's order (with `ray`, their load
    workers on Ray, study/on_ray.py); returns the final index."""
    stop = stop or asyncio.Event()
    plan, index = start_index(study, directory, targets, resume)
    state = _Study(directory, index)
    done = {r.order for r in index.runs if r.status == "complete"}
    if observer is not None:
        observer.study_started(plan.runs, done)
    ran = 0
    for run in plan.runs:
        if run.order in done:
            continue
        if stop.is_set():
            break
        if ran and study.cooldown_s > 0:
            with contextlib.suppress(TimeoutError):  # the cooldown is the wait's own timeout
                await asyncio.wait_for(stop.wait(), study.cooldown_s)
        if observer is not None:
            observer.run_started(run)

        def on_record(row: ColumnRow, run: PlannedRun = run) -> None:
            if observer is not None:
                observer.record(run, row)

        entry = await _one(run, targets[run.target], state, stop, on_record, ray)
        ran += 1
        if observer is not None:
            observer.run_finished(run, entry)
    unfinished = any(r.status in ("pending", "running", "interrupted") for r in state.index.runs)
    return state.finish("interrupted" if stop.is_set() or unfinished else "complete")
