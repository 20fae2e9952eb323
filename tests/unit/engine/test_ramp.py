"""Closed-loop concurrency ramp: streams join at their planned starts."""

from __future__ import annotations

import asyncio
import itertools
import time

from llmbench.engine.closed_loop import ClosedLoopPlan, run_closed_loop
from llmbench.engine.schedules import ramp_stream_starts
from llmbench.records import RequestRecord, RequestSpec, SendContext, Status


class InstantClient:
    async def send(self, spec: RequestSpec, ctx: SendContext) -> RequestRecord:
        await asyncio.sleep(0.005)
        now = time.monotonic_ns()
        return RequestRecord(ctx.request_id, ctx.target_id, spec.item_id, ctx.worker_id,
                             Status.OK, ctx.scheduled_ns, now, end_ns=now)  # fmt: skip


def test_streams_start_in_a_ramp() -> None:
    records: list[RequestRecord] = []
    starts = tuple(ramp_stream_starts(3, 0.3))  # 0, 100, 200 ms
    plan = ClosedLoopPlan(3, duration_s=0.3, stream_starts_ns=starts)
    items = (RequestSpec(item_id=f"i{n}", prompt="p", max_tokens=1) for n in itertools.count())

    async def main() -> None:
        await run_closed_loop(InstantClient(), items, plan, target_id="t", sink=records.append)

    asyncio.run(main())
    first = min(r.sent_ns for r in records)
    first_by_stream = {w: min(r.sent_ns for r in records if r.worker_id == w) for w in range(3)}
    assert first_by_stream[1] - first >= 90_000_000
    assert first_by_stream[2] - first >= 190_000_000
    # the last stream ran about a third as long as the first (loose: a busy 2-core box)
    per_stream = [sum(r.worker_id == w for r in records) for w in range(3)]
    assert per_stream[0] > per_stream[2]
