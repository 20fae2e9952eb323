"""The seed's "sequential vs concurrent" table for DAG tasks: a task file run in both modes
against the embedded simulator (`llmbench run --tasks FILE --task-mode M`), one row per mode:
tasks/s, task completion (mean, P50, max), critical path and sum of step times (means), and
tasks ok / timed out. Defaults: examples/workloads/fan-out-planner.yaml, 4 instances.

    python benchmarks/task_modes.py [--tasks FILE] [--repeat 4] [--concurrency 8]
        [--sim-ttft-ms 50] [--sim-itl-ms 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).parents[1] / "examples" / "workloads" / "fan-out-planner.yaml"


def run_mode(args: argparse.Namespace, mode: str, out: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "llmbench", "run", "--tasks", str(args.tasks), "--task-mode", mode,
        "--task-repeat", str(args.repeat), "--task-concurrency", str(args.concurrency),
        "--sim-ttft-ms", str(args.sim_ttft_ms), "--sim-itl-ms", str(args.sim_itl_ms),
        "--output-dir", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads((out / "run.json").read_text())["tasks"])


def row(mode: str, tasks: dict[str, Any]) -> str:
    done = tasks["task_completion_ms"]

    def ms(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    rate = tasks["tasks_per_s"]
    counts = tasks["counts"]
    return (
        f"| {mode} | {'–' if rate is None else f'{rate:.2f}'} | {ms(done['mean'])} | "
        f"{ms(done['p50'])} | {ms(done['max'])} | {ms(tasks['critical_path_ms']['mean'])} | "
        f"{ms(tasks['step_time_sum_ms']['mean'])} | {counts['ok']} / {counts['timeout']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, default=EXAMPLE)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sim-ttft-ms", type=float, default=50)
    parser.add_argument("--sim-itl-ms", type=float, default=5)
    args = parser.parse_args()
    print("| mode | tasks/s | completion mean (ms) | P50 | max | critical path | "
          "Σ step times | ok / timeout |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("sequential", "concurrent"):
            print(row(mode, run_mode(args, mode, Path(tmp) / mode)), flush=True)


if __name__ == "__main__":
    main()
