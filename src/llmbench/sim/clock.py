"""Waiting until absolute monotonic deadlines, cheaply, for hundreds of concurrent streams.

Waiters due in the same millisecond share one event-loop timer (uvloop timers have 1 ms
resolution anyway), which roughly halves the cost of a wake-up; nobody is ever woken early.
"""

from __future__ import annotations

import asyncio
import time

NS_PER_MS = 1_000_000


class DeadlineWaiter:
    """`await waiter.sleep_until(deadline_ns)` returns at or after `time.monotonic_ns()` ≥ it."""

    def __init__(self) -> None:
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    async def sleep_until(self, deadline_ns: int) -> None:
        if deadline_ns <= time.monotonic_ns():
            # Overdue: still yield once, so a stream that fell behind cannot hog the loop
            # sending its backlog while every other stream waits.
            await asyncio.sleep(0)
            return
        # Loop because a timer may still fire a little early (uvloop measures time from the
        # start of its loop iteration); the re-check makes "never early" unconditional.
        while (remaining_ns := deadline_ns - time.monotonic_ns()) > 0:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            slot = -(-deadline_ns // NS_PER_MS)
            waiters = self._slots.get(slot)
            if waiters is None:
                self._slots[slot] = [future]
                # Whole milliseconds, rounded up: a rounded-down delay wakes early and spins.
                loop.call_later(-(-remaining_ns // NS_PER_MS) / 1000, self._wake, slot)
            else:
                waiters.append(future)
            await future

    def _wake(self, slot: int) -> None:
        for future in self._slots.pop(slot, ()):
            if not future.done():  # a cancelled waiter's future is already done
                future.set_result(None)
