"""What was seen of one agent task: a DAG of steps run by llmbench, an agent loop, or a task
submitted to an agent service (create, then events by polling or webhooks until it stops).

One `TaskRecord` per task goes to `tasks.jsonl` beside `records.jsonl` (appended and flushed as
each task ends, like the request records); the model calls a task made are ordinary request
records that name it (`task_id`, `step_id`). Timestamps are absolute `monotonic_ns`, like the
request records'. Tasks are few (one per many requests), so these are pydantic models: one
validated encoding, read back as written.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TaskStatus(StrEnum):
    OK = "ok"  # finished (an agent service: stopped with reason finish)
    ERROR = "error"  # a step or the service failed; `error` says how
    TIMEOUT = "timeout"  # cut at its timeout: a censored observation, kept as such
    CANCELLED = "cancelled"  # stopped by the user or the end of the run
    # stopped to ask for input or authorization (A2A input-required / auth-required): the
    # agent's turn ended without a result; not a failure, not a completion
    INTERRUPTED = "interrupted"


class StepStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # never started: a step it depends on failed or timed out


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskError(_Frozen):
    category: str = Field(description="an ErrorCategory value, or a task-level one: step_failed")
    message: str = Field(description="already redacted: never contains a secret")
    http_status: int | None = None
    raw_body: str | None = Field(
        None, description="the provider's answer, redacted and cut to a few kB (agent services)"
    )


class TaskStep(_Frozen):
    """One step: a model call (its request record has `request_id`), a tool or actuation wait."""

    step_id: str
    kind: str = Field(description="model | tool | actuation | ...")
    status: StepStatus
    started_ns: int | None = None
    ended_ns: int | None = None
    request_id: str | None = None
    depends_on: tuple[str, ...] = ()
    error: str | None = None
    # a model step: its request's TTFT and E2E (from the request record), for per-step statistics
    ttft_ns: int | None = None
    e2e_ns: int | None = None
    # An agent loop's model step: its index, and what its request showed (the record has
    # them too; here so a task's roll-up needs no records). `marker_ns`: the arrival of the
    # chunk holding the first thinking-end marker (None: no marker in the reply).
    index: int | None = None
    first_token_ns: int | None = None
    marker_ns: int | None = None
    input_tokens: int | None = None
    cached_tokens: int | None = None
    payload_bytes: int | None = None
    images: int | None = None


class TaskEvent(_Frozen):
    """One thing a task service told us, stamped when it arrived here."""

    arrived_ns: int
    kind: str = Field(description="the provider's event type, e.g. status_update")
    via: str = Field("poll", description="poll | webhook | stream | response")
    status: str | None = Field(None, description="the agent status it reported, if any")
    event_id: str | None = None
    provider_ns: int | None = Field(None, description="the provider's own timestamp, if given")
    # Seen by polling: it happened after the previous poll was sent, so in (not_before, arrived].
    not_before_ns: int | None = None


class TaskRecord(_Frozen):
    """Everything observed about one task; `ended_ns - submitted_ns` is its completion time."""

    task_id: str
    target_id: str
    name: str
    status: TaskStatus
    scheduled_ns: int
    submitted_ns: int
    ended_ns: int | None = None
    warmup: bool = False
    worker_id: int = 0
    error: TaskError | None = None
    steps: tuple[TaskStep, ...] = ()
    # agent services (task APIs): the create call answered, the provider's id, what it sent
    accepted_ns: int | None = None
    provider_task_id: str | None = None
    events: tuple[TaskEvent, ...] = ()
    polls: int = 0
    # time the task spent waiting for a human (an agent service's `waiting`): not agent time
    waiting_ns: int = 0
    # polling: the interval asked for, the polls answered 429, how long their Retry-After held
    poll_interval_ms: float | None = None
    polls_throttled: int = 0
    throttled_ns: int = 0
    # how the end was first seen (poll | webhook); a poll-seen end is known to within one
    # interval: the task stopped in (ended_not_before_ns, ended_ns]
    ended_via: str | None = None
    ended_not_before_ns: int | None = None
    ended_poll_ns: int | None = None  # polling and webhooks together: each channel's sighting
    ended_webhook_ns: int | None = None
    credits: float | None = Field(None, description="what the service says the task cost")
    # the provider's own last state (A2A: submitted, working, completed, failed, canceled,
    # rejected, input-required, auth-required), as it said it
    provider_state: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is TaskStatus.OK

    @property
    def completion_ns(self) -> int | None:
        return None if self.ended_ns is None else self.ended_ns - self.submitted_ns

    @property
    def completion_corrected_ns(self) -> int | None:
        """A poll-seen end moved to the middle of its interval (the raw value is its upper
        bound); an end seen any other way is as measured."""
        if self.ended_ns is None:
            return None
        if self.ended_not_before_ns is None:
            return self.completion_ns
        return (self.ended_not_before_ns + self.ended_ns) // 2 - self.submitted_ns
