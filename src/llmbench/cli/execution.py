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
from pathlib import Path
from typing import Any

from rich.console import Console

from llmbench.cli.progress import RunProgress
from llmbench.config import RunSpec
from llmbench.engine.loop import loop_factory
from llmbench.local_target import EmbeddedSim
from llmbench.metrics.summary import summarize_run, three_sigma
from llmbench.report.terminal import run_summary, three_sigma_table
from llmbench.store.results import load_run
from llmbench.study import Target, default_run_id, execute_run

# Piped output (files, CI logs) gets room for the full tables instead of rich's default 80.
stdout = Console(width=None if sys.stdout.isatty() else 140)
stderr = Console(stderr=True)


async def _run_async(
    spec: RunSpec, target: Target, output_dir: Path, api_key: str | None
) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    total = None if spec.load.requests is None else spec.load.requests + spec.load.warmup
    with RunProgress(stderr, total=total, duration_s=spec.load.duration_s) as progress:
        return await execute_run(
            spec, target, output_dir, api_key=api_key, stop=stop, on_record=progress.update
        )


def _prepare_process() -> None:
    """Room for many sockets, and no GC pauses scanning the start-up objects during the load."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gc.collect()
    gc.freeze()  # everything alive now (modules, specs) moves out of the collector's sight


def execute(spec: RunSpec, output_dir: Path | None, api_key: str | None) -> dict[str, Any]:
    """Starts the embedded target when no URL is given, runs, and prints the summary."""
    _prepare_process()
    sim: EmbeddedSim | None = None
    if spec.target.base_url is None:
        sim = EmbeddedSim(spec.sim)
        target = Target(sim.start(), embedded_sim=spec.sim.model_dump(mode="json"))
    else:
        target = Target(spec.target.base_url)
    try:
        directory = output_dir or Path("results") / default_run_id(spec, target)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            run = runner.run(_run_async(spec, target, directory, api_key))
    finally:
        if sim is not None:
            sim.stop()
    stdout.print(run_summary(run))
    stdout.print(f"results: {directory}")
    return run


def show_report(directory: Path, view: str) -> None:
    """Prints a stored run; a run that died before its summary is summarized from its records."""
    loaded = load_run(directory)
    run = dict(loaded.run)
    if "summary" not in run:
        run.update(summarize_run(loaded.records, seed=run.get("spec", {}).get("seed", 0)))
        run["status"] = "incomplete"
        loaded.warnings.append(
            "no summary in run.json (killed, or still running): recomputed from records.jsonl"
        )
    if view == "3sigma":
        stdout.print(three_sigma_table(three_sigma(loaded.records, seed=0)))
        return
    stdout.print(run_summary(run, loaded.warnings))
