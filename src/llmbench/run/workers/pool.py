"""The parent side of a multi-process run: places the workers (spawned here, or elsewhere by a
`Placement` such as Ray's), starts them together once each has opened its connection pool,
forwards a stop, and passes their records on (line and column row, not decoded). A dead worker
shows as EOF; its unfinished requests become `worker_lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Literal, Protocol

from llmbench.engine.closed_loop import PhaseOutcome, RunOutcome, StopReason
from llmbench.engine.open_loop import PacingStats
from llmbench.errors import DistributedError
from llmbench.metrics.columns import ColumnRow
from llmbench.monitor.client_health import WorkerHealth
from llmbench.records import ErrorCategory, RequestError, RequestRecord, Status
from llmbench.run.workers.child import WorkerTask, worker_main
from llmbench.run.workers.wire import Message, open_channel, read_frame, read_record, write_frame

READY_TIMEOUT_S = 120.0  # spawn + imports + connection pool, on a loaded host
START_LEAD_NS = 50_000_000  # the common start lies this far after the last worker is ready
EXIT_TIMEOUT_S = 10.0
STOP_GRACE_S = 30.0  # a stopped worker cancels at once; one still running this late is stuck


class WorkerHandle(Protocol):
    """A placed worker's process, wherever it runs: alive, killed, its exit awaited."""

    @property
    def clock_offset_ns(self) -> int:
        """Its monotonic clock minus this process's (0: one host, one clock)."""

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    async def exit_code(self) -> int | None:
        """Waits (EXIT_TIMEOUT_S at most, then kills) for it to end; its code where known."""

    def describe(self) -> dict[str, Any]:
        """Where it ran, for run.json's per-worker entry (node, clock offset and uncertainty)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """A placed worker and its end of the channel."""

    handle: WorkerHandle
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class Placement(Protocol):
    """Where the worker processes run: spawned on this host, or placed by a cluster."""

    name: Literal["spawn", "ray"]
    start_lead_ns: int  # the common start lies this far after the last worker is ready

    async def place(self, tasks: list[WorkerTask]) -> list[Placed]: ...

    async def close(self) -> None: ...

    def describe(self) -> dict[str, Any] | None:
        """run.json's `workers.cluster` block (None for processes on this host)."""


class _LocalProcess:
    """A worker spawned on this host: one monotonic clock with this process."""

    clock_offset_ns = 0

    def __init__(self, process: BaseProcess) -> None:
        self.process = process

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        self.process.kill()

    async def exit_code(self) -> int | None:
        """Waits (off the loop) for the worker to exit; kills one that does not."""
        await asyncio.to_thread(self.process.join, EXIT_TIMEOUT_S)
        if self.process.exitcode is None:
            self.process.kill()
            await asyncio.to_thread(self.process.join, EXIT_TIMEOUT_S)
        return self.process.exitcode

    def describe(self) -> dict[str, Any]:
        return {}


class LocalPlacement:
    """Worker processes spawned on this host (`--workers N`)."""

    name: Literal["spawn", "ray"] = "spawn"
    start_lead_ns = START_LEAD_NS

    async def place(self, tasks: list[WorkerTask]) -> list[Placed]:
        context = multiprocessing.get_context("spawn")  # not fork: this process runs a loop
        placed = []
        for task in tasks:
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main, args=(child_end, task), name=f"llmbench-worker-{task.worker_id}"
            )
            process.daemon = True  # never outlives this process
            process.start()
            child_end.close()
            reader, writer = await open_channel(parent_end)
            placed.append(Placed(_LocalProcess(process), reader, writer))
        return placed

    async def close(self) -> None:
        return None

    def describe(self) -> dict[str, Any] | None:
        return None


@dataclass
class _Worker:
    worker_id: int
    process: WorkerHandle
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int | None = None
    warmed: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[str, Message] = field(default_factory=dict)  # request id → "sent" notice
    done: Message | None = None
    failure: str | None = None
    exit_code: int | None = None
    lost_records: int = 0


@dataclass(frozen=True, slots=True)
class WorkersResult:
    outcome: RunOutcome
    warmed: int
    health: list[WorkerHealth]
    info: dict[str, Any]  # run.json `workers` block


