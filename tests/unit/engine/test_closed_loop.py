"""The closed loop against an in-memory client: bounds, warm-up marking, concurrency, stop."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from llmbench.engine.closed_loop import ClosedLoopPlan, RunOutcome, StopReason, run_closed_loop
from llmbench.records import (
    ErrorCategory,
    RequestRecord,
    request_id,
)
from support.fakes import SleepyClient, items


def run(
    client: SleepyClient, plan: ClosedLoopPlan, stop_after_s: float | None = None
) -> tuple[RunOutcome, list[RequestRecord]]:
    records: list[RequestRecord] = []

    async def main() -> RunOutcome:
        stop = asyncio.Event()
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, stop.set)
        return await run_closed_loop(
            client, items(), plan, target_id="t", sink=records.append, stop=stop
        )

    return asyncio.run(main()), records


def test_request_bound_and_concurrency() -> None:
    client = SleepyClient(0.01)
    outcome, records = run(client, ClosedLoopPlan(concurrency=4, max_requests=20))
    assert outcome.stop_reason is StopReason.REQUESTS
    assert len(records) == 20
    assert client.max_in_flight == 4
    assert len({r.request_id for r in records}) == 20
    assert {r.worker_id for r in records} == {0, 1, 2, 3}


def test_warmup_is_marked_and_runs_first() -> None:
    outcome, records = run(
        SleepyClient(0.005), ClosedLoopPlan(concurrency=2, max_requests=6, warmup_requests=3)
    )
    assert outcome.warmup is not None
    assert outcome.warmup.sent == 3
    assert [r.warmup for r in records] == [True] * 3 + [False] * 6
    last_warm_end = max(r.end_ns or 0 for r in records if r.warmup)
    assert all(r.sent_ns >= last_warm_end for r in records if not r.warmup)


def test_duration_bound_lets_in_flight_finish() -> None:
    outcome, records = run(SleepyClient(0.05), ClosedLoopPlan(concurrency=2, duration_s=0.2))
    assert outcome.stop_reason is StopReason.DURATION
    assert all(r.ok for r in records)
    assert 4 <= len(records) <= 12  # ~2 streams x 0.2 s / 0.05 s, loose for a noisy machine


def test_stop_cancels_in_flight_and_keeps_their_records() -> None:
    outcome, records = run(
        SleepyClient(10.0), ClosedLoopPlan(concurrency=3, max_requests=100), stop_after_s=0.1
    )
    assert outcome.stop_reason is StopReason.INTERRUPTED
    assert len(records) == 3
    assert all(r.error and r.error.category is ErrorCategory.CANCELLED for r in records)


def test_plan_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="needs"):
        ClosedLoopPlan(concurrency=1)


def test_request_ids_are_uuids_unique_across_groups() -> None:
    # Sent as X-Request-Id: llama-cpp-python's server answers HTTP 400 to a non-UUID value.
    ids = [request_id(group, index) for group in range(3) for index in (0, 1, 255, 2**32 - 1)]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert request_id(2, 10).endswith("0002" + "0000000a")
