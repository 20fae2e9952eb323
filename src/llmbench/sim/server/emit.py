"""The hot path of a streamed response: each chunk written at its deadline and logged, from a
fixed schedule or from the twin's engine loop; plus what a response ends with.

Two ways to write: `DirectEmitter` (fault-free chunked streams) writes from timer or engine
callbacks straight to the socket, with no task wake-up or await per chunk; `emit_chunks` and
`emit_twin` await each chunk through aiohttp (faults, flow control, non-chunked responses).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from llmbench.sim.server.clock import DeadlineWaiter
from llmbench.sim.server.log import RequestLog
from llmbench.sim.server.protocol import (
    DONE_EVENT,
    MALFORMED_EVENT,
    GenerationRequest,
    ResponseEncoder,
)
from llmbench.sim.server.served import TwinStream

ChunkPlan = Iterator[tuple[int, int]]
# The twin's plan: token deadlines arrive as the engine plans its steps.
Plan = ChunkPlan | TwinStream
# Bytes the transport may hold unsent before a direct stream hands over to the awaiting path,
# whose aiohttp writes wait for a slow reader (the kernel's socket buffer fills first).
DIRECT_BUFFER_LIMIT = 1 << 16


class DirectEmitter:
    """Writes one stream's token chunks, when due, straight to its transport.

    The bytes are what aiohttp writes for a chunked response (hex size, CRLF, data, CRLF), and
    the log is the same. `done` resolves True when the last token is out, False when the socket
    stopped taking bytes (the caller resumes the awaiting path from `first_token`), or with a
    ConnectionError when the client has gone.
    """

    __slots__ = ("_encoder", "_entry", "_n_tokens", "_transport", "done", "first_token")

    def __init__(
        self,
        transport: asyncio.Transport,
        entry: RequestLog,
        n_tokens: int,
        encoder: ResponseEncoder,
    ) -> None:
        self._transport = transport
        self._entry = entry
        self._n_tokens = n_tokens
        self._encoder = encoder
        self.first_token = 0
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def emit(self, deadline_ns: int, count: int) -> bool:
        """Writes the next chunk now; False (and `done` set) when it cannot."""
        if self.done.done():  # stopped: the request ended or was cancelled
            return False
        transport = self._transport
        if transport.is_closing():
            self.done.set_exception(ConnectionResetError("client closed the connection"))
            return False
        if transport.get_write_buffer_size() > DIRECT_BUFFER_LIMIT:
            self.done.set_result(False)
            return False
        start = self.first_token
        end = start + count
        data = self._encoder.chunked_token_event(
            self._encoder.tokens(start, count), end == self._n_tokens
        )
        entry = self._entry
        entry.chunk_emit_ns.append(time.monotonic_ns())  # before the write: see emit_chunks
        transport.write(data)
        entry.chunk_deadline_ns.append(deadline_ns)
        entry.chunk_tokens.append(count)
        self.first_token = end
        return True

    def stop(self) -> None:
        if not self.done.done():
            self.done.set_result(False)


class PlannedEmitter(DirectEmitter):
    """A fixed schedule: each chunk is a timer callback that writes it and arms the next."""

    __slots__ = ("_next", "_plan", "_waiter")

    def start(self, plan: ChunkPlan, waiter: DeadlineWaiter) -> None:
        self._plan, self._waiter = plan, waiter
        self._arm()

    def _arm(self) -> None:
        self._next = next(self._plan, None)
        if self._next is None:
            self.done.set_result(True)
        else:
            self._waiter.call_at(self._next[0], self._fire)

    def _fire(self) -> None:
        assert self._next is not None
        if self.emit(*self._next):
            self._arm()

    def rest(self) -> ChunkPlan:
        """The chunks not yet written, for the awaiting path."""
        return itertools.chain([self._next] if self._next else [], self._plan)


class TwinEmitter(DirectEmitter):
    """The twin's tokens, written by the engine loop when their step ends (`TwinStream.sink`)."""

    __slots__ = ()

    def token(self, deadline_ns: int, last: bool) -> bool:
        if not self.emit(deadline_ns, 1):
            return False
        if last:
            self.done.set_result(True)
        return True


