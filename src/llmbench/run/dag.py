"""The DAG-task runner (docs/tasks.md): an `AgentDriver` that starts each step as soon as the
steps it depends on have ended, highest task priority first, with at most `limit` steps in
flight (1: sequential mode). A model step's prompt is rendered from the live outputs of its
upstream steps; a tool step waits a seeded latency. A step that fails or times out skips its
dependents; the task's timeout cuts whatever of it still runs. One `TaskRecord` per task.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmbench.config.tasks import TasksSpec
from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome, StopReason
from llmbench.engine.protocol import Conversant
from llmbench.records import RequestRecord, RequestSpec, SendContext, request_id
from llmbench.tasks import StepStatus, TaskError, TaskRecord, TaskStatus, TaskStep
from llmbench.workload.dag import DagStep, DagTask, draw_ms, load_tasks
from llmbench.workload.dag_templates import StepTemplate

_DEFAULT_TOOL_OUTPUT = "[result of {step}]"


@dataclass(slots=True)
class _StepResult:
    status: StepStatus
    started_ns: int
    ended_ns: int
    output: str = ""
    record: RequestRecord | None = None
    error: str | None = None


@dataclass(eq=False)
class _Instance:
    """One run of one task."""

    task: DagTask
    seq: int
    repeat: int
    scheduled_ns: int
    task_id: str
    waiting: dict[str, int] = field(default_factory=dict)  # step → dependencies not yet ok
    results: dict[str, _StepResult] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    running: int = 0
    submitted_ns: int | None = None
    deadline_ns: int | None = None
    cut: bool = False  # the task's timeout cut it
    recorded: bool = False

    def __post_init__(self) -> None:
        self.waiting = {sid: len(s.spec.depends_on) for sid, s in self.task.steps.items()}

    @property
    def done(self) -> bool:
        return self.running == 0 and len(self.results) + len(self.skipped) == len(self.waiting)

    def skip_below(self, sid: str) -> None:
        """Every step downstream of `sid` will never start."""
        stack = list(self.task.steps[sid].children)
        while stack:
            child = stack.pop()
            if child not in self.skipped and child not in self.results:
                self.skipped.add(child)
                stack.extend(self.task.steps[child].children)


class DagDriver:
    """Runs `tasks` `repeat` times (all instances queued at the start), `limit` steps at once."""

    def __init__(self, tasks: list[DagTask], *, limit: int, repeat: int = 1, seed: int = 0) -> None:
        self.tasks = tasks
        self.limit = limit
        self.repeat = repeat
        self.seed = seed

    @property
    def concurrency(self) -> int:
        return self.limit

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: Callable[[TaskRecord], None],
        stop: asyncio.Event | None,
    ) -> RunOutcome:
        run = _Run(self, client, target_id, sink, task_sink, stop or asyncio.Event())
        started = time.monotonic_ns()
        await run.go()
        reason = StopReason.INTERRUPTED if run.stop.is_set() else StopReason.REQUESTS
        measured = PhaseOutcome(started, time.monotonic_ns(), run.sent, reason)
        return RunOutcome(None, measured, reason)


def dag_driver(spec: TasksSpec, *, seed: int) -> DagDriver:
    """The driver of a run's `tasks` settings; the task file is read and checked here."""
    tasks = load_tasks(Path(spec.file))
    limit = 1 if spec.mode == "sequential" else spec.concurrency
    return DagDriver(tasks, limit=limit, repeat=spec.repeat, seed=seed)