class RecordSink(Protocol):
    """Where the records go: a record made here (a `worker_lost` one), or a worker's record as
    its records.jsonl line and its column row, passed on without being decoded."""

    def __call__(self, record: RequestRecord, /) -> None: ...

    def encoded(self, line: bytes, row: ColumnRow, /) -> None: ...


def _lost_record(notice: Message, worker: _Worker, target_id: str) -> RequestRecord:
    code = worker.exit_code
    return RequestRecord(
        request_id=notice["id"],
        target_id=target_id,
        item_id=notice["item"],
        worker_id=worker.worker_id,
        status=Status.ERROR,
        scheduled_ns=notice["scheduled_ns"],
        sent_ns=notice["sent_ns"],
        session_id=notice["session"],
        turn=notice["turn"],
        task_id=notice["task"],
        step_id=notice["step"],
        warmup=notice["warmup"],
        input_tokens=notice["input_tokens"],
        requested_output_tokens=notice["max_tokens"],
        error=RequestError(
            ErrorCategory.WORKER_LOST,
            f"worker {worker.worker_id} (pid {worker.pid}) exited "
            f"{'' if code is None else f'with code {code} '}while this request was in flight",
        ),
    )


async def _read(worker: _Worker, sink: RecordSink) -> None:
    """Every message of one worker until its EOF."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            messages, blob = await read_frame(worker.reader)
            at = 0  # where the next record's bytes start in the blob
            for message in messages:
                kind = message["t"]
                if kind == "rec":
                    line, row, at = read_record(message, blob, at)
                    worker.in_flight.pop(row.request_id, None)
                    sink.encoded(line, row)
                elif kind == "sent":
                    worker.in_flight[message["id"]] = message
                elif kind == "ready":
                    worker.pid, worker.warmed = message["pid"], message["warmed"]
                    worker.ready.set()
                elif kind == "done":
                    worker.done = message
                elif kind == "failed":
                    worker.failure = message["error"]
    worker.ready.set()  # a worker that died before it was ready: nobody waits for it forever


async def _finish(worker: _Worker, sink: RecordSink, target_id: str) -> None:
    await _read(worker, sink)
    worker.writer.close()
    worker.exit_code = await worker.process.exit_code()
    if worker.done is None:  # died: what it had announced and not finished is counted
        for notice in worker.in_flight.values():
            sink(_lost_record(notice, worker, target_id))
        worker.lost_records = len(worker.in_flight)
        worker.in_flight.clear()


async def _forward_stop(stop: asyncio.Event, workers: list[_Worker]) -> None:
    """Tells every worker to stop; kills one that has not finished STOP_GRACE_S later (its
    unfinished requests then count as `worker_lost`)."""
    await stop.wait()
    for worker in workers:
        write_frame(worker.writer, [{"t": "stop"}])
    await asyncio.sleep(STOP_GRACE_S)
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()


async def _start_together(workers: list[_Worker], stop: asyncio.Event, lead_ns: int) -> bool:
    """Sends the common start once every worker is ready, each in its own clock (this
    process's start plus the worker's clock offset); False (and stop) if one is not ready."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            for worker in workers:
                await worker.ready.wait()
    except TimeoutError:
        stop.set()
        return False
    start_ns = time.monotonic_ns() + lead_ns
    for worker in workers:
        offset = worker.process.clock_offset_ns
        start = {"t": "start", "start_ns": start_ns + offset, "offset_ns": offset}
        write_frame(worker.writer, [start])
    return True


async def run_workers(
    tasks: list[WorkerTask],
    *,
    sink: RecordSink,
    stop: asyncio.Event,
    pacing: PacingStats,
    placement: Placement | None = None,
) -> WorkersResult:
    """Runs one worker per task, placed by `placement` (spawned on this host by default),
    until all have finished (or died); `sink` gets every record."""
    placement = placement or LocalPlacement()
    try:
        placed = await placement.place(tasks)
        workers = [
            _Worker(task.worker_id, p.handle, p.reader, p.writer)
            for task, p in zip(tasks, placed, strict=True)
        ]
        lead_ns = placement.start_lead_ns
        started = await _run_placed(workers, sink, stop, lead_ns, tasks[0].target_id)
    finally:
        await placement.close()
    if failed := [w for w in workers if w.failure]:
        raise DistributedError(f"worker {failed[0].worker_id}: {failed[0].failure}")
    if not started or not any(w.pid for w in workers):
        raise DistributedError(
            f"worker processes not ready after {READY_TIMEOUT_S:.0f} s"
            if not started
            else "no worker process started",
            hint="the host may be overloaded: use fewer --workers, or --workers 1 to run "
            "in-process and see any error there",
        )
    return _result(workers, pacing, stop, placement)


