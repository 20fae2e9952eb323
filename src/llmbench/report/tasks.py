"""The terminal's task lines: what run.json's `tasks` block says (docs/metrics.md)."""

from __future__ import annotations

from rich.text import Text

from llmbench.config.tasks import TasksSpec
from llmbench.store.blocks import Distribution
from llmbench.store.run_schema import RunResult


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _dist(stats: Distribution) -> str:
    return f"mean {_ms(stats.mean)} P50 {_ms(stats.p50)} P95 {_ms(stats.p95)} max {_ms(stats.max)}"


def task_load(spec: TasksSpec) -> str:
    """The header's load for a task run: the file, the mode and its step limit, the repeats."""
    limit = 1 if spec.mode == "sequential" else spec.concurrency
    return f"tasks {spec.file} {spec.mode} (≤{limit} steps at once) ×{spec.repeat}"


def task_lines(run: RunResult | None) -> list[Text]:
    """Counts, completion time, critical path vs Σ step times, tasks/s; none without tasks."""
    tasks = run.tasks if run is not None else None
    if tasks is None:
        return []
    c = tasks.counts
    rate = "–" if tasks.tasks_per_s is None else f"{tasks.tasks_per_s:.2f}"
    lines = [
        Text(
            f"tasks ok {c.ok}, error {c.error}, timeout {c.timeout}, cancelled {c.cancelled}"
            f"   {rate} tasks/s   completion (ms, ok tasks) {_dist(tasks.task_completion_ms)}"
        ),
        Text(
            f"tasks critical path mean {_ms(tasks.critical_path_ms.mean)} ms vs Σ step times "
            f"mean {_ms(tasks.step_time_sum_ms.mean)} ms"
        ),
    ]
    if tasks.censoring.censored:
        lines.append(
            Text(
                f"! {tasks.censoring.censored} task(s) timed out or cancelled: kept as censored "
                "(in task_elapsed_ms at their cut), not in the completion statistics",
                style="yellow",
            )
        )
    return lines
