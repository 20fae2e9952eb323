"""`llmbench study SPEC.yaml` and `llmbench demo`: a comparison study run with a progress bar per
scenario, then the seed's tables. Imported lazily by the commands (it pulls in the measuring
stack).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from llmbench.cli.execution import _prepare_process, stderr, stdout
from llmbench.cli.reporting import rich_table
from llmbench.config.ray import RaySettings
from llmbench.config.study_file import StudyFile, load_study_file
from llmbench.engine.loop import loop_factory
from llmbench.metrics.columns import ColumnRow
from llmbench.report.document import build_document
from llmbench.report.files import write_report
from llmbench.report.messages import Messages
from llmbench.report.source import ReportSource, load_source
from llmbench.sim.twin.presets import BUILTIN
from llmbench.store.study_schema import ComparisonIndex, ComparisonRun
from llmbench.study.comparison import run_comparison
from llmbench.study.on_ray import StudyRay, plan_ray, ray_session
from llmbench.study.plan import PlannedRun, plan_study
from llmbench.study.targets import check_keys, started_targets

DEMO_SPEC = "demo.yaml"


class ScenarioBars:
    """One bar per scenario, in requests (warm-up included), with an ETA; the run in progress
    is named on its scenario's bar."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[scenario]:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[now]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._bars: dict[str, TaskID] = {}

    def study_started(self, runs: list[PlannedRun], done: set[int]) -> None:
        totals: dict[str, tuple[int | None, int]] = {}
        for run in runs:
            # An agent loop's or a task file's requests are known only as they are made.
            scripted = run.spec.agent_loop is not None or run.spec.tasks is not None
            n = None if scripted else run.spec.load.total_requests or 0
            total, completed = totals.get(run.scenario, (0, 0))
            totals[run.scenario] = (
                None if total is None or n is None else total + n,
                completed + (n or 0 if run.order in done else 0),
            )
        for scenario, (total, completed) in totals.items():
            self._bars[scenario] = self._progress.add_task(
                scenario, total=total, completed=completed, scenario=scenario, now=""
            )

    def run_started(self, run: PlannedRun) -> None:
        self._progress.update(self._bars[run.scenario], now=f"{run.target} {run.step.label}")

    def record(self, run: PlannedRun, row: ColumnRow) -> None:
        self._progress.advance(self._bars[run.scenario])

    def run_finished(self, run: PlannedRun, entry: ComparisonRun) -> None:
        if entry.status != "complete":
            why = f": {entry.error}" if entry.error else ""
            self._progress.console.print(f"run {entry.dir}: {entry.status}{why}", highlight=False)
        self._progress.update(self._bars[run.scenario], now="")

    def __enter__(self) -> ScenarioBars:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()


async def _study_async(
    study: StudyFile, directory: Path, resume: bool, ray: StudyRay | None
) -> ComparisonIndex:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with started_targets(study, os.environ) as targets, ScenarioBars(stderr) as bars:
        async with ray_session(ray):
            return await run_comparison(
                study, directory, targets, resume=resume, stop=stop, observer=bars, ray=ray
            )


def run_study(
    study: StudyFile,
    output_dir: Path | None,
    *,
    resume: bool,
    on_done: Callable[[Path], None] | None = None,
    ray: RaySettings | None = None,
) -> ComparisonIndex:
    """Runs the study into `output_dir` (default results/<timestamp>-study) and prints the
    seed's tables; `on_done` is then given the study directory (recording into the history).
    With `ray`, every run's load workers are Ray actors (docs/distributed.md)."""
    _prepare_process()
    plan = plan_study(study)  # a scenario that makes no valid run spec fails before anything
    check_keys(study, os.environ)
    on_ray = None if ray is None else plan_ray(plan.runs, ray)
    if on_ray is not None and on_ray.in_process:
        stderr.print(
            f"--ray: {len(on_ray.in_process)} of {len(plan.runs)} runs are agent workloads: "
            "they run in this process, the others' workers on Ray",
            highlight=False,
        )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    directory = output_dir or Path("results") / f"{stamp}-study"
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        index = runner.run(_study_async(study, directory, resume, on_ray))
    show_study(index, directory)
    if on_done is not None:
        on_done(directory)
    return index


def _report_files(source: ReportSource) -> list[str]:
    """report.md and report.html beside the runs; the lines that say where (or why not)."""
    lines = []
    for fmt in ("md", "html"):
        try:
            written = write_report(source, fmt, "en", None)
        except ModuleNotFoundError as exc:  # jinja2, plotly: the `report` extra
            lines.append(f"report.{fmt}: needs {exc.name}: pip install 'llmbench[report]'")
            continue
        lines += [f"report: {path}" for path in written.paths]
        lines += [f"note: {note}" for note in written.notes]
    return lines


def show_study(index: ComparisonIndex, directory: Path, *, files: bool = True) -> None:
    """The seed's tables and the comparison sentences, from the stored results alone; with
    `files`, report.md and report.html written beside them."""
    m = Messages("en")
    source = load_source(directory)
    document = build_document(source, m)
    for table in document.tables:
        if table.key != "environment":
            stdout.print(rich_table(table))
    if document.comparison.sentences:
        stdout.print(Text(m("comparison.sentences"), style="bold"))
    for sentence in document.comparison.sentences:
        stdout.print(Text(f"- {sentence}"))
    for note in document.comparison.notes:
        stdout.print(Text(note, style="dim"))
    complete = sum(r.status == "complete" for r in index.runs)
    failed = sum(r.status == "failed" for r in index.runs)
    left = len(index.runs) - complete - failed
    stdout.print(
        f"study {index.status}: {complete} of {len(index.runs)} runs complete, {failed} failed, "
        f"{left} not run; results: {directory}" + (" (--resume to finish)" if left else ""),
        highlight=False,
    )
    for line in _report_files(source) if files else []:
        stdout.print(line, highlight=False, markup=False)


def load_spec(path: Path) -> StudyFile:
    return load_study_file(path, list(BUILTIN))


def demo_spec() -> StudyFile:
    """The built-in study shipped in the package (llmbench/study/specs/demo.yaml)."""
    source = resources.files("llmbench.study") / "specs" / DEMO_SPEC
    with resources.as_file(source) as path:
        return load_spec(path)
