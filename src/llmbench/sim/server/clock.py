"""Waiting until absolute monotonic deadlines, cheaply and precisely, for hundreds of streams.

Event-loop timers (asyncio's and uvloop's) have 1 ms resolution, which alone makes every chunk
0–1 ms late. On Linux one `timerfd` per loop, armed at the earliest deadline on CLOCK_MONOTONIC
(the clock of `time.monotonic_ns`), wakes the loop within microseconds of it; elsewhere waiters
due in the same millisecond share one loop timer. Either way nobody is ever woken early.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import heapq
import itertools
import os
import sys
import time
from collections.abc import Callable

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
# Wake-ups are rounded up to this grid, so deadlines this close share one: on a VM each
# wake-up (timer programming, interrupt, epoll, the fd's read) costs ~20-30 µs of CPU, and
# one per deadline at 20k deadlines/s took most of a core (docs/benchmarks.md). The cost in
# lateness is 0-0.25 ms, against 0-1 ms for loop timers.
WAKE_GRID_NS = 250_000
_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled waiter's future is already done
        future.set_result(None)


class DeadlineWaiter:
    """`await waiter.sleep_until(deadline_ns)` returns at or after `time.monotonic_ns()` ≥ it.

    This base class shares millisecond loop timers; `deadline_waiter()` gives the precise one
    where the platform has it.
    """

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
            _resolve(future)

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        """Runs `callback()` on the loop at or after the deadline (soon, if it has passed)."""
        loop = asyncio.get_running_loop()
        remaining_ns = deadline_ns - time.monotonic_ns()
        if remaining_ns <= 0:
            loop.call_soon(callback)
        else:
            delay_s = -(-remaining_ns // NS_PER_MS) / 1000
            loop.call_later(delay_s, self._call_when_due, deadline_ns, callback)

    def _call_when_due(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        if time.monotonic_ns() < deadline_ns:
            self.call_at(deadline_ns, callback)
        else:
            callback()

    def run_due(self) -> None:
        """Runs what is due now (loop timers do it themselves: nothing here)."""

    def close(self) -> None:
        """Releases what the waiter holds (nothing for loop timers)."""


class TimerfdWaiter(DeadlineWaiter):
    """Deadlines in a heap; one timerfd armed at the earliest (rounded up to the wake grid),
    read by the event loop.

    Callbacks due together run in deadline order in one pass of the loop: a token write from
    `call_at` costs no task wake-up and no timer of its own.
    """

    def __init__(self, libc: ctypes.CDLL, wake_grid_ns: int = WAKE_GRID_NS) -> None:
        super().__init__()
        self._grid_ns = wake_grid_ns
        self._settime = libc.timerfd_settime
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd: int | None = fd
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties in deadline wake in arrival order
        self._armed_ns = 0  # 0: disarmed
        self._dispatching = False  # inside `run_due`: it arms once when done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._spec = _Itimerspec()

    async def sleep_until(self, deadline_ns: int) -> None:
        if deadline_ns <= time.monotonic_ns() or self._fd is None:
            await super().sleep_until(deadline_ns)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(deadline_ns, functools.partial(_resolve, future))
        await future

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        if self._fd is None:
            super().call_at(deadline_ns, callback)
        else:
            self._push(deadline_ns, callback)

    def _push(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        assert self._fd is not None
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            loop.add_reader(self._fd, self._expired)
            self._loop, self._armed_ns = loop, 0
        heapq.heappush(self._heap, (deadline_ns, next(self._order), callback))
        if not self._dispatching and (self._armed_ns == 0 or deadline_ns < self._armed_ns):
            self._arm(deadline_ns)

    def _arm(self, deadline_ns: int) -> None:
        deadline_ns = -(-deadline_ns // self._grid_ns) * self._grid_ns
        if deadline_ns == self._armed_ns:
            return
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(deadline_ns, NS_PER_S)
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._armed_ns = deadline_ns

    def _expired(self) -> None:
        assert self._fd is not None
        try:
            os.read(self._fd, 8)  # the expiration count; reading clears readiness
        except BlockingIOError:  # re-armed after it became readable: not expired yet
            return
        self._armed_ns = 0
        self.run_due()
        if self._heap and self._armed_ns == 0:  # nothing was due yet: wait on
            self._arm(self._heap[0][0])

    def run_due(self) -> None:
        """Runs every callback and wakes every waiter whose deadline has passed, now.

        Request handlers call it between their steps: a burst of arriving requests is
        handled in one pass of the loop, and the tokens due meanwhile would wait for all of it.
        """
        heap, pop, now = self._heap, heapq.heappop, time.monotonic_ns
        if self._dispatching or not heap or heap[0][0] > now():
            return
        self._dispatching = True
        try:
            # Deadlines that pass while earlier callbacks run are served in the same pass.
            while heap and heap[0][0] <= now():
                pop(heap)[2]()
        finally:
            self._dispatching = False
            if heap:
                self._arm(heap[0][0])

    def close(self) -> None:
        if self._fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None


def _libc_with_timerfd() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.c_void_p,
        ]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc_with_timerfd()


def deadline_waiter(precise: bool = True) -> DeadlineWaiter:
    """The precise (timerfd) waiter where Linux offers it, else the millisecond one."""
    if precise and _LIBC is not None:
        try:
            return TimerfdWaiter(_LIBC)
        except OSError:  # out of file descriptors, seccomp, ...: still correct, coarser
            pass
    return DeadlineWaiter()