async def emit_chunks(
    response: web.StreamResponse,
    entry: RequestLog,
    n_tokens: int,
    plan: ChunkPlan,
    encoder: ResponseEncoder,
    limit: int | None,
    waiter: DeadlineWaiter,
    first_token: int = 0,
) -> None:
    """Sleep to each chunk's deadline, write it, append three ints to the log."""
    # Bound methods hoisted out of the loop: this runs ~25k times a second at full load.
    sleep_until, write = waiter.sleep_until, response.write
    log_deadline = entry.chunk_deadline_ns.append
    log_emit = entry.chunk_emit_ns.append
    log_tokens = entry.chunk_tokens.append
    for deadline_ns, count in itertools.islice(plan, limit):
        await sleep_until(deadline_ns)
        end = first_token + count
        event = encoder.token_event(encoder.tokens(first_token, count), end == n_tokens)
        # Truth is the moment the bytes go to the socket: `write` may hand them over and then
        # yield, so a time taken after it could be later than the client's arrival time.
        log_emit(time.monotonic_ns())
        await write(event)
        log_deadline(deadline_ns)
        log_tokens(count)
        first_token = end


async def emit_twin(
    response: web.StreamResponse,
    entry: RequestLog,
    n_tokens: int,
    twin: TwinStream,
    encoder: ResponseEncoder,
    limit: int | None,
    waiter: DeadlineWaiter,
    tokens_per_chunk: int,
    first_token: int = 0,
) -> None:
    """`emit_chunks` for the twin: deadlines come from the engine loop as it plans steps."""
    sleep_until, write = waiter.sleep_until, response.write
    async for deadline_ns, count in twin.chunks(limit, tokens_per_chunk):
        if deadline_ns > time.monotonic_ns():  # usually due already: handed over at its end
            await sleep_until(deadline_ns)
        end = first_token + count
        event = encoder.token_event(encoder.tokens(first_token, count), end == n_tokens)
        entry.chunk_emit_ns.append(time.monotonic_ns())  # before the write: see emit_chunks
        await write(event)
        entry.chunk_deadline_ns.append(deadline_ns)
        entry.chunk_tokens.append(count)
        first_token = end


async def emit_direct(
    response: web.StreamResponse,
    transport: asyncio.Transport,
    entry: RequestLog,
    n_tokens: int,
    plan: Plan,
    encoder: ResponseEncoder,
    waiter: DeadlineWaiter,
    tokens_per_chunk: int,
) -> None:
    """A fault-free chunked stream through a `DirectEmitter`; the awaiting path takes over
    from where it stopped if the client reads too slowly."""
    if isinstance(plan, TwinStream):
        if tokens_per_chunk == 1:  # the engine hands over single tokens
            twin_emitter = TwinEmitter(transport, entry, n_tokens, encoder)
            plan.attach(twin_emitter.token)
            try:
                finished = await twin_emitter.done
            finally:
                plan.sink = None
                twin_emitter.stop()
            if finished:
                return
            first_token = twin_emitter.first_token
        else:
            first_token = 0
        await emit_twin(
            response, entry, n_tokens, plan, encoder, None, waiter, tokens_per_chunk, first_token
        )
        return
    emitter = PlannedEmitter(transport, entry, n_tokens, encoder)
    emitter.start(plan, waiter)
    try:
        finished = await emitter.done
    finally:
        emitter.stop()
    if not finished:
        rest = emitter.rest()
        await emit_chunks(
            response, entry, n_tokens, rest, encoder, None, waiter, emitter.first_token
        )


async def due_chunks(
    plan: Plan, waiter: DeadlineWaiter, tokens_per_chunk: int
) -> AsyncIterator[tuple[int, int]]:
    """(deadline_ns, tokens) of each chunk of `plan`, yielded once it is due."""
    if isinstance(plan, TwinStream):
        async for deadline_ns, count in plan.chunks(None, tokens_per_chunk):
            if deadline_ns > time.monotonic_ns():
                await waiter.sleep_until(deadline_ns)
            yield deadline_ns, count
        return
    for deadline_ns, count in plan:
        await waiter.sleep_until(deadline_ns)
        yield deadline_ns, count


async def last_deadline(plan: Plan, cut_after: int | None, default_ns: int) -> int:
    """When the last token (or chunk `cut_after`) is due: a unary response waits for it."""
    deadline_ns = default_ns
    if isinstance(plan, TwinStream):
        async for chunk_deadline_ns, _ in plan.chunks(cut_after):
            deadline_ns = chunk_deadline_ns
        return deadline_ns
    for index, (chunk_deadline_ns, _) in enumerate(plan):
        if cut_after is not None and index >= cut_after:
            break
        deadline_ns = chunk_deadline_ns
    return deadline_ns


def tail(
    gen: GenerationRequest,
    encoder: ResponseEncoder,
    malformed: bool,
    twin: TwinStream | None,
    error_event: bool = False,
) -> bytes:
    if malformed:
        return MALFORMED_EVENT + DONE_EVENT
    if error_event:
        return encoder.error_event()
    return encoder.tail(gen, twin.cached_tokens if twin is not None else None)
