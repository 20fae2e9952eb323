"""First-byte stamping: one stamp per request, kept across reads, gone with its connection."""

from __future__ import annotations

import asyncio
from typing import Any

from llmbench.sim.server.arrival import ArrivalClock


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append(("made", transport))

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(("lost", exc))


def test_stamp_is_the_first_read_of_a_request_and_is_taken_once() -> None:
    clock = ArrivalClock()
    inner = Recorder()
    protocol = clock.wrap(lambda: inner)()
    transport = object()
    protocol.connection_made(transport)
    protocol.data_received(b"POST / HTTP/1.1\r\n")
    protocol.data_received(b"\r\n{}")  # the body in a later read keeps the first stamp
    first = clock.take(transport)
    assert first is not None
    assert clock.take(transport) is None  # taken once
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")  # next request on the kept-alive socket
    second = clock.take(transport)
    assert second is not None
    assert second >= first
    protocol.data_received(b"x")
    protocol.connection_lost(None)
    assert clock.take(transport) is None  # no stamp outlives its connection
    assert [e[0] for e in inner.events] == ["made", "data", "data", "data", "data", "lost"]
