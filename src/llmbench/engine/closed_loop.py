"""Closed-loop load: `concurrency` streams, each sending its next request as soon as the previous
one finishes. Synchronous is concurrency 1. Bounded by a request count and/or a duration; a warm-up
phase runs first and its records are marked. A stop event ends the run early and keeps every record.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from llmbench.engine.protocol import Client
from llmbench.records import RequestRecord, RequestSpec, SendContext, request_id

Clock = Callable[[], int]
RecordSink = Callable[[RequestRecord], None]


class StopReason(StrEnum):
    REQUESTS = "requests"  # the request bound was reached
    DURATION = "duration"  # the duration bound passed; in-flight requests were let finish
    INTERRUPTED = "interrupted"  # the stop event was set; in-flight requests were cancelled


@dataclass(frozen=True, slots=True)
class ClosedLoopPlan:
    concurrency: int
    max_requests: int | None = None
    duration_s: float | None = None
    warmup_requests: int = 0
    stream_starts_ns: tuple[int, ...] = ()  # measured phase: stream i starts this late (a ramp)

    def __post_init__(self) -> None:
        if self.stream_starts_ns and len(self.stream_starts_ns) != self.concurrency:
            raise ValueError("stream_starts_ns needs one start per stream")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.max_requests is None and self.duration_s is None:
            raise ValueError("a closed loop needs max_requests, duration_s or both")


@dataclass(frozen=True, slots=True)
class PhaseOutcome:
    started_ns: int
    ended_ns: int
    sent: int
    stop_reason: StopReason


@dataclass(frozen=True, slots=True)
class RunOutcome:
    warmup: PhaseOutcome | None
    measured: PhaseOutcome | None
    stop_reason: StopReason


class _Phase:
    """Shared state of the streams of one phase."""

    def __init__(
        self,
        *,
        items: Iterator[RequestSpec],
        max_requests: int | None,
        deadline_ns: int | None,
        warmup: bool,
        stop: asyncio.Event,
        clock: Clock,
    ) -> None:
        self.items = items
        self.max_requests = max_requests
        self.deadline_ns = deadline_ns
        self.warmup = warmup
        self.stop = stop
        self.clock = clock
        self.sent = 0
        self.reason: StopReason | None = None

    def next_item(self) -> RequestSpec | None:
        """The next request to send, or None when a bound says the phase is over."""
        if self.stop.is_set():
            self.reason = StopReason.INTERRUPTED
            return None
        if self.max_requests is not None and self.sent >= self.max_requests:
            self.reason = self.reason or StopReason.REQUESTS
            return None
        if self.deadline_ns is not None and self.clock() >= self.deadline_ns:
            self.reason = self.reason or StopReason.DURATION
            return None
        self.sent += 1
        return next(self.items)


async def _stream(
    phase: _Phase,
    client: Client,
    *,
    worker_id: int,
    target_id: str,
    request_ids: Iterator[str],
    sink: RecordSink,
    start_delay_ns: int = 0,
) -> None:
    if start_delay_ns > 0:
        await asyncio.sleep(start_delay_ns / 1e9)
    while (spec := phase.next_item()) is not None:
        ctx = SendContext(
            request_id=next(request_ids),
            target_id=target_id,
            worker_id=worker_id,
            scheduled_ns=phase.clock(),  # closed loop: planned the moment the stream is free
            warmup=phase.warmup,
        )
        sink(await client.send(spec, ctx))


async def _cancel_on_stop(stop: asyncio.Event, streams: list[asyncio.Task[None]]) -> None:
    await stop.wait()
    for task in streams:
        task.cancel()  # the client turns this into a `cancelled` record with partial timings


async def _run_phase(
    phase: _Phase,
    client: Client,
    *,
    concurrency: int,
    target_id: str,
    request_ids: Iterator[str],
    sink: RecordSink,
    starts_ns: tuple[int, ...] = (),
    worker_id: int | None = None,
) -> PhaseOutcome:
    started_ns = phase.clock()
    async with asyncio.TaskGroup() as group:
        streams = [
            group.create_task(
                _stream(
                    phase,
                    client,
                    worker_id=i if worker_id is None else worker_id,
                    target_id=target_id,
                    request_ids=request_ids,
                    sink=sink,
                    start_delay_ns=starts_ns[i] if starts_ns else 0,
                )
            )
            for i in range(concurrency)
        ]
        watcher = group.create_task(_cancel_on_stop(phase.stop, streams))
        await asyncio.wait(streams)
        watcher.cancel()
    if phase.stop.is_set():
        phase.reason = StopReason.INTERRUPTED
    return PhaseOutcome(started_ns, phase.clock(), phase.sent, phase.reason or StopReason.REQUESTS)


async def run_closed_loop(
    client: Client,
    items: Iterator[RequestSpec],
    plan: ClosedLoopPlan,
    *,
    target_id: str,
    sink: RecordSink,
    stop: asyncio.Event | None = None,
    clock: Clock = time.monotonic_ns,
    id_group: int = 0,
    worker_id: int | None = None,
) -> RunOutcome:
    """Runs the warm-up phase (if any), then the measured phase; `sink` gets every record.

    Records carry `worker_id` when given (a worker process), else their stream's index."""
    stop = stop or asyncio.Event()
    request_ids = (request_id(id_group, n) for n in itertools.count())

    async def run(max_requests: int | None, deadline_ns: int | None, warmup: bool) -> PhaseOutcome:
        phase = _Phase(
            items=items,
            max_requests=max_requests,
            deadline_ns=deadline_ns,
            warmup=warmup,
            stop=stop,
            clock=clock,
        )
        return await _run_phase(
            phase,
            client,
            concurrency=plan.concurrency,
            target_id=target_id,
            request_ids=request_ids,
            sink=sink,
            starts_ns=() if warmup else plan.stream_starts_ns,
            worker_id=worker_id,
        )

    warmup: PhaseOutcome | None = None
    if plan.warmup_requests:
        warmup = await run(plan.warmup_requests, None, True)
        if warmup.stop_reason is StopReason.INTERRUPTED:
            return RunOutcome(warmup, None, StopReason.INTERRUPTED)
    deadline_ns = None if plan.duration_s is None else clock() + int(plan.duration_s * 1e9)
    measured = await run(plan.max_requests, deadline_ns, False)
    return RunOutcome(warmup, measured, measured.stop_reason)
