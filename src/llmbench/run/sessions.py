"""Multi-turn sessions as an agent workload: N sessions, at most C in flight, each sending its
turns one after another (the whole history plus a new user message, the replies as received),
waiting its think time between them. Every request record names its session and turn; every
session becomes one task record (tasks.jsonl: its turns and think waits as steps).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmbench.config import ClosedLoad, RunSpec
from llmbench.engine.closed_loop import Clock, PhaseOutcome, RecordSink, RunOutcome, StopReason
from llmbench.engine.protocol import Conversant
from llmbench.metrics.sessions import session_summary
from llmbench.records import ErrorCategory, RequestRecord, SendContext, request_id
from llmbench.store.results import RECORDS_FILE, TASKS_FILE, iter_records, iter_tasks
from llmbench.store.session_schema import SessionsBlock
from llmbench.tasks import StepStatus, TaskError, TaskRecord, TaskStatus, TaskStep
from llmbench.workload.dataset import dataset_sessions, load_dataset
from llmbench.workload.exact import TokenCodec
from llmbench.workload.lengths import Lengths
from llmbench.workload.sessions import (
    CacheBust,
    SessionPlan,
    ThinkTimes,
    bust_word,
    synthetic_sessions,
    turn_request,
)
from llmbench.workload.trace_sessions import load_session_trace, trace_sessions

TaskSink = Callable[[TaskRecord], None]


@dataclass
class _Phase:
    """The sessions of one phase (warm-up or measured), taken by C slots in order."""

    plans: Iterator[SessionPlan]
    warmup: bool
    deadline_ns: int | None
    stop: asyncio.Event
    clock: Clock
    sent: int = 0
    reason: StopReason | None = None

    def next_session(self) -> SessionPlan | None:
        if self.stop.is_set():
            self.reason = StopReason.INTERRUPTED
            return None
        if self.deadline_ns is not None and self.clock() >= self.deadline_ns:
            self.reason = self.reason or StopReason.DURATION
            return None
        return next(self.plans, None)


@dataclass
class _Session:
    """What one session has seen so far, turned into its task record at the end."""

    plan: SessionPlan
    replies: list[str] = field(default_factory=list)
    steps: list[TaskStep] = field(default_factory=list)
    first_scheduled_ns: int | None = None
    first_sent_ns: int | None = None
    last_end_ns: int | None = None
    think_ns: int = 0
    failed: RequestRecord | None = None
    cancelled: bool = False

    def task(self, target_id: str, worker_id: int, warmup: bool, now_ns: int) -> TaskRecord:
        done = {s.step_id for s in self.steps}
        skipped = [
            TaskStep(step_id=f"turn-{k}", kind="model", status=StepStatus.SKIPPED)
            for k in range(len(self.plan.turns))
            if f"turn-{k}" not in done
        ]
        status, error = TaskStatus.OK, None
        if self.cancelled:
            status = TaskStatus.CANCELLED
        elif self.failed is not None and self.failed.error is not None:
            failure = self.failed.error
            status = TaskStatus.ERROR
            if failure.category is ErrorCategory.CANCELLED:
                status = TaskStatus.CANCELLED
            error = TaskError(category=failure.category.value, message=failure.message,
                              http_status=failure.http_status)  # fmt: skip
        submitted = self.first_sent_ns if self.first_sent_ns is not None else now_ns
        return TaskRecord(
            task_id=self.plan.session_id,
            target_id=target_id,
            name="session",
            status=status,
            scheduled_ns=self.first_scheduled_ns if self.first_scheduled_ns is not None else now_ns,
            submitted_ns=submitted,
            ended_ns=self.last_end_ns if self.last_end_ns is not None else now_ns,
            warmup=warmup,
            worker_id=worker_id,
            error=error,
            steps=(*self.steps, *skipped),
            waiting_ns=self.think_ns,
        )


class SessionDriver:
    """Runs warm-up sessions (records marked), then the measured ones; implements AgentDriver."""

    def __init__(
        self,
        measured: Iterator[SessionPlan],
        *,
        concurrency: int,
        warmup: Iterator[SessionPlan] | None = None,
        duration_s: float | None = None,
        cache_bust: CacheBust = "off",
        nonce: str = "",
        clock: Clock = time.monotonic_ns,
    ) -> None:
        self._measured = measured
        self._warmup = warmup
        self._concurrency = concurrency
        self._duration_s = duration_s
        self.cache_bust = cache_bust
        self.nonce = nonce  # what makes a cache-busting word unique to this run
        self._clock = clock
        self._ids = (request_id(0, n) for n in itertools.count())

    @property
    def concurrency(self) -> int:
        return self._concurrency

    async def run(
        self,
        client: Conversant,
        *,
        target_id: str,
        sink: RecordSink,
        task_sink: TaskSink,
        stop: asyncio.Event | None,
    ) -> RunOutcome:
        stop = stop or asyncio.Event()
        warmup: PhaseOutcome | None = None
        if self._warmup is not None:
            phase = _Phase(self._warmup, True, None, stop, self._clock)
            warmup = await self._run_phase(phase, client, target_id, sink, task_sink)
            if warmup.stop_reason is StopReason.INTERRUPTED:
                return RunOutcome(warmup, None, StopReason.INTERRUPTED)
        deadline = None
        if self._duration_s is not None:
            deadline = self._clock() + int(self._duration_s * 1e9)
        phase = _Phase(self._measured, False, deadline, stop, self._clock)
        measured = await self._run_phase(phase, client, target_id, sink, task_sink)
        return RunOutcome(warmup, measured, measured.stop_reason)

    async def _run_phase(
        self,
        phase: _Phase,
        client: Conversant,
        target_id: str,
        sink: RecordSink,
        task_sink: TaskSink,
    ) -> PhaseOutcome:
        started_ns = self._clock()

        async def slot(worker_id: int) -> None:
            while (plan := phase.next_session()) is not None:
                session = _Session(plan)
                try:
                    await self._session(session, phase, client, target_id, worker_id, sink)
                finally:  # a cancelled session still gets its task record
                    task_sink(session.task(target_id, worker_id, phase.warmup, self._clock()))

        async with asyncio.TaskGroup() as group:
            slots = [group.create_task(slot(i)) for i in range(self._concurrency)]
            watcher = group.create_task(_cancel_on_stop(phase.stop, slots))
            await asyncio.wait(slots)
            watcher.cancel()
        if phase.stop.is_set():
            phase.reason = StopReason.INTERRUPTED
        reason = phase.reason or StopReason.REQUESTS
        return PhaseOutcome(started_ns, self._clock(), phase.sent, reason)

    async def _session(
        self,
        session: _Session,
        phase: _Phase,
        client: Conversant,
        target_id: str,
        worker_id: int,
        sink: RecordSink,
    ) -> None:
        plan = session.plan
        planned = len(plan.system.split()) if plan.system else 0
        for turn, step in enumerate(plan.turns):
            scheduled_ns = self._clock()
            if turn and step.think_before_s > 0:
                if not await self._think(session, turn, step.think_before_s):
                    return
                assert session.last_end_ns is not None  # planned: the reply's end + think time
                scheduled_ns = session.last_end_ns + int(step.think_before_s * 1e9)
            if phase.stop.is_set():
                session.cancelled = True
                return
            planned = step.input_tokens if plan.replay else planned + step.input_tokens
            bust = bust_word(self.cache_bust, self.nonce, plan.session_id, turn)
            spec = turn_request(plan, turn, session.replies, bust=bust, planned_tokens=planned)
            ctx = SendContext(next(self._ids), target_id, worker_id, scheduled_ns, phase.warmup)
            reply = await client.converse(spec, ctx)
            record = reply.record
            sink(record)
            phase.sent += 1
            session.first_scheduled_ns = session.first_scheduled_ns or scheduled_ns
            session.first_sent_ns = session.first_sent_ns or record.sent_ns
            session.last_end_ns = record.end_ns or self._clock()
            status = StepStatus.OK if record.ok else StepStatus.ERROR
            session.steps.append(TaskStep(step_id=f"turn-{turn}", kind="model", status=status,
                                          started_ns=record.sent_ns, ended_ns=record.end_ns,
                                          request_id=record.request_id))  # fmt: skip
            if not record.ok:  # no reply to continue from: the session ends here
                session.failed = record
                return
            session.replies.append(reply.text)
            planned += record.output_tokens or 0

    async def _think(self, session: _Session, turn: int, seconds: float) -> bool:
        """Waits the think time before `turn`; False when cancelled meanwhile (a stop)."""
        start = self._clock()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:  # the stop: the session ends, its record is kept
            session.cancelled = True
            return False
        finally:
            end = self._clock()
            session.think_ns += end - start
            think = TaskStep(step_id=f"think-{turn}", kind="think", status=StepStatus.OK,
                             started_ns=start, ended_ns=end)  # fmt: skip
            session.steps.append(think)
        return True


async def _cancel_on_stop(stop: asyncio.Event, slots: list[asyncio.Task[None]]) -> None:
    await stop.wait()
    for task in slots:
        task.cancel()  # the client turns this into a `cancelled` record with partial timings


def session_driver(spec: RunSpec, exact: TokenCodec | None) -> SessionDriver:
    """The driver of a spec with `workload.sessions`: seeded synthetic sessions, the load's
    concurrency, whole warm-up sessions first (their own seeded content)."""
    workload, load = spec.workload, spec.load
    assert workload.sessions is not None
    assert isinstance(load, ClosedLoad)
    inputs = Lengths(workload.input_tokens, workload.input_tokens_stddev, workload.input_mix)
    outputs = Lengths(workload.output_tokens, workload.output_tokens_stddev, workload.output_mix)

    think = ThinkTimes(workload.think_time_s, workload.think_time_stddev_s)
    items = load_dataset(workload.dataset) if workload.dataset is not None else None
    trace = None
    if workload.session_trace is not None:
        trace = load_session_trace(Path(workload.session_trace))

    def plans(count: int, id_prefix: str) -> Iterator[SessionPlan]:
        if trace is not None:  # no warm-up sessions (refused by the spec)
            return trace_sessions(
                trace, count=count, turns=workload.turns, seed=workload.seed,
                block_tokens=workload.trace_block_tokens, where=str(workload.session_trace),
            )  # fmt: skip
        if items is not None:  # the dataset's user turns (ShareGPT: the human ones)
            return dataset_sessions(
                items, count=count, turns=workload.turns, seed=workload.seed,
                think=think, output_tokens=workload.output_tokens,
                id_prefix=id_prefix,
            )  # fmt: skip
        return synthetic_sessions(
            count=count, turns=workload.turns, seed=workload.seed,
            think=think, inputs=inputs, outputs=outputs,
            system_tokens=workload.system_tokens, exact=exact, id_prefix=id_prefix,
        )  # fmt: skip

    warmup = load.warmup // workload.turns
    return SessionDriver(
        plans(workload.sessions, "session"),
        concurrency=load.concurrency,
        warmup=plans(warmup, "warmup") if warmup else None,
        duration_s=load.duration_s,
        cache_bust=workload.cache_bust,
        nonce=secrets.token_hex(4) if workload.cache_bust != "off" else "",
    )


def sessions_block(
    spec: RunSpec, driver: object, directory: Path, tasks: Iterable[TaskRecord]
) -> dict[str, SessionsBlock]:
    """run.json's `sessions` block of a session run (else nothing), from its records as
    written to records.jsonl and its session task records."""
    if not isinstance(driver, SessionDriver):
        return {}
    return {"sessions": _block(spec, directory, tasks, driver.nonce or None)}


def recomputed_sessions(spec: RunSpec, directory: Path) -> SessionsBlock | None:
    """The `sessions` block of a stored session run that died before writing it, from its
    records.jsonl and tasks.jsonl (the bust nonce is not known then); None if not one."""
    if spec.workload.sessions is None:
        return None
    return _block(spec, directory, iter_tasks(directory / TASKS_FILE, []), None)


def _block(
    spec: RunSpec, directory: Path, tasks: Iterable[TaskRecord], nonce: str | None
) -> SessionsBlock:
    workload = spec.workload
    assert workload.sessions is not None
    records = iter_records(directory / RECORDS_FILE, [])
    summary = session_summary(records, tasks, seed=spec.seed)
    return SessionsBlock.model_validate({
        "sessions": workload.sessions,
        "turns": workload.turns,
        "think_time_s": workload.think_time_s,
        "think_time_stddev_s": workload.think_time_stddev_s,
        "cache_bust": workload.cache_bust,
        "cache_bust_nonce": nonce,
        **summary,
    })  # fmt: skip
