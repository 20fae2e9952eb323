"""run.json's `tasks` block: what `metrics.tasks.summarize_tasks` makes of a run's task records
(docs/metrics.md, "Task metrics"). Absent from runs without tasks and from files before it."""

from __future__ import annotations

from pydantic import Field

from llmbench.store.blocks import Block, Distribution


class TaskCovers(Block):
    tasks: int
    warmup: int
    measured: int
    ok: int
    stats_over: str
    elapsed_stats_over: str
    step_stats_over: str


class TaskCounts(Block):
    """Measured tasks by final status; every task is in exactly one."""

    ok: int
    error: int
    timeout: int = Field(description="cut at its timeout: censored, kept")
    cancelled: int = Field(description="stopped by the user or the end of the run: censored")
    interrupted: int = Field(
        0, description="stopped to ask for input or authorization (A2A input-/auth-required)"
    )


class StepCounts(Block):
    ok: int
    error: int
    timeout: int
    skipped: int = Field(description="never started: a step it depends on failed or timed out")


class StepSummary(Block):
    """One step (`task name/step id`) over the measured tasks that have it."""

    kind: str
    counts: StepCounts
    duration_ms: Distribution = Field(description="ended − started of ok steps")
    ttft_ms: Distribution = Field(description="ok model steps: their request's TTFT")
    e2e_ms: Distribution = Field(description="ok model steps: their request's E2E")


class Censoring(Block):
    censored: int = Field(description="timed-out (step-capped included) + cancelled measured tasks")
    by_category: dict[str, int] = Field(
        default_factory=dict, description="censored tasks by why: step_cap, timeout, cancelled"
    )
    min_censored_at_ms: float | None
    note: str


class StepsListed(Block):
    listed: int
    total: int


class PollingSummary(Block):
    """How agent-service tasks were followed, and the bound polling puts on their ends."""

    poll_interval_ms: float | None
    ended_by_poll: int
    ended_by_webhook: int
    max_bound_ms: float | None = Field(description="widest (poll-seen end − previous poll sent)")
    polls: int
    polls_throttled: int = Field(description="polls answered 429")
    throttled_wait_ms: float = Field(description="time spent honouring their Retry-After")
    note: str


class ServiceSummary(Block):
    agent_time_ms: Distribution = Field(description="completion − waiting for a human, ok tasks")
    waiting_ms: Distribution = Field(description="waiting for a human, tasks that waited")
    events_per_task: Distribution
    polls_per_task: Distribution
    credits_per_task: Distribution = Field(description="as the service reports them, ok tasks")
    poll_minus_webhook_ms: Distribution = Field(
        description="polling and webhooks together: the poll's sighting of the end − the webhook's"
    )
    polling: PollingSummary


class TaskSummary(Block):
    """Task completion, critical path vs the sum of step times, tasks/s, per-step statistics."""

    covers: TaskCovers
    counts: TaskCounts
    censoring: Censoring
    task_completion_ms: Distribution = Field(description="ended − submitted of ok tasks")
    task_elapsed_ms: Distribution = Field(description="every ended task; censored ones at the cut")
    critical_path_ms: Distribution = Field(description="longest dependency chain of step times")
    step_time_sum_ms: Distribution = Field(description="sum of the task's step times")
    tasks_per_s: float | None = Field(description="ok tasks / (last end − first submit)")
    duration_s: float | None
    steps: dict[str, StepSummary]
    steps_listed: StepsListed
    # agent services only (absent for DAG tasks and agent loops)
    task_accept_ms: Distribution | None = Field(None, description="create answered − submitted")
    task_first_event_ms: Distribution | None = Field(
        None, description="first event arrived − submitted, ok tasks"
    )
    task_first_message_ms: Distribution | None = Field(
        None, description="first assistant message arrived − submitted, ok tasks"
    )
    task_completion_corrected_ms: Distribution | None = Field(
        None, description="ok tasks; a poll-seen end moved to the middle of its poll interval"
    )
    task_first_status_ms: Distribution | None = Field(
        None, description="first status-update event arrived − submitted, ok tasks (A2A)"
    )
    task_first_artifact_ms: Distribution | None = Field(
        None, description="first artifact-update event arrived − submitted, ok tasks (A2A)"
    )
    service: ServiceSummary | None = None
