"""When each request's first byte reached the server process, so the simulated schedule can start
there: the server's own parsing and event-loop queueing then fall inside the simulated TTFT,
as they would inside a real engine's, instead of being added on top of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class ArrivalClock:
    """First-byte times per connection, taken by a thin protocol in front of aiohttp's."""

    def __init__(self) -> None:
        self._first_byte_ns: dict[Any, int] = {}

    def wrap(self, make_protocol: Callable[[], asyncio.BaseProtocol]) -> Callable[[], Any]:
        return lambda: _StampingProtocol(make_protocol(), self._first_byte_ns)

    def take(self, transport: Any) -> int | None:
        """The first-byte time of the request now being handled on `transport` (once)."""
        return self._first_byte_ns.pop(transport, None)


class _StampingProtocol(asyncio.Protocol):
    """Forwards every protocol event to aiohttp's handler; stamps a request's first byte."""

    def __init__(self, inner: Any, stamps: dict[Any, int]) -> None:
        self._inner = inner
        self._stamps = stamps
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # Kept until the handler takes it: a body that arrives in a later read keeps the
        # request's first-byte time.
        self._stamps.setdefault(self._transport, time.monotonic_ns())
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._stamps.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
