"""What llmbench saw of one agent-service task while following it (polls, webhooks), turned into
its `TaskRecord` at the end. Single event loop: no locks.

Each channel's events are de-duplicated by id on their own, so a task followed by polling and
webhooks together keeps both sightings of the same change (their difference is measured). The
task's end is the first sighting of a final status; one seen by polling happened after the
previous answered poll was sent: `ended_not_before_ns`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmbench.clients.taskapi import Event, TaskApiError
from llmbench.clients.taskapi_spec import TaskApiSpec, dig
from llmbench.tasks import TaskError, TaskEvent, TaskRecord, TaskStatus


@dataclass(slots=True)
class Identity:
    task_id: str
    target_id: str
    name: str
    scheduled_ns: int
    warmup: bool


@dataclass(slots=True)
class TaskTracker:
    """One task's observations; `done` is set at its first final status."""

    spec: TaskApiSpec
    identity: Identity
    submitted_ns: int
    on_waiting: Callable[[TaskTracker], None] | None = None
    accepted_ns: int | None = None
    provider_id: str | None = None
    events: list[TaskEvent] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    polls: int = 0
    polls_throttled: int = 0
    throttled_ns: int = 0
    last_status: dict[str, str] = field(default_factory=dict)  # per channel
    polled_status: str | None = None  # the status endpoint's last answer
    waiting_since_ns: int | None = None
    waiting_ns: int = 0
    # waiting episodes opened, and how many each channel reported: a channel reporting one
    # another already opened (a webhook `ask` after the poll's `waiting`) opens none
    waits: int = 0
    waiting_for: tuple[str | None, str | None] | None = None  # (event id, type) to answer
    waits_seen: dict[str, int] = field(default_factory=dict)
    final: str | None = None
    ended_ns: int | None = None
    ended_via: str | None = None
    ended_not_before_ns: int | None = None
    ended_poll_ns: int | None = None
    ended_webhook_ns: int | None = None
    credits: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def observe(
        self, event: Event, arrived_ns: int, via: str, not_before_ns: int | None = None
    ) -> None:
        key = (via, event.event_id or f"#{len(self.events)}")
        if key in self.seen:
            return
        self.seen.add(key)
        self.events.append(
            TaskEvent(
                arrived_ns=arrived_ns, kind=event.kind, via=via, status=event.status,
                event_id=event.event_id, provider_ns=event.provider_ns,
                not_before_ns=not_before_ns,
            )
        )  # fmt: skip
        if event.waiting_id is not None or event.waiting_type is not None:
            self.waiting_for = (event.waiting_id, event.waiting_type)  # before it is answered
        if event.status is not None:
            self.status(event.status, arrived_ns, via, not_before_ns)

    def status(self, status: str, at_ns: int, via: str, not_before_ns: int | None) -> None:
        spec = self.spec
        if status in spec.waiting:
            if status != self.last_status.get(via):
                self._waiting(at_ns, via)
        elif self.waiting_since_ns is not None:
            self.end_waiting(at_ns)
        self.last_status[via] = status
        if status not in spec.done and status not in spec.failed:
            return
        if via == "poll" and self.ended_poll_ns is None:
            self.ended_poll_ns = at_ns
        if via == "webhook" and self.ended_webhook_ns is None:
            self.ended_webhook_ns = at_ns
        if self.final is None:
            self.final, self.ended_ns, self.ended_via = status, at_ns, via
            self.ended_not_before_ns = not_before_ns
            self.done.set()

    def _waiting(self, at_ns: int, via: str) -> None:
        seen = self.waits_seen[via] = self.waits_seen.get(via, 0) + 1
        if seen <= self.waits or self.final is not None:
            return  # this channel's sighting of an episode already open (or over)
        self.waits += 1
        self.waiting_since_ns = at_ns
        if self.on_waiting is not None:
            self.on_waiting(self)

    def end_waiting(self, at_ns: int) -> None:
        """Waiting ends when the task moves on, or when llmbench answered it for the human."""
        if self.waiting_since_ns is not None:
            self.waiting_ns += max(0, at_ns - self.waiting_since_ns)
            self.waiting_since_ns = None

    def webhook(self, payload: dict[str, Any], arrived_ns: int) -> None:
        hooks = self.spec.webhooks
        assert hooks is not None
        raw = dig(payload, hooks.status_path) if hooks.status_path else None
        status = hooks.status_map.get(str(raw), str(raw)) if raw is not None else None
        event_id = payload.get(hooks.event_id_field)
        kind = str(dig(payload, hooks.type_field) or "webhook")
        event = Event(None if event_id is None else str(event_id), kind, status, None)
        self.observe(event, arrived_ns, "webhook")

    def record(
        self, status: TaskStatus, error: TaskApiError | None, end_ns: int, poll_interval_ms: float
    ) -> TaskRecord:
        who = self.identity
        self.end_waiting(self.ended_ns or end_ns)
        task_error = None
        if error is not None:
            task_error = TaskError(
                category=error.category, message=error.message, http_status=error.http_status,
                raw_body=error.raw_body,
            )  # fmt: skip
        elif status is TaskStatus.ERROR:
            task_error = TaskError(category="task_failed", message=f"status {self.final}")
        elif status is TaskStatus.TIMEOUT:
            task_error = TaskError(
                category="timeout",
                message="no final status by the timeout; last seen: "
                + (", ".join(f"{k} {v}" for k, v in self.last_status.items()) or "nothing"),
            )
        return TaskRecord(
            task_id=who.task_id, target_id=who.target_id, name=who.name, status=status,
            scheduled_ns=who.scheduled_ns, submitted_ns=self.submitted_ns,
            ended_ns=self.ended_ns if self.ended_ns is not None else end_ns,
            warmup=who.warmup, error=task_error, accepted_ns=self.accepted_ns,
            provider_task_id=self.provider_id, events=tuple(self.events), polls=self.polls,
            waiting_ns=self.waiting_ns, poll_interval_ms=poll_interval_ms,
            polls_throttled=self.polls_throttled, throttled_ns=self.throttled_ns,
            ended_via=self.ended_via, ended_not_before_ns=self.ended_not_before_ns,
            ended_poll_ns=self.ended_poll_ns, ended_webhook_ns=self.ended_webhook_ns,
            credits=self.credits,
        )  # fmt: skip
