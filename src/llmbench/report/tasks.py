"""The terminal's task lines: what run.json's `tasks` block says (docs/metrics.md)."""

from __future__ import annotations

from rich.text import Text

from llmbench.config.tasks import TasksSpec
from llmbench.store.blocks import Distribution
from llmbench.store.run_schema import RunResult
from llmbench.store.task_schema import TaskSummary


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
            + (f", interrupted {c.interrupted}" if c.interrupted else "")
            + f"   {rate} tasks/s   completion (ms, ok tasks) {_dist(tasks.task_completion_ms)}"
        ),
    ]
    if tasks.service is None:
        lines.append(
            Text(
                f"tasks critical path mean {_ms(tasks.critical_path_ms.mean)} ms vs Σ step "
                f"times mean {_ms(tasks.step_time_sum_ms.mean)} ms"
            )
        )
    else:
        lines += service_lines(tasks)
    status, artifact = tasks.task_first_status_ms, tasks.task_first_artifact_ms
    if (status is not None and status.n) or (artifact is not None and artifact.n):
        lines.append(
            Text(
                f"task events P50 (ms, ok tasks) first status {_p50(status)}, first artifact "
                f"{_p50(artifact)}, terminal {_p50(tasks.task_completion_ms)} (not TTFT: events, "
                "not tokens)"
            )
        )
    if tasks.censoring.censored:
        lines.append(
            Text(
                f"! {tasks.censoring.censored} task(s) timed out or cancelled: kept as censored "
                "(in task_elapsed_ms at their cut), not in the completion statistics",
                style="yellow",
            )
        )
    return lines


def _p50(stats: Distribution | None) -> str:
    return "–" if stats is None else _ms(stats.p50)


def service_lines(tasks: TaskSummary) -> list[Text]:
    """An agent service's tasks: accept, first event and message, corrected completion, agent
    time, and how the ends were seen (the polling bound)."""
    service = tasks.service
    assert service is not None
    corrected = tasks.task_completion_corrected_ms
    polling = service.polling
    bound = "" if polling.max_bound_ms is None else f" (known to ≤{_ms(polling.max_bound_ms)} ms)"
    every = "–" if polling.poll_interval_ms is None else _ms(polling.poll_interval_ms)
    return [
        Text(
            f"service P50 (ms) accept {_p50(tasks.task_accept_ms)}, first event "
            f"{_p50(tasks.task_first_event_ms)}, first message {_p50(tasks.task_first_message_ms)}"
            f", completion corrected {_p50(corrected)}, agent time (no waiting) "
            f"{_p50(service.agent_time_ms)}; {service.waiting_ms.n} task(s) waited for a human"
        ),
        Text(
            f"ends seen by poll {polling.ended_by_poll}{bound}, by webhook "
            f"{polling.ended_by_webhook}; polls {polling.polls} every {every} ms, "
            f"{polling.polls_throttled} answered 429: a polled end is known to within one "
            "interval (completion raw = its upper bound, corrected = the middle)"
        ),
    ]
