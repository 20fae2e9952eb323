"""TwinStream hand-over: tokens go to a sink (direct writes) until it refuses one; that token
and every later one queue for the awaiting path, in order, with the end of stream kept.
"""

from __future__ import annotations

import asyncio
import time

from llmbench.sim.server.clock import deadline_waiter
from llmbench.sim.server.served import TwinRunner, TwinStream
from llmbench.sim.twin.presets import builtin


async def _drain(stream: TwinStream) -> list[tuple[int, int]]:
    async with asyncio.timeout(1):
        return [chunk async for chunk in stream.chunks()]


def test_tokens_queued_before_attach_go_to_the_sink_first() -> None:
    stream = TwinStream()
    stream.push(10, False)
    stream.push(20, False)
    taken: list[tuple[int, bool]] = []
    stream.attach(lambda deadline_ns, last: taken.append((deadline_ns, last)) is None)
    stream.push(30, True)
    assert taken == [(10, False), (20, False), (30, True)]
    assert stream.done
    assert asyncio.run(_drain(stream)) == []


def test_a_refused_token_and_the_rest_queue_for_the_awaiting_path() -> None:
    stream = TwinStream()
    taken: list[int] = []

    def sink(deadline_ns: int, last: bool) -> bool:
        if len(taken) == 2:
            return False  # the socket stopped taking bytes
        taken.append(deadline_ns)
        return True

    stream.attach(sink)
    for deadline_ns in (1, 2, 3, 4):
        stream.push(deadline_ns, deadline_ns == 4)
    assert taken == [1, 2]
    assert stream.sink is None
    assert asyncio.run(_drain(stream)) == [(3, 1), (4, 1)]


def test_attach_that_refuses_at_once_leaves_the_queue_whole() -> None:
    stream = TwinStream()
    stream.push(5, False)
    stream.push(6, True)
    stream.attach(lambda deadline_ns, last: False)
    assert stream.sink is None
    assert asyncio.run(_drain(stream)) == [(5, 1), (6, 1)]


def test_a_request_handed_over_after_its_step_was_planned_joins_the_next() -> None:
    """The engine cannot undo a plan: a request whose handler ran after the step it was
    eligible for had been planned gets an engine arrival just after that step's start (logged,
    so the virtual clock can be fed what was served)."""

    async def main() -> tuple[int, int, int, list[int]]:
        preset = builtin("cloud-warm")
        runner = TwinRunner(preset, seed=1, waiter=deadline_waiter())
        overhead_s = preset.engine.request_overhead_s
        async with asyncio.TaskGroup() as group:
            loop_task = group.create_task(runner.run())
            arrival_ns = time.monotonic_ns()
            first = runner.submit(arrival_ns, 16, 4, None)
            await asyncio.sleep(overhead_s + 0.05)  # the engine has planned the first's step
            late = runner.submit(arrival_ns, 16, 4, None)  # arrived with it, handed over late
            loop_task.cancel()
        # Steps run back to back: each starts where the one before ended, the first at the
        # first request's eligibility (arrival + overhead).
        starts_s = [runner.seconds(arrival_ns) + overhead_s, *runner.engine.step_end_s]
        eligible_ns = late.engine_arrival_ns + round(overhead_s * 1e9)
        return (
            arrival_ns,
            first.engine_arrival_ns,
            eligible_ns,
            [runner.nanoseconds(s) for s in starts_s],
        )

    arrival_ns, first_ns, late_eligible_ns, step_starts_ns = asyncio.run(main())
    assert first_ns == arrival_ns
    # The late one is eligible 1 µs after the start of a step planned before it was handed over.
    planned = [s for s in step_starts_ns if s < late_eligible_ns]
    assert len(planned) >= 1
    assert abs(late_eligible_ns - (planned[-1] + 1_000)) <= 2