class _Run:
    def __init__(
        self,
        driver: DagDriver,
        client: Conversant,
        target_id: str,
        sink: Callable[[RequestRecord], None],
        task_sink: Callable[[TaskRecord], None],
        stop: asyncio.Event,
    ) -> None:
        self.driver, self.client, self.target_id = driver, client, target_id
        self.sink, self.task_sink, self.stop = sink, task_sink, stop
        self.sent = 0
        self.ids = (request_id(0, n) for n in itertools.count())
        self.ready: list[tuple[int, int, int, str, _Instance]] = []
        self.running: dict[asyncio.Task[_StepResult], tuple[_Instance, str]] = {}
        now = time.monotonic_ns()
        self.instances = [
            _Instance(task, seq, r, now, f"{task.name}-{r}")
            for seq, (r, task) in enumerate(itertools.product(range(driver.repeat), driver.tasks))
        ]
        for inst in self.instances:
            for sid, n in inst.waiting.items():
                if n == 0:
                    self._push(inst, sid)

    def _push(self, inst: _Instance, sid: str) -> None:
        order = inst.task.position[sid]
        heapq.heappush(self.ready, (-inst.task.spec.priority, inst.seq, order, sid, inst))

    async def go(self) -> None:
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            while self.ready or self.running:
                self._start_ready()
                if not self.running:
                    continue
                waits: set[asyncio.Future[Any]] = {*self.running, stopper}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if stopper.done():
                    await self._cancel_all()
                    return
                for job in [job for job in self.running if job.done()]:
                    inst, sid = self.running.pop(job)
                    self._finished(inst, sid, job.result())
        finally:
            stopper.cancel()

    def _start_ready(self) -> None:
        while self.ready and len(self.running) < self.driver.limit:
            _, _, _, sid, inst = heapq.heappop(self.ready)
            now = time.monotonic_ns()
            if inst.submitted_ns is None:
                inst.submitted_ns = now
                timeout = inst.task.spec.timeout_s
                inst.deadline_ns = None if timeout is None else now + int(timeout * 1e9)
            if inst.deadline_ns is not None and now >= inst.deadline_ns:
                inst.cut = True  # its time ran out while the step waited for a slot
                inst.skipped.add(sid)
                inst.skip_below(sid)
                self._maybe_end(inst)
                continue
            inst.running += 1
            job = asyncio.ensure_future(self._step(inst, inst.task.steps[sid]))
            self.running[job] = (inst, sid)

    def _finished(self, inst: _Instance, sid: str, result: _StepResult) -> None:
        inst.running -= 1
        inst.results[sid] = result
        if result.status is StepStatus.OK:
            for child in inst.task.steps[sid].children:
                inst.waiting[child] -= 1
                if inst.waiting[child] == 0 and child not in inst.skipped:
                    self._push(inst, child)
        else:
            inst.skip_below(sid)
        self._maybe_end(inst)

    def _maybe_end(self, inst: _Instance) -> None:
        if inst.done and not inst.recorded:
            inst.recorded = True
            self.task_sink(_task_record(inst, self.target_id, end_ns=None))

    async def _cancel_all(self) -> None:
        for job in self.running:
            job.cancel()
        if self.running:
            await asyncio.wait(self.running)
        for job, (inst, sid) in list(self.running.items()):
            inst.running -= 1
            inst.results[sid] = job.result()
        self.running.clear()
        ended = time.monotonic_ns()
        for inst in self.instances:
            if not inst.recorded:
                inst.recorded = True
                inst.skipped |= inst.waiting.keys() - inst.results.keys()
                self.task_sink(_task_record(inst, self.target_id, end_ns=ended, cancelled=True))

    async def _step(self, inst: _Instance, step: DagStep) -> _StepResult:
        """Runs one step under the earlier of its own and its task's deadline."""
        started = time.monotonic_ns()
        own = None if step.spec.timeout_s is None else started + int(step.spec.timeout_s * 1e9)
        task_bound = inst.deadline_ns is not None and (own is None or inst.deadline_ns <= own)
        when = inst.deadline_ns if task_bound else own
        outputs = {sid: r.output for sid, r in inst.results.items() if r.status is StepStatus.OK}
        context: dict[str, object] = {"name": inst.task.name, "instance": inst.repeat}
        result: _StepResult | None = None
        try:
            async with asyncio.timeout_at(None if when is None else when / 1e9) as cm:
                if step.spec.kind == "tool":
                    result = await self._tool(inst, step, outputs, context, started)
                else:
                    result = await self._model(inst, step, outputs, context, started)
        except TimeoutError:
            pass
        except asyncio.CancelledError:  # the run was stopped: kept, as a cancelled step
            return _StepResult(StepStatus.ERROR, started, time.monotonic_ns(), error="cancelled")
        if not cm.expired():
            assert result is not None
            return result
        inst.cut = inst.cut or task_bound
        # A model step's client turned the cut into a cancelled record: kept, as a timeout.
        if result is None:
            return _StepResult(StepStatus.TIMEOUT, started, time.monotonic_ns(), error="timeout")
        result.status, result.error = StepStatus.TIMEOUT, "timeout"
        return result

    async def _tool(
        self, inst: _Instance, step: DagStep, outputs: dict[str, str], context: dict[str, object],
        started: int,
    ) -> _StepResult:  # fmt: skip
        rng = random.Random(f"{self.driver.seed}:{inst.seq}:{step.spec.id}")
        assert step.spec.latency_ms is not None
        await asyncio.sleep(draw_ms(step.spec.latency_ms, rng) / 1e3)
        try:
            text = _render(step.output, inst, outputs, context)
        except Exception as exc:  # noqa: BLE001 - any render failure is this step's error
            error = f"template: {exc}"
            return _StepResult(StepStatus.ERROR, started, time.monotonic_ns(), error=error)
        if text is None:
            text = _DEFAULT_TOOL_OUTPUT.format(step=step.spec.id)
        return _StepResult(StepStatus.OK, started, time.monotonic_ns(), output=text)

    async def _model(
        self, inst: _Instance, step: DagStep, outputs: dict[str, str], context: dict[str, object],
        started: int,
    ) -> _StepResult:  # fmt: skip
        try:
            prompt = _render(step.prompt, inst, outputs, context) or ""
            system = _render(step.system, inst, outputs, context)
        except Exception as exc:  # noqa: BLE001 - any render failure is this step's error
            return _StepResult(
                StepStatus.ERROR, started, time.monotonic_ns(), error=f"template: {exc}"
            )
        messages = None
        if system is not None:
            messages = ({"role": "system", "content": system}, {"role": "user", "content": prompt})
        spec = RequestSpec(
            item_id=f"{inst.task_id}/{step.spec.id}", prompt=prompt,
            max_tokens=step.spec.max_tokens, messages=messages, task_id=inst.task_id,
            step_id=step.spec.id,
        )  # fmt: skip
        ctx = SendContext(next(self.ids), self.target_id, 0, time.monotonic_ns())
        self.sent += 1
        reply = await self.client.converse(spec, ctx)
        self.sink(reply.record)
        status = StepStatus.OK if reply.record.ok else StepStatus.ERROR
        failure = reply.record.error
        error = None if failure is None else f"{failure.category.value}: {failure.message}"
        return _StepResult(status, started, time.monotonic_ns(), reply.text, reply.record, error)


