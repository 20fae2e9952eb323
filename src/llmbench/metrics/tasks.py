"""Task metrics: what a run's `TaskRecord`s (DAG tasks, agent loops, agent-service tasks) add
up to, beside the request summary. Formulas in docs/metrics.md ("Task metrics").

Warm-up tasks are counted and excluded from everything else. Completion-time statistics cover
**ok** measured tasks; a task cut at its timeout is a censored observation (its completion is
only known to exceed the time it ran): it is counted, its elapsed time kept in
`task_elapsed_ms` (every measured task that ended, at its end), never dropped and never mixed
into `task_completion_ms` as if it had finished. Tasks at an agent service add time to accept,
to the first event and message, completion corrected for the polling bound, agent time net of
waiting for a human, events and polls per task (`summarize_service`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from llmbench.metrics.stats import describe
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus, TaskStep

TASK_STATS_OVER = "ok tasks, warm-up excluded"
ELAPSED_STATS_OVER = (
    "every measured task that ended, at its end: a timed-out or cancelled task's value is a "
    "lower bound of its completion time (censored)"
)
STEP_STATS_OVER = "ok steps of measured tasks"
MAX_STEP_KEYS = 200  # per-step entries listed; `steps_listed` says how many there were
_NS_PER_MS = 1e6


def _ms(values: Iterable[int]) -> list[float]:
    return [v / _NS_PER_MS for v in values]


def step_duration_ns(step: TaskStep) -> int | None:
    """How long a step ran (ended − started); None for a step that never ran or never ended."""
    if step.started_ns is None or step.ended_ns is None:
        return None
    return step.ended_ns - step.started_ns


def critical_path_ns(steps: Sequence[TaskStep]) -> int | None:
    """The longest chain of step durations through the dependencies: the least time the task
    could take with unbounded concurrency and no overhead. None when a step has no duration."""
    by_id = {step.step_id: step for step in steps}
    finish: dict[str, int] = {}

    def longest(step_id: str, seen: frozenset[str]) -> int | None:
        if step_id in finish:
            return finish[step_id]
        step = by_id.get(step_id)
        own = None if step is None or step_id in seen else step_duration_ns(step)
        if step is None or own is None:
            return None
        before = 0
        for dep in step.depends_on:
            upstream = longest(dep, seen | {step_id})
            if upstream is None:
                return None
            before = max(before, upstream)
        finish[step_id] = before + own
        return finish[step_id]

    ends = [longest(step.step_id, frozenset()) for step in steps]
    if not ends or any(end is None for end in ends):
        return None
    return max(end for end in ends if end is not None)


def step_time_sum_ns(steps: Sequence[TaskStep]) -> int | None:
    """The sum of every step's duration: what one-step-at-a-time would take without overhead."""
    durations = [step_duration_ns(step) for step in steps]
    if not durations or any(d is None for d in durations):
        return None
    return sum(d for d in durations if d is not None)


def _counts(tasks: Sequence[TaskRecord]) -> dict[str, int]:
    out = {status.value: 0 for status in TaskStatus}
    for task in tasks:
        out[task.status.value] += 1
    return out


def _rates(measured: Sequence[TaskRecord]) -> dict[str, float | None]:
    ended = [task.ended_ns for task in measured if task.ended_ns is not None]
    if not ended:
        return {"tasks_per_s": None, "duration_s": None}
    duration_ns = max(ended) - min(task.submitted_ns for task in measured)
    duration_s = duration_ns / 1e9 if duration_ns > 0 else None
    n_ok = sum(task.ok for task in measured)
    return {"tasks_per_s": n_ok / duration_s if duration_s else None, "duration_s": duration_s}


def _step_key(task: TaskRecord, step: TaskStep) -> str:
    return f"{task.name}/{step.step_id}"


