"""State of the simulator's task face: per-task options (plan shape and faults), each task's
messages as the API lists them, and its ground-truth log (CLOCK_MONOTONIC nanoseconds).

Options are one string, `key:value,...` (`--task-options` of `sim serve`, or the
`X-Sim-Task` header of one `task.create`, which overrides them for that task):

    steps:N           model calls in the plan (default 2), each `tokens` long
    tokens:N          output tokens of each model call (default 16)
    tool_ms:MS        tool delay between two model calls (default 20)
    accept_ms:MS      slow acceptance: the create call answers this late
    error:P           the task ends in `error` after its first step
    wait:P            the task waits for confirmation after its first step (confirmAction)
    ask:P             the task asks the user a question after its first step (sendMessage)
    never:P           the task never finishes (until `task.stop`)
    vanish:P          the task's id disappears after its first step (404 from then on)
    webhook_loss:P    each webhook delivery is lost (never sent)
    webhook_dup:P     each webhook delivery is sent twice (same event_id)
    poll_429:P        each `task.listMessages` answers 429 with Retry-After
    poll_503:P        each `task.listMessages` answers 503
    poll_garbage:P    each `task.listMessages` answers 200 with a body that is not JSON
    poll_cut:P        each `task.listMessages` sends half its body, then closes the connection
    retry_after:S     the Retry-After of those 429s, whole seconds (default 1)

P is a probability drawn per task (per delivery, per poll) from a generator seeded by the
server's seed and the task's sequence number.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # settings.py imports this module: it stays free of the HTTP client
    from llmbench.sim.server.webhooks import Delivery

TASK_HEADER = "X-Sim-Task"
_INT_KEYS = {"steps", "tokens", "retry_after"}
_MS_KEYS = {"tool_ms", "accept_ms"}
_P_KEYS = {
    "error", "wait", "ask", "never", "vanish", "webhook_loss", "webhook_dup", "poll_429",
    "poll_503", "poll_garbage", "poll_cut",
}  # fmt: skip


class TaskOptionError(ValueError):
    """A task option string names an unknown key or a bad value (the server answers 400)."""


@dataclass(frozen=True, slots=True)
class TaskOptions:
    steps: int = 2
    tokens: int = 16
    tool_ms: float = 20.0
    accept_ms: float = 0.0
    error: float = 0.0
    wait: float = 0.0
    ask: float = 0.0
    never: float = 0.0
    vanish: float = 0.0
    webhook_loss: float = 0.0
    webhook_dup: float = 0.0
    poll_429: float = 0.0
    poll_503: float = 0.0
    poll_garbage: float = 0.0
    poll_cut: float = 0.0
    retry_after: int = 1

    def merged(self, text: str | None) -> TaskOptions:
        """These options with those of `text` (`key:value,...`) over them."""
        if not text:
            return self
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition(":")
            if not sep or key not in known:
                raise TaskOptionError(
                    f"unknown task option {part!r}; expected key:value with key in "
                    + ", ".join(sorted(known))
                )
            changes[key] = _value(key, value)
        return replace(self, **changes)


def _value(key: str, text: str) -> float | int:
    try:
        value: float | int = int(text) if key in _INT_KEYS else float(text)
    except ValueError:
        raise TaskOptionError(f"task option {key}: {text!r} is not a number") from None
    if key in _P_KEYS and not 0.0 <= value <= 1.0:
        raise TaskOptionError(f"task option {key}: a probability in [0, 1], got {text}")
    if key in _MS_KEYS and not 0.0 <= value <= 3_600_000:
        raise TaskOptionError(f"task option {key}: milliseconds in [0, 3600000], got {text}")
    if key in _INT_KEYS and not 0 <= value <= 10_000:
        raise TaskOptionError(f"task option {key}: an integer in [0, 10000], got {text}")
    return value


@dataclass(frozen=True, slots=True)
class Fates:
    """What the drawn faults decided for one task."""

    error: bool
    wait: bool
    ask: bool
    never: bool
    vanish: bool


def draw_fates(options: TaskOptions, rng: random.Random) -> Fates:
    return Fates(
        error=rng.random() < options.error,
        wait=rng.random() < options.wait,
        ask=rng.random() < options.ask,
        never=rng.random() < options.never,
        vanish=rng.random() < options.vanish,
    )


@dataclass(slots=True)
class SimTask:
    """One task: its messages (in order) and the ground truth of what was done when."""

    task_id: str
    prompt: str
    options: TaskOptions
    fates: Fates
    rng: random.Random
    received_ns: int
    accepted_ns: int | None = None
    status: str = "pending"  # running | waiting | stopped | error
    messages: list[dict[str, Any]] = field(default_factory=list)
    emitted_ns: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    first_event_ns: int | None = None
    first_message_ns: int | None = None
    stopped_ns: int | None = None
    waiting_since_ns: int | None = None
    waiting_ns: int = 0
    polls: int = 0
    throttled: int = 0
    vanished: bool = False
    model_calls: list[tuple[int, int]] = field(default_factory=list)  # (start, end) ns
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    waiting_for: tuple[str, str] | None = None  # (event id, event type) while waiting
    runner: asyncio.Task[None] | None = None

    def emit(self, kind: str, body: dict[str, Any]) -> None:
        """Make one message visible to `listMessages` now (and stamp it)."""
        now_ns = time.monotonic_ns()
        message = {
            "id": f"msg_{self.task_id}_{len(self.messages):04d}",
            "type": kind,
            "timestamp": round(time.time(), 6),
            kind: body,
        }
        self.messages.append(message)
        self.emitted_ns.append(now_ns)
        if self.first_event_ns is None:
            self.first_event_ns = now_ns
        if kind == "assistant_message" and self.first_message_ns is None:
            self.first_message_ns = now_ns
        if kind == "status_update":
            self._status(body["agent_status"], now_ns)

    def _status(self, status: str, now_ns: int) -> None:
        if self.waiting_since_ns is not None and status != "waiting":
            self.waiting_ns += now_ns - self.waiting_since_ns
            self.waiting_since_ns = None
        if status == "waiting":
            self.waiting_since_ns = now_ns
        if status in ("stopped", "error"):
            self.stopped_ns = now_ns
        self.status = status

    def detail(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "task_title": self.prompt[:40],
            "task_url": f"https://sim.invalid/app/{self.task_id}",
        }

    @property
    def credits(self) -> int:
        """What the task cost: a credit per started 10 output tokens of each model call."""
        return len(self.model_calls) * -(-self.options.tokens // 10)

    def summary(self) -> dict[str, Any]:
        """`task.detail`'s task: status and metadata, the credits used so far."""
        created_s = round(time.time() - (time.monotonic_ns() - self.received_ns) / 1e9)
        return {
            "id": self.task_id, "status": self.status, "title": self.prompt[:40],
            "task_url": f"https://sim.invalid/app/{self.task_id}", "created_at": created_s,
            "updated_at": int(time.time()), "credit_usage": self.credits,
        }  # fmt: skip

    def log(self) -> dict[str, Any]:
        """The ground truth: every time on this host's CLOCK_MONOTONIC, in nanoseconds."""
        return {
            "task_id": self.task_id,
            "status": self.status,
            "received_ns": self.received_ns,
            "accepted_ns": self.accepted_ns,
            "first_event_ns": self.first_event_ns,
            "first_message_ns": self.first_message_ns,
            "stopped_ns": self.stopped_ns,
            "waiting_ns": self.waiting_ns,
            "credits": self.credits,
            "polls": self.polls,
            "throttled": self.throttled,
            "vanished": self.vanished,
            "model_calls": [list(call) for call in self.model_calls],
            "events": [
                {"id": m["id"], "type": m["type"], "status": _status_of(m), "emitted_ns": t}
                for m, t in zip(self.messages, self.emitted_ns, strict=True)
            ],
            "webhooks": [d.to_dict() for d in self.deliveries],
        }


def _status_of(message: dict[str, Any]) -> str | None:
    body = message.get("status_update")
    return body.get("agent_status") if isinstance(body, dict) else None
