"""Open-loop load: sends each request at its absolute deadline (start + planned offset) whatever
the earlier requests are doing, with an optional cap on requests in flight. Each record keeps its
deadline as `scheduled_ns`, so latency from the plan (coordinated omission) stays visible.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from llmbench.engine.closed_loop import Clock, PhaseOutcome, RecordSink, RunOutcome, StopReason
from llmbench.engine.protocol import Client
from llmbench.records import RequestSpec, SendContext, request_id

# asyncio timers fire up to ~1 ms late (the loop's clock resolution and select() timeouts), so
# the pacer sleeps until this much before a deadline and yields in a loop for the last stretch.
SPIN_NS = 2_000_000
# The first deadline lies this far after the start, so that it is not late by set-up work.
LEAD_NS = 20_000_000


@dataclass(frozen=True, slots=True)
class OpenLoopPlan:
    offsets_ns: Sequence[int]  # planned send times after the start, non-decreasing
    max_concurrency: int | None = None
    warmup_requests: int = 0  # the first sends of the schedule, marked warm-up
    # A worker process's share of a larger schedule: each send's index in the whole schedule
    # (its request id and warm-up mark). Empty: the whole schedule, indices 0, 1, ...
    indices: Sequence[int] = ()

    def __post_init__(self) -> None:
        if self.indices and len(self.indices) != len(self.offsets_ns):
            raise ValueError("indices needs one index per offset")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if any(b < a for a, b in itertools.pairwise(self.offsets_ns)):
            raise ValueError("schedule offsets must be non-decreasing")


@dataclass(slots=True)
class PacingStats:
    """How well the pacer kept its deadlines: dispatch lag = pacer wake-up − deadline (before
    the HTTP client's own work), and how many sends waited for the concurrency cap."""

    # array: 8 B per send, where a list of ints costs ~36 B (memory flat per request)
    dispatch_lag_ns: array[int] = field(default_factory=lambda: array("q"))
    waited_for_cap: int = 0


async def pace_until(deadline_ns: int, clock: Clock, spin_ns: int = SPIN_NS) -> None:
    """Returns at (or just after) `deadline_ns`: a timer sleep to `spin_ns` before it, then
    yields to the loop until the clock reaches it, so other tasks keep running meanwhile."""
    remaining_ns = deadline_ns - clock()
    if remaining_ns > spin_ns:
        await asyncio.sleep((remaining_ns - spin_ns) / 1e9)
    # A deadline is a time, not an event, so polling is the point (ruff ASYNC110 assumes not).
    while clock() < deadline_ns:  # noqa: ASYNC110
        await asyncio.sleep(0)


async def _send_one(
    client: Client,
    spec: RequestSpec,
    ctx: SendContext,
    sink: RecordSink,
    slots: asyncio.Semaphore | None,
) -> None:
    try:
        sink(await client.send(spec, ctx))
    finally:
        if slots is not None:
            slots.release()


async def _dispatch(
    client: Client,
    items: Iterator[RequestSpec],
    plan: OpenLoopPlan,
    *,
    start_ns: int,
    target_id: str,
    sink: RecordSink,
    clock: Clock,
    stats: PacingStats,
    worker_id: int,
) -> None:
    """Starts one task per planned request at its deadline and waits for all of them."""
    cap = plan.max_concurrency
    slots = asyncio.Semaphore(cap) if cap is not None else None
    indices = plan.indices or range(len(plan.offsets_ns))
    async with asyncio.TaskGroup() as sends:
        for index, offset_ns in zip(indices, plan.offsets_ns, strict=True):
            deadline_ns = start_ns + offset_ns
            await pace_until(deadline_ns, clock)
            if slots is not None:
                if slots.locked():
                    stats.waited_for_cap += 1
                await slots.acquire()  # bounded: every send ends by its own request timeout
            stats.dispatch_lag_ns.append(clock() - deadline_ns)
            ctx = SendContext(
                request_id=request_id(0, index),  # one schedule: indices unique across workers
                target_id=target_id,
                worker_id=worker_id,
                scheduled_ns=deadline_ns,
                warmup=index < plan.warmup_requests,
            )
            sends.create_task(_send_one(client, next(items), ctx, sink, slots))


async def _cancel_on_stop(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    await stop.wait()
    task.cancel()  # cancels every in-flight send; the client turns each into a `cancelled` record


async def run_open_loop(
    client: Client,
    items: Iterator[RequestSpec],
    plan: OpenLoopPlan,
    *,
    target_id: str,
    sink: RecordSink,
    stop: asyncio.Event | None = None,
    clock: Clock = time.monotonic_ns,
    stats: PacingStats | None = None,
    start_ns: int | None = None,
    worker_id: int = 0,
) -> RunOutcome:
    """Sends the schedule and waits for every request to finish; the stop event cancels
    in-flight requests (their records say `cancelled`) and ends the run. `start_ns` (default:
    now + LEAD_NS) is the common start when worker processes pace shares of one schedule."""
    stop = stop or asyncio.Event()
    stats = stats if stats is not None else PacingStats()
    start_ns = clock() + LEAD_NS if start_ns is None else start_ns
    async with asyncio.TaskGroup() as group:
        dispatcher = group.create_task(
            _dispatch(
                client, items, plan, start_ns=start_ns, target_id=target_id,
                sink=sink, clock=clock, stats=stats, worker_id=worker_id,
            )
        )  # fmt: skip
        watcher = group.create_task(_cancel_on_stop(stop, dispatcher))
        await asyncio.wait([dispatcher])
        watcher.cancel()
    sent = len(stats.dispatch_lag_ns)
    reason = StopReason.INTERRUPTED if stop.is_set() else StopReason.REQUESTS
    indices = plan.indices or range(sent)
    warm = sum(1 for i in itertools.islice(indices, sent) if i < plan.warmup_requests)
    measured = PhaseOutcome(start_ns, clock(), sent - warm, reason)
    return RunOutcome(None, measured, reason)