def _steps(measured: Sequence[TaskRecord], seed: int) -> dict[str, Any]:
    """Per step (`task name/step id`): counts by status and the ok steps' durations, TTFT, E2E."""
    grouped: dict[str, list[TaskStep]] = defaultdict(list)
    for task in measured:
        for step in task.steps:
            grouped[_step_key(task, step)].append(step)
    out: dict[str, Any] = {}
    for key in list(grouped)[:MAX_STEP_KEYS]:
        steps = grouped[key]
        ok = [step for step in steps if step.status is StepStatus.OK]
        counts = {status.value: 0 for status in StepStatus}
        for step in steps:
            counts[step.status.value] += 1
        durations = [d for d in map(step_duration_ns, ok) if d is not None]
        out[key] = {
            "kind": steps[0].kind,
            "counts": counts,
            "duration_ms": describe(_ms(durations), seed=seed),
            "ttft_ms": describe(_ms(s.ttft_ns for s in ok if s.ttft_ns is not None), seed=seed),
            "e2e_ms": describe(_ms(s.e2e_ns for s in ok if s.e2e_ns is not None), seed=seed),
        }
    return out


CENSORED_STATUSES = (TaskStatus.TIMEOUT, TaskStatus.CANCELLED)


def censored_by_category(measured: Sequence[TaskRecord]) -> dict[str, int]:
    """Censored tasks (cut before they finished) by why: `step_cap`, `timeout`, `cancelled`."""
    out: dict[str, int] = {}
    for task in measured:
        if task.status in CENSORED_STATUSES:
            why = task.error.category if task.error is not None else task.status.value
            out[why] = out.get(why, 0) + 1
    return dict(sorted(out.items()))


def _censoring(measured: Sequence[TaskRecord]) -> dict[str, Any]:
    cut = [t for t in measured if t.status in CENSORED_STATUSES]
    elapsed = [t.completion_ns for t in cut if t.completion_ns is not None]
    return {
        "censored": len(cut),
        "by_category": censored_by_category(measured),
        "min_censored_at_ms": min(elapsed) / _NS_PER_MS if elapsed else None,
        "note": "timed-out (step-capped included) and cancelled tasks are kept: counted, and in "
        "task_elapsed_ms at the time they were cut; task_completion_ms covers ok tasks only",
    }


# ---- agent-service tasks: created at a service, followed by polling or webhooks ----

FIRST_MESSAGE_KINDS = frozenset({"assistant_message"})
POLL_BOUND_NOTE = (
    "a task end seen by polling happened after the previous poll was sent: it is known to "
    "within one poll interval; task_completion_ms is its upper bound (the raw value), "
    "task_completion_corrected_ms the middle of that interval. Webhook-seen ends are exact to "
    "the delivery."
)


def _since_submit(tasks: Sequence[TaskRecord], at: Any) -> list[float]:
    out = []
    for task in tasks:
        value = at(task)
        if value is not None:
            out.append((value - task.submitted_ns) / _NS_PER_MS)
    return out


def _first_event_ns(task: TaskRecord) -> int | None:
    return min((e.arrived_ns for e in task.events), default=None)


def _first_message_ns(task: TaskRecord) -> int | None:
    arrived = (e.arrived_ns for e in task.events if e.kind in FIRST_MESSAGE_KINDS)
    return min(arrived, default=None)


STATUS_KINDS = frozenset({"status-update", "status_update"})  # A2A's, a task API's
ARTIFACT_KINDS = frozenset({"artifact-update"})


def _first_of(kinds: frozenset[str]) -> Callable[[TaskRecord], int | None]:
    """The arrival of a task's first event of one of `kinds` (None: it had none)."""

    def first(task: TaskRecord) -> int | None:
        return min((e.arrived_ns for e in task.events if e.kind in kinds), default=None)

    return first


def _polling(measured: Sequence[TaskRecord], ok: Sequence[TaskRecord]) -> dict[str, Any]:
    bounds = [
        (t.ended_ns - t.ended_not_before_ns) / _NS_PER_MS
        for t in ok
        if t.ended_ns is not None and t.ended_not_before_ns is not None
    ]
    both = [
        (t.ended_poll_ns - t.ended_webhook_ns) / _NS_PER_MS
        for t in ok
        if t.ended_poll_ns is not None and t.ended_webhook_ns is not None
    ]
    intervals = {t.poll_interval_ms for t in measured if t.poll_interval_ms is not None}
    return {
        "poll_interval_ms": max(intervals) if intervals else None,
        "ended_by_poll": sum(t.ended_via == "poll" for t in ok),
        "ended_by_webhook": sum(t.ended_via == "webhook" for t in ok),
        "max_bound_ms": max(bounds) if bounds else None,
        "polls": sum(t.polls for t in measured),
        "polls_throttled": sum(t.polls_throttled for t in measured),
        "throttled_wait_ms": sum(t.throttled_ns for t in measured) / _NS_PER_MS,
        "note": POLL_BOUND_NOTE,
        "poll_minus_webhook_ms": both,
    }


