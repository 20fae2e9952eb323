"""The phone-agent loop (docs/agent-loop.md): T tasks, C at once; each step sends the system
prompt, the history and a user message (the screenshot, then text), streams the reply until its
action, then waits the simulated actuation time while the next screenshot is made.

Every step's request record names its task (`session_id`, `task_id`) and step (`turn`); each
task ends as a TaskRecord whose steps alternate model and actuation.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import monotonic_ns
from typing import Any

from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome, StopReason
from llmbench.engine.protocol import Conversant
from llmbench.records import Reply, RequestRecord, RequestSpec, SendContext, request_id
from llmbench.tasks import StepStatus, TaskError, TaskRecord, TaskStatus, TaskStep
from llmbench.workload.images import generated_url, image_part

_ACTION = re.compile(r'do\(action="([^"]*)"')
_WATCH_S = 0.05  # how often the stop watcher looks (it also ends when the tasks are done)


def thinking_end_ns(reply: Reply, markers: Sequence[str]) -> int | None:
    """Arrival of the chunk holding the first occurrence of any marker (a marker split over
    chunks is found in the chunk that completes it); None when the reply has none."""
    record, text = reply.record, ""
    longest = max(map(len, markers))
    for offset_ns, chunk in zip(record.chunk_offsets_ns, reply.chunk_texts, strict=False):
        start = max(0, len(text) - longest + 1)
        text += chunk
        if any(m in text[start:] for m in markers):
            return record.sent_ns + offset_ns
    return None


def action_of(text: str) -> str | None:
    """The action named by a reply's `do(action="...")`, if any."""
    match = _ACTION.search(text)
    return match[1] if match else None


@dataclass
class _Run:
    """One phase's shared state: where records go, the request ids, the stop event."""

    client: Conversant
    target_id: str
    sink: Callable[[RequestRecord], None]
    task_sink: Callable[[TaskRecord], None]
    stop: asyncio.Event
    ids: itertools.count[int]
    sent: int = 0
    pending: list[int] = field(default_factory=list)


class AgentLoop:
    """An `AgentDriver` for `AgentLoopSpec`: screenshots seeded by the workload seed."""

    def __init__(self, spec: AgentLoopSpec, *, seed: int) -> None:
        self.spec = spec
        self.seed = seed

    @property
    def concurrency(self) -> int:
        return self.spec.concurrency

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: Callable[[TaskRecord], None],
        stop: asyncio.Event | None,
    ) -> RunOutcome:
        stop = stop or asyncio.Event()
        ids = itertools.count()
        warmup = measured = None
        if self.spec.warmup_tasks:
            run = _Run(client, target_id, sink, task_sink, stop, ids)
            warmup = await self._phase(run, self.spec.warmup_tasks, warmup=True)
        if not stop.is_set():
            run = _Run(client, target_id, sink, task_sink, stop, ids)
            measured = await self._phase(run, self.spec.tasks, warmup=False)
        reason = StopReason.INTERRUPTED if stop.is_set() else StopReason.REQUESTS
        return RunOutcome(warmup, measured, reason)

    async def _phase(self, run: _Run, tasks: int, *, warmup: bool) -> PhaseOutcome:
        started_ns = monotonic_ns()
        run.pending = list(range(tasks))[::-1]
        async with asyncio.TaskGroup() as group:
            workers = [
                group.create_task(self._worker(run, warmup))
                for _ in range(min(self.spec.concurrency, tasks))
            ]
            group.create_task(_watch(run.stop, workers))
        reason = StopReason.INTERRUPTED if run.stop.is_set() else StopReason.REQUESTS
        return PhaseOutcome(started_ns, monotonic_ns(), run.sent, reason)

    async def _worker(self, run: _Run, warmup: bool) -> None:
        while run.pending and not run.stop.is_set():
            await _Task(self, run, run.pending.pop(), warmup).run()

    def screenshot(self, task: str, step: int) -> str:
        width, height = self.spec.screen_pixels
        fmt = self.spec.screen_format
        return generated_url(width, height, "ui", fmt, f"{self.seed}/{task}/{step}")


async def _watch(stop: asyncio.Event, workers: list[asyncio.Task[None]]) -> None:
    """Cancels the workers when `stop` is set (their tasks end cancelled, records kept)."""
    while not all(w.done() for w in workers):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_WATCH_S):
                await stop.wait()
        if stop.is_set():
            for worker in workers:
                worker.cancel()
            return


