"""Deadline waiters: the millisecond one (shared loop timers) and the precise one (a timerfd)
never wake a waiter or run a callback before its deadline.

Run on both the stock asyncio loop and uvloop, whose timers round to whole milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from llmbench.sim.server import clock
from llmbench.sim.server.clock import DeadlineWaiter, TimerfdWaiter, deadline_waiter

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
needs_timerfd = pytest.mark.skipif(clock._LIBC is None, reason="timerfd is Linux-only")


def _millisecond() -> DeadlineWaiter:
    return deadline_waiter(precise=False)


def _precise() -> DeadlineWaiter:
    waiter = deadline_waiter()
    assert isinstance(waiter, TimerfdWaiter)
    return waiter


WAITERS: dict[str, Callable[[], DeadlineWaiter]] = {"millisecond": _millisecond}
if clock._LIBC is not None:
    WAITERS["timerfd"] = _precise


def _lateness_of_many(make: Callable[[], DeadlineWaiter], loop_name: str) -> list[int]:
    async def scenario() -> list[int]:
        waiter = make()
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
        waiter.close()
        return lateness

    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        return runner.run(scenario())


@pytest.mark.parametrize("waiter_name", sorted(WAITERS))
@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_many_waiters_wake_on_time_never_early(waiter_name: str, loop_name: str) -> None:
    lateness = _lateness_of_many(WAITERS[waiter_name], loop_name)
    assert min(lateness) >= 0
    assert statistics.mean(lateness) < 5_000_000  # loose: a noisy CI machine


def _exact() -> DeadlineWaiter:
    assert clock._LIBC is not None
    return TimerfdWaiter(clock._LIBC, wake_grid_ns=1)


@needs_timerfd
@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_timerfd_wakes_within_the_millisecond_loop_timers_cannot(loop_name: str) -> None:
    # Loop timers round a deadline up to the next whole millisecond of loop time (median
    # lateness ~0.5 ms more); the timerfd's lateness is the wake-up latency. Both wait for
    # the same deadlines at the same time, so host noise hits both alike.
    async def scenario() -> tuple[list[int], list[int]]:
        exact, coarse = _exact(), _millisecond()
        start_ns = time.monotonic_ns()
        deadlines = [start_ns + 5_000_000 + i * 450_000 for i in range(100)]
        late: dict[str, list[int]] = {"exact": [], "coarse": []}

        async def one(waiter: DeadlineWaiter, name: str, deadline_ns: int) -> None:
            await waiter.sleep_until(deadline_ns)
            late[name].append(time.monotonic_ns() - deadline_ns)

        async with asyncio.timeout(5), asyncio.TaskGroup() as group:
            for deadline_ns in deadlines:
                group.create_task(one(exact, "exact", deadline_ns))
                group.create_task(one(coarse, "coarse", deadline_ns))
        exact.close()
        return late["exact"], late["coarse"]

    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        exact_ns, coarse_ns = runner.run(scenario())
    assert min(exact_ns) >= 0
    assert statistics.median(exact_ns) < statistics.median(coarse_ns)


@needs_timerfd
def test_the_wake_grid_bounds_lateness_and_wake_ups(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 deadlines 0.45 ms apart on a 1 ms grid: at most one wake-up per grid step (~46),
    # and none of them more than a grid step late plus the wake-up itself (loose: CI noise).
    assert clock._LIBC is not None
    waiters: list[TimerfdWaiter] = []

    def gridded() -> DeadlineWaiter:
        waiters.append(TimerfdWaiter(clock._LIBC, wake_grid_ns=1_000_000))  # type: ignore[arg-type]
        return waiters[-1]

    arms: list[int] = []
    original = TimerfdWaiter._arm

    def counting(self: TimerfdWaiter, deadline_ns: int) -> None:
        before = self._armed_ns
        original(self, deadline_ns)
        if self._armed_ns != before:
            arms.append(self._armed_ns)

    monkeypatch.setattr(TimerfdWaiter, "_arm", counting)
    lateness = _lateness_of_many(gridded, "uvloop")
    assert min(lateness) >= 0
    assert len(arms) <= 50
    assert all(armed % 1_000_000 == 0 for armed in arms)
    assert statistics.median(lateness) < 1_000_000


@pytest.mark.parametrize("waiter_name", sorted(WAITERS))
def test_overdue_deadline_returns_after_one_yield(waiter_name: str) -> None:
    async def scenario() -> bool:
        waiter = WAITERS[waiter_name]()
        other_ran = False

        async def other() -> None:
            nonlocal other_ran
            other_ran = True

        async with asyncio.timeout(1), asyncio.TaskGroup() as group:
            group.create_task(other())
            await waiter.sleep_until(time.monotonic_ns() - 1)
            ran_meanwhile = other_ran
        waiter.close()
        return ran_meanwhile

    assert asyncio.run(scenario()) is True


@pytest.mark.parametrize("waiter_name", sorted(WAITERS))
def test_cancelled_waiter_does_not_disturb_its_slot(waiter_name: str) -> None:
    async def scenario() -> int:
        waiter = WAITERS[waiter_name]()
        deadline_ns = time.monotonic_ns() + 3_000_000
        doomed = asyncio.ensure_future(waiter.sleep_until(deadline_ns))
        await asyncio.sleep(0)
        doomed.cancel()
        async with asyncio.timeout(1):
            await waiter.sleep_until(deadline_ns)
        waiter.close()
        return time.monotonic_ns() - deadline_ns

    assert asyncio.run(scenario()) >= 0


@pytest.mark.parametrize("waiter_name", sorted(WAITERS))
def test_callbacks_run_in_deadline_order_never_early(waiter_name: str) -> None:
    async def scenario() -> list[tuple[int, int]]:
        waiter = WAITERS[waiter_name]()
        start_ns = time.monotonic_ns()
        # Pushed out of order, two due together, one already overdue.
        offsets_ns = [7_000_000, 2_000_000, 4_500_000, 4_500_000, -1_000_000, 9_000_000]
        ran: list[tuple[int, int]] = []
        finished = asyncio.get_running_loop().create_future()

        def make(index: int) -> Callable[[], None]:
            def callback() -> None:
                ran.append((index, time.monotonic_ns() - (start_ns + offsets_ns[index])))
                if len(ran) == len(offsets_ns):
                    finished.set_result(None)

            return callback

        for index, offset_ns in enumerate(offsets_ns):
            waiter.call_at(start_ns + offset_ns, make(index))
        async with asyncio.timeout(5):
            await finished
        waiter.close()
        return ran

    ran = asyncio.run(scenario())
    assert [index for index, _ in ran] == [4, 1, 2, 3, 0, 5]
    assert all(late_ns >= 0 for _, late_ns in ran)


@needs_timerfd
def test_a_callback_may_schedule_the_next_one_from_inside_the_dispatch() -> None:
    async def scenario() -> list[int]:
        waiter = _precise()
        due: list[int] = []
        finished = asyncio.get_running_loop().create_future()

        def chain(deadline_ns: int, left: int) -> None:
            due.append(time.monotonic_ns() - deadline_ns)
            if left == 0:
                finished.set_result(None)
                return
            # the next one 0.2 ms on: mostly due within the same dispatch pass or the next fd wake
            following_ns = deadline_ns + 200_000
            waiter.call_at(following_ns, lambda: chain(following_ns, left - 1))

        first_ns = time.monotonic_ns() + 1_000_000
        waiter.call_at(first_ns, lambda: chain(first_ns, 49))
        async with asyncio.timeout(5):
            await finished
        waiter.close()
        return due

    lateness = asyncio.run(scenario())
    assert len(lateness) == 50
    assert min(lateness) >= 0


@needs_timerfd
def test_close_releases_the_timer_descriptor() -> None:
    async def scenario() -> int:
        waiter = _precise()
        await waiter.sleep_until(time.monotonic_ns() + 1_000_000)
        assert isinstance(waiter, TimerfdWaiter)
        fd = waiter._fd
        assert fd is not None
        waiter.close()
        waiter.close()  # idempotent
        return fd

    fd = asyncio.run(scenario())
    # The number may since have been reused, but not by this waiter's timer.
    with contextlib.suppress(FileNotFoundError):
        assert "timerfd" not in str(Path(f"/proc/self/fd/{fd}").readlink())


def test_without_timerfd_the_factory_falls_back_to_millisecond_timers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock, "_LIBC", None)
    waiter = deadline_waiter()
    assert type(waiter) is DeadlineWaiter


@needs_timerfd
def test_run_due_serves_what_is_due_without_returning_to_the_loop() -> None:
    # What a request handler does between its steps, so a burst of requests handled in one
    # pass of the loop does not hold back tokens that fell due meanwhile.
    async def scenario() -> tuple[list[str], list[str]]:
        waiter = _precise()
        ran: list[str] = []
        now_ns = time.monotonic_ns()
        waiter.call_at(now_ns + 500_000, lambda: ran.append("due"))
        waiter.call_at(now_ns + 60_000_000, lambda: ran.append("later"))
        while time.monotonic_ns() < now_ns + 1_000_000:  # the handler's work, no await
            pass
        waiter.run_due()
        seen = list(ran)
        await asyncio.sleep(0.07)
        waiter.close()
        return seen, ran

    seen, ran = asyncio.run(scenario())
    assert seen == ["due"]
    assert ran == ["due", "later"]  # the timer was re-armed for what is left
