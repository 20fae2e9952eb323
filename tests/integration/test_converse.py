"""`converse` returns the reply's text with the record (agent workloads build the next prompt
from it), aligned chunk by chunk with the record's token-bearing chunks; `send` keeps none."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from llmbench.clients.openai import OpenAIClient
from llmbench.records import Reply, RequestRecord, RequestSpec, SendContext

StartSim = Callable[..., str]
TOKENS = 12


async def _both(base_url: str) -> tuple[Reply, RequestRecord]:
    spec = RequestSpec(item_id="q", prompt="Say something.", max_tokens=TOKENS)
    async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
        reply = await client.converse(spec, SendContext("r-0", "sim", 0, 0))
        record = await client.send(spec, SendContext("r-1", "sim", 0, 0))
    return reply, record


def test_converse_keeps_the_reply_text_chunk_by_chunk(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=5, itl_ms=1)
    reply, record = asyncio.run(_both(base_url))
    assert reply.record.ok
    assert record.ok
    assert reply.record.output_tokens == TOKENS
    # one text per token-bearing chunk, none empty, and the words the simulator sends
    assert len(reply.chunk_texts) == len(reply.record.chunk_offsets_ns) == TOKENS
    assert all(reply.chunk_texts)
    assert len(reply.text.split()) == TOKENS
    # counting is unchanged by keeping text: one token per chunk without a tokenizer
    assert list(reply.record.chunk_tokens) == list(record.chunk_tokens) == [1] * TOKENS