async def _run_placed(
    workers: list[_Worker], sink: RecordSink, stop: asyncio.Event, lead_ns: int, target_id: str
) -> bool:
    """Starts the placed workers together and reads them to their end; False if not started."""
    try:
        async with asyncio.TaskGroup() as group:
            finishing = [group.create_task(_finish(w, sink, target_id)) for w in workers]
            forward = group.create_task(_forward_stop(stop, workers))
            started = await _start_together(workers, stop, lead_ns)
            await asyncio.wait(finishing)
            forward.cancel()
    finally:
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
    return started


def _merge_phase(phases: list[PhaseOutcome]) -> PhaseOutcome | None:
    if not phases:
        return None
    reasons = {p.stop_reason for p in phases}
    reason = next((r for r in StopReason if r in reasons and r is not StopReason.REQUESTS), None)
    return PhaseOutcome(
        min(p.started_ns for p in phases),
        max(p.ended_ns for p in phases),
        sum(p.sent for p in phases),
        reason or StopReason.REQUESTS,
    )


def _phase(data: dict[str, Any] | None) -> PhaseOutcome | None:
    if data is None:
        return None
    return PhaseOutcome(
        data["started_ns"], data["ended_ns"], data["sent"], StopReason(data["stop_reason"])
    )


def _result(
    workers: list[_Worker], pacing: PacingStats, stop: asyncio.Event, placement: Placement
) -> WorkersResult:
    done = [w.done for w in workers if w.done is not None]
    warmups = [p for d in done if (p := _phase(d["outcome"]["warmup"]))]
    measured = [p for d in done if (p := _phase(d["outcome"]["measured"]))]
    for message in done:
        pacing.dispatch_lag_ns.extend(message["dispatch_lag_ns"])
        pacing.waited_for_cap += message["waited_for_cap"]
    merged = _merge_phase(measured)
    reason = StopReason.INTERRUPTED if stop.is_set() else merged.stop_reason if merged else None
    outcome = RunOutcome(_merge_phase(warmups), merged, reason or StopReason.REQUESTS)
    health = [
        WorkerHealth(w.worker_id, w.pid, w.done["watch"] if w.done else None) for w in workers
    ]
    info: dict[str, Any] = {
        "processes": len(workers),
        "start": placement.name,
        **start_skew(workers),
        "per_worker": [_per_worker(w) for w in workers],
    }
    if (cluster := placement.describe()) is not None:
        info["cluster"] = cluster
    return WorkersResult(outcome, sum(w.warmed for w in workers), health, info)


def _per_worker(worker: _Worker) -> dict[str, Any]:
    late_ns = worker.done.get("start_late_ns") if worker.done else None
    return {
        "worker_id": worker.worker_id,
        "pid": worker.pid,
        "exit_code": worker.exit_code,
        "lost": worker.done is None,
        "lost_in_flight": worker.lost_records,
        "connections_opened_before": worker.warmed,
        "cpu_s": worker.done["cpu_s"] if worker.done else None,
        "start_late_ms": None if late_ns is None else late_ns / 1e6,
        **worker.process.describe(),
    }


def start_skew(workers: list[_Worker]) -> dict[str, float | None]:
    """How far apart the workers began the load: each measures, on its own clock, how late it
    woke after the common start; the spread of those, and the bound that the clock offsets'
    uncertainty puts on it (0 for workers on this host: one clock)."""
    late = [w.done["start_late_ns"] for w in workers if w.done and "start_late_ns" in w.done]
    uncertainty = max(
        (w.process.describe().get("clock_uncertainty_ns") or 0 for w in workers), default=0
    )
    return {
        "start_skew_ms": (max(late) - min(late)) / 1e6 if late else None,
        "start_skew_uncertainty_ms": 2 * uncertainty / 1e6 if late else None,
    }