class _Task:
    """One task: its history, its steps, and the record it ends with."""

    def __init__(self, loop: AgentLoop, run: _Run, index: int, warmup: bool) -> None:
        self.spec, self.loop, self.run_ = loop.spec, loop, run
        self.warmup = warmup
        self.task_id = f"{'warmup' if warmup else 'task'}-{index}"
        self.goal = self.spec.goals[index % len(self.spec.goals)]
        self.history: list[dict[str, Any]] = [
            {"role": "system", "content": self.spec.system_prompt}
        ]
        self.steps: list[TaskStep] = []
        self.status, self.error = (
            TaskStatus.TIMEOUT,
            TaskError(category="step_cap", message=f"no finish within {self.spec.max_steps} steps"),
        )

    async def run(self) -> None:
        submitted_ns = monotonic_ns()
        try:
            screen: str | None = await asyncio.to_thread(self.loop.screenshot, self.task_id, 0)
            for step in range(self.spec.max_steps):
                assert screen is not None
                screen = await self._step(step, screen)
                if screen is None:
                    break
        except asyncio.CancelledError:
            self.status = TaskStatus.CANCELLED
            self.error = TaskError(category="cancelled", message="stopped by the user")
        self.run_.task_sink(
            TaskRecord(
                task_id=self.task_id, target_id=self.run_.target_id, name=self.goal,
                status=self.status, scheduled_ns=submitted_ns, submitted_ns=submitted_ns,
                ended_ns=monotonic_ns(), warmup=self.warmup,
                error=None if self.status is TaskStatus.OK else self.error,
                steps=tuple(self.steps),
            )
        )  # fmt: skip

    def _user(self, step: int, screen: str | None) -> dict[str, Any]:
        text = f"Task: {self.goal}\n" if step == 0 else ""
        text += f"** Screen Info ** step {step + 1}: what is the next action?"
        parts = [image_part(screen)] if screen is not None else []
        return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}

    async def _step(self, step: int, screen: str) -> str | None:
        """One model call and its actuation; the next screenshot, or None: the task is over."""
        user = self._user(step, screen)
        reply = await self._ask(step, (*self.history, user))
        record = reply.record
        if not record.ok:
            self.status = TaskStatus.CANCELLED if self.run_.stop.is_set() else TaskStatus.ERROR
            error = record.error
            self.error = TaskError(
                category=error.category.value if error else "error",
                message=error.message if error else "step failed",
                http_status=error.http_status if error else None,
            )
            return None
        keep = self.spec.history == "keep_images"
        self.history += [user if keep else self._user(step, None)]
        self.history += [{"role": "assistant", "content": reply.text}]
        if self.spec.finish_marker in reply.text:
            self.status = TaskStatus.OK
            return None
        return await self._actuate(step, action_of(reply.text))

    async def _ask(self, step: int, messages: tuple[dict[str, Any], ...]) -> Reply:
        run = self.run_
        spec = RequestSpec(
            item_id=f"{self.task_id}/{step}", prompt="", max_tokens=self.spec.max_tokens,
            messages=messages, session_id=self.task_id, turn=step, task_id=self.task_id,
            step_id=f"step-{step}", temperature=self.spec.temperature,
        )  # fmt: skip
        ctx = SendContext(request_id(0, next(run.ids)), run.target_id, 0, monotonic_ns(),
                          self.warmup)  # fmt: skip
        run.sent += 1
        reply = await run.client.converse(spec, ctx)
        run.sink(reply.record)
        self.steps.append(_model_step(step, reply, self.spec.markers))
        return reply

    async def _actuate(self, step: int, action: str | None) -> str:
        """The device acts (a sleep) while the next screenshot is made; both must be done."""
        started_ns = monotonic_ns()
        wait_s = self.spec.actuation.seconds(action)
        screen = asyncio.to_thread(self.loop.screenshot, self.task_id, step + 1)
        _, next_screen = await asyncio.gather(asyncio.sleep(wait_s), screen)
        self.steps.append(
            TaskStep(
                step_id=f"act-{step}",
                kind="actuation",
                status=StepStatus.OK,
                started_ns=started_ns,
                ended_ns=monotonic_ns(),
                index=step,
            )
        )
        return next_screen


def _model_step(step: int, reply: Reply, markers: Sequence[str]) -> TaskStep:
    record = reply.record
    return TaskStep(
        step_id=f"step-{step}", kind="model",
        status=StepStatus.OK if record.ok else StepStatus.ERROR,
        started_ns=record.sent_ns, ended_ns=record.end_ns, request_id=record.request_id,
        error=record.error.message if record.error else None, index=step,
        first_token_ns=record.first_token_ns, marker_ns=thinking_end_ns(reply, markers),
        input_tokens=record.input_tokens, cached_tokens=record.cached_tokens,
        payload_bytes=record.payload_bytes, images=record.images,
    )  # fmt: skip
