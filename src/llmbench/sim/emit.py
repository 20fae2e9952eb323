"""The hot path of a streamed response: each chunk written at its deadline and logged, from a
fixed schedule or from the twin's engine loop; plus what a response ends with.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from aiohttp import web

from llmbench.sim.clock import DeadlineWaiter
from llmbench.sim.log import RequestLog
from llmbench.sim.protocol import (
    DONE_EVENT,
    MALFORMED_EVENT,
    GenerationRequest,
    ResponseEncoder,
    token_text,
)
from llmbench.sim.served import TwinStream

ChunkPlan = Iterator[tuple[int, int]]
# The twin's plan: token deadlines arrive as the engine plans its steps.
Plan = ChunkPlan | TwinStream


async def emit_chunks(
    response: web.StreamResponse,
    entry: RequestLog,
    n_tokens: int,
    plan: ChunkPlan,
    encoder: ResponseEncoder,
    limit: int | None,
    waiter: DeadlineWaiter,
) -> None:
    """The hot path: sleep to each chunk's deadline, write it, append three ints to the log."""
    # Bound methods hoisted out of the loop: this runs ~25k times a second at full load.
    sleep_until, write = waiter.sleep_until, response.write
    log_deadline = entry.chunk_deadline_ns.append
    log_emit = entry.chunk_emit_ns.append
    log_tokens = entry.chunk_tokens.append
    first_token = 0
    for deadline_ns, count in itertools.islice(plan, limit):
        await sleep_until(deadline_ns)
        end = first_token + count
        event = encoder.token_event(token_text(first_token, count), end == n_tokens)
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
) -> None:
    """`emit_chunks` for the twin: deadlines come from the engine loop as it plans steps."""
    sleep_until, write = waiter.sleep_until, response.write
    first_token = 0
    async for deadline_ns, count in twin.chunks(limit, tokens_per_chunk):
        if deadline_ns > time.monotonic_ns():  # usually due already: handed over at its end
            await sleep_until(deadline_ns)
        end = first_token + count
        event = encoder.token_event(token_text(first_token, count), end == n_tokens)
        entry.chunk_emit_ns.append(time.monotonic_ns())  # before the write: see emit_chunks
        await write(event)
        entry.chunk_deadline_ns.append(deadline_ns)
        entry.chunk_tokens.append(count)
        first_token = end


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
    gen: GenerationRequest, encoder: ResponseEncoder, malformed: bool, twin: TwinStream | None
) -> bytes:
    if malformed:
        return MALFORMED_EVENT + DONE_EVENT
    if gen.include_usage:
        cached = twin.cached_tokens if twin is not None else None
        return encoder.usage_event(gen.prompt_tokens, gen.max_tokens, cached) + DONE_EVENT
    return DONE_EVENT