def _render(
    template: StepTemplate | None, inst: _Instance, outputs: dict[str, str],
    context: dict[str, object],
) -> str | None:  # fmt: skip
    if template is None:
        return None
    return template.render(inst.task.spec.input, outputs, context)


def _step_record(step: DagStep, result: _StepResult | None) -> TaskStep:
    spec = step.spec
    if result is None:
        return TaskStep(step_id=spec.id, kind=spec.kind, status=StepStatus.SKIPPED,
                        depends_on=spec.depends_on)  # fmt: skip
    record = result.record
    ttft = e2e = None
    if record is not None and record.first_token_ns is not None:
        ttft = record.first_token_ns - record.sent_ns
    if record is not None and record.end_ns is not None:
        e2e = record.end_ns - record.sent_ns
    return TaskStep(
        step_id=spec.id, kind=spec.kind, status=result.status, started_ns=result.started_ns,
        ended_ns=result.ended_ns, request_id=None if record is None else record.request_id,
        depends_on=spec.depends_on, error=result.error, ttft_ns=ttft, e2e_ns=e2e,
    )  # fmt: skip


def _task_record(
    inst: _Instance, target_id: str, *, end_ns: int | None, cancelled: bool = False
) -> TaskRecord:
    steps = tuple(_step_record(s, inst.results.get(sid)) for sid, s in inst.task.steps.items())
    ends = [r.ended_ns for r in inst.results.values()]
    statuses = {s.status for s in steps}
    if cancelled:
        status, error = TaskStatus.CANCELLED, TaskError(category="cancelled", message="run stopped")
    elif inst.cut or StepStatus.TIMEOUT in statuses:
        status = TaskStatus.TIMEOUT
        error = TaskError(category="timeout", message=_timeout_message(inst, steps))
    elif statuses != {StepStatus.OK}:
        failed = [s for s in steps if s.status is StepStatus.ERROR]
        status = TaskStatus.ERROR
        error = TaskError(
            category="step_failed",
            message=f"step {failed[0].step_id!r} failed: {failed[0].error}" if failed else "",
        )
    else:
        status, error = TaskStatus.OK, None
    if end_ns is not None:
        ended: int | None = end_ns
    elif inst.cut and inst.deadline_ns is not None:  # cut at its deadline, or just after
        ended = max([*ends, inst.deadline_ns])
    else:
        ended = max(ends) if ends else None
    submitted = inst.submitted_ns if inst.submitted_ns is not None else inst.scheduled_ns
    return TaskRecord(
        task_id=inst.task_id, target_id=target_id, name=inst.task.name, status=status,
        scheduled_ns=inst.scheduled_ns, submitted_ns=submitted,
        ended_ns=ended if inst.submitted_ns is not None else None, error=error, steps=steps,
    )  # fmt: skip


def _timeout_message(inst: _Instance, steps: tuple[TaskStep, ...]) -> str:
    if inst.cut:
        return f"the task's timeout ({inst.task.spec.timeout_s} s) passed"
    timed = next(s.step_id for s in steps if s.status is StepStatus.TIMEOUT)
    return f"step {timed!r} timed out"
