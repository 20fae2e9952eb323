"""What the commands do once their flags are valid: start the embedded target, run, print.
Imported lazily by `cli/commands.py`, since it pulls in the whole measuring stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from llmbench.cli.progress import RunProgress
from llmbench.cli.reporting import seed_tables
from llmbench.config import RunSpec
from llmbench.config.load import profile_name
from llmbench.engine.loop import loop_factory
from llmbench.metrics.summary import summarize_run, three_sigma
from llmbench.report.load import load_lines, study_summary
from llmbench.report.messages import Lang
from llmbench.report.terminal import RunView, run_summary, three_sigma_table
from llmbench.run.execute import Target, default_run_id, execute_run
from llmbench.run.sessions import recomputed_sessions
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import load_run_columns
from llmbench.store.run_schema import RunResult, RunSummaryParts, SpecSource
from llmbench.store.study_index import STUDY_FILE, load_any_study
from llmbench.store.study_schema import StudyIndex
from llmbench.study.runner import is_study, run_study
from llmbench.workload.dag import load_tasks

# Piped output (files, CI logs) gets room for the full tables instead of rich's default 80.
stdout = Console(width=None if sys.stdout.isatty() else 140)
stderr = Console(stderr=True)


async def _run_async(
    spec: RunSpec,
    target: Target,
    output_dir: Path,
    api_key: str | None,
    spec_source: SpecSource | None = None,
) -> RunResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    total = spec.load.total_requests
    with RunProgress(stderr, total=total, duration_s=spec.load.duration_s) as progress:
        return await execute_run(
            spec,
            target,
            output_dir,
            api_key=api_key,
            stop=stop,
            on_record=progress.update,
            spec_source=spec_source,
        )


def _prepare_process() -> None:
    """Room for many sockets, and no GC pauses scanning the start-up objects during the load."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gc.collect()
    gc.freeze()  # everything alive now (modules, specs) moves out of the collector's sight


async def _study_async(
    spec: RunSpec,
    target: Target,
    parent: Path,
    api_key: str | None,
    spec_source: SpecSource | None = None,
) -> StudyIndex:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def run_step(step: RunSpec, directory: Path) -> RunResult:
        load = step.load
        stderr.print(f"step {directory.name}: {profile_name(load.model_dump())}", highlight=False)
        with RunProgress(stderr, total=load.total_requests, duration_s=load.duration_s) as progress:
            run = await execute_run(
                step,
                target,
                directory,
                api_key=api_key,
                stop=stop,
                on_record=progress.update,
                spec_source=spec_source,
            )
        for line in load_lines(run):
            stderr.print(line)
        return run

    return await run_study(spec, parent, run_step, stop=stop)


def execute(
    spec: RunSpec,
    output_dir: Path | None,
    api_key: str | None,
    spec_source: SpecSource | None = None,
    on_done: Callable[[Path], None] | None = None,
) -> RunResult | StudyIndex:
    """Starts the embedded target when no URL is given, runs, and prints the summary.
    `spec_source` (spec file, its hash, the variables and flags used) goes into run.json;
    `on_done` is given the results directory at the end (recording into the history)."""
    _prepare_process()
    if spec.tasks is not None:  # a bad task file is refused before the target sees anything
        load_tasks(Path(spec.tasks.file))
    sim: EmbeddedSim | None = None
    if spec.target.base_url is None:
        sim = EmbeddedSim(spec.sim)
        target = Target(sim.start(), embedded_sim=spec.sim, pid=sim.pid)
    else:
        target = Target(spec.target.base_url)
    try:
        directory = output_dir or Path("results") / default_run_id(spec, target)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            if is_study(spec):
                index = runner.run(_study_async(spec, target, directory, api_key, spec_source))
            else:
                run = runner.run(_run_async(spec, target, directory, api_key, spec_source))
    finally:
        if sim is not None:
            sim.stop()
    if is_study(spec):
        stdout.print(study_summary(index, str(directory)))
    else:
        stdout.print(run_summary(run))
        stdout.print(f"results: {directory}")
    if on_done is not None:
        on_done(directory)
    return index if is_study(spec) else run


def show_report(directory: Path, view: str, lang: Lang = "en") -> None:
    """Prints a stored run; a run that died before its summary is summarized from its records.
    A study directory (sweep, search, repeats) prints its step table, then the seed's tables
    (as `--lang zh` adds them, in Chinese, after a run's summary)."""
    if (directory / STUDY_FILE).exists():
        index = load_any_study(directory)
        if isinstance(index, StudyIndex):  # a comparison study has no step table of its own
            stdout.print(study_summary(index, str(directory)))
        stdout.print(seed_tables(directory, lang))
        return
    loaded = load_run_columns(directory)  # streamed: memory flat in the number of records
    run = loaded.run
    shown = RunView(run, None, "incomplete") if run is None else RunView.of(run)
    if shown.parts is None:
        seed = run.spec.seed if run is not None else 0
        parts = RunSummaryParts.model_validate(summarize_run(loaded.columns, seed=seed))
        shown = RunView(run, parts, "incomplete")
        loaded.warnings.append(
            "no summary in run.json (killed, or still running): recomputed from records.jsonl"
        )
        if run is not None and run.sessions is None:  # a session run's table, recomputed too
            sessions = recomputed_sessions(run.spec, directory)
            if sessions is not None:
                shown = RunView(run.model_copy(update={"sessions": sessions}), parts, "incomplete")
    if view == "3sigma":
        stdout.print(three_sigma_table(three_sigma(loaded.columns, seed=0)))
        return
    stdout.print(run_summary(shown, loaded.warnings))
    if lang != "en" and run is not None:
        stdout.print(seed_tables(directory, lang))