def summarize_service(tasks: Sequence[TaskRecord], *, seed: int = 0) -> dict[str, Any]:
    """The agent-service keys of the `tasks` block; empty when no task went to a service."""
    measured = [t for t in tasks if not t.warmup]
    if not any(t.accepted_ns is not None or t.provider_task_id for t in measured):
        return {}
    ok = [t for t in measured if t.ok]
    corrected = [t.completion_corrected_ns for t in ok]
    agent = [t.completion_ns - t.waiting_ns for t in ok if t.completion_ns is not None]
    polling = _polling(measured, ok)
    differences = polling.pop("poll_minus_webhook_ms")
    return {
        "task_accept_ms": describe(_since_submit(measured, lambda t: t.accepted_ns), seed=seed),
        "task_first_event_ms": describe(_since_submit(ok, _first_event_ns), seed=seed),
        "task_first_message_ms": describe(_since_submit(ok, _first_message_ns), seed=seed),
        "task_completion_corrected_ms": describe(
            [c / _NS_PER_MS for c in corrected if c is not None], seed=seed
        ),
        "task_first_status_ms": describe(_since_submit(ok, _first_of(STATUS_KINDS)), seed=seed),
        "task_first_artifact_ms": describe(_since_submit(ok, _first_of(ARTIFACT_KINDS)), seed=seed),
        "service": {
            "agent_time_ms": describe([a / _NS_PER_MS for a in agent], seed=seed),
            "waiting_ms": describe(
                [t.waiting_ns / _NS_PER_MS for t in ok if t.waiting_ns], seed=seed
            ),
            "events_per_task": describe([float(len(t.events)) for t in ok], seed=seed),
            "polls_per_task": describe([float(t.polls) for t in ok], seed=seed),
            "credits_per_task": describe(
                [t.credits for t in ok if t.credits is not None], seed=seed
            ),
            "poll_minus_webhook_ms": describe(differences, seed=seed),
            "polling": polling,
        },
    }


def summarize_tasks(tasks: Sequence[TaskRecord], *, seed: int = 0) -> dict[str, Any]:
    """JSON-ready `tasks` block of run.json (`store.task_schema.TaskSummary`)."""
    measured = [task for task in tasks if not task.warmup]
    ok = [task for task in measured if task.ok]
    completion = [t.completion_ns for t in ok if t.completion_ns is not None]
    elapsed = [t.completion_ns for t in measured if t.completion_ns is not None]
    critical = [c for c in (critical_path_ns(t.steps) for t in ok if t.steps) if c is not None]
    summed = [s for s in (step_time_sum_ns(t.steps) for t in ok if t.steps) if s is not None]
    steps = _steps(measured, seed)
    n_keys = len({_step_key(t, s) for t in measured for s in t.steps})
    return {
        "covers": {
            "tasks": len(tasks),
            "warmup": len(tasks) - len(measured),
            "measured": len(measured),
            "ok": len(ok),
            "stats_over": TASK_STATS_OVER,
            "elapsed_stats_over": ELAPSED_STATS_OVER,
            "step_stats_over": STEP_STATS_OVER,
        },
        "counts": _counts(measured),
        "censoring": _censoring(measured),
        "task_completion_ms": describe(_ms(completion), seed=seed),
        "task_elapsed_ms": describe(_ms(elapsed), seed=seed),
        "critical_path_ms": describe(_ms(critical), seed=seed),
        "step_time_sum_ms": describe(_ms(summed), seed=seed),
        **_rates(measured),
        "steps": steps,
        "steps_listed": {"listed": len(steps), "total": n_keys},
        **summarize_service(tasks, seed=seed),
    }
