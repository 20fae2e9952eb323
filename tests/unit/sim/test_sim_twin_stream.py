"""TwinStream hand-over: tokens go to a sink (direct writes) until it refuses one; that token
and every later one queue for the awaiting path, in order, with the end of stream kept.
"""

from __future__ import annotations

import asyncio

from llmbench.sim.server.served import TwinStream


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
