"""DeadlineWaiter: shared millisecond timers that never wake a waiter before its deadline.

Run on both the stock asyncio loop and uvloop, whose timers round to whole milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
import uvloop

from llmbench.sim.clock import DeadlineWaiter

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_many_waiters_wake_on_time_never_early(loop_name: str) -> None:
    async def scenario() -> list[int]:
        waiter = DeadlineWaiter()
        start_ns = time.monotonic_ns()
        # 100 waiters over 50 ms, several per millisecond slot
        deadlines = [start_ns + 5_000_000 + i * 450_000 for i in range(100)]
        lateness: list[int] = []

        async def one(deadline_ns: int) -> None:
            await waiter.sleep_until(deadline_ns)
            lateness.append(time.monotonic_ns() - deadline_ns)

        async with asyncio.timeout(5), asyncio.TaskGroup() as group:
            for deadline_ns in deadlines:
                group.create_task(one(deadline_ns))
        return lateness

    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        lateness = runner.run(scenario())
    assert min(lateness) >= 0
    assert statistics.mean(lateness) < 5_000_000  # loose: a noisy CI machine


def test_overdue_deadline_returns_after_one_yield() -> None:
    async def scenario() -> bool:
        waiter = DeadlineWaiter()
        other_ran = False

        async def other() -> None:
            nonlocal other_ran
            other_ran = True

        async with asyncio.timeout(1), asyncio.TaskGroup() as group:
            group.create_task(other())
            await waiter.sleep_until(time.monotonic_ns() - 1)
            ran_meanwhile = other_ran
        return ran_meanwhile

    assert asyncio.run(scenario()) is True


def test_cancelled_waiter_does_not_disturb_its_slot() -> None:
    async def scenario() -> int:
        waiter = DeadlineWaiter()
        deadline_ns = time.monotonic_ns() + 3_000_000
        doomed = asyncio.ensure_future(waiter.sleep_until(deadline_ns))
        await asyncio.sleep(0)
        doomed.cancel()
        async with asyncio.timeout(1):
            await waiter.sleep_until(deadline_ns)
        return time.monotonic_ns() - deadline_ns

    assert asyncio.run(scenario()) >= 0
