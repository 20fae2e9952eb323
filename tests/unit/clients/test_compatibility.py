"""The compatibility matrix (docs/compatibility.md): each engine's stream, replayed by a real
loopback server with its timing, measured with the right TTFT, TTFO and token counts; each
also with CRLF line ends and with multi-byte characters cut across reads."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from llmbench.clients import OpenAIClient
from llmbench.metrics.request import ttfo_ns, ttft_ns
from llmbench.records import Channel, RequestRecord, RequestSpec, SendContext
from support.streams import (
    FIXTURES,
    ITL_S,
    TTFO_S,
    TTFT_S,
    WORDS,
    Piece,
    StreamFixture,
    crlf,
    split_utf8,
)

if TYPE_CHECKING:
    from conftest import CannedServer

CHAT = "/v1/chat/completions"
MS = 1_000_000
# What a busy 2-core host may add to a read: bounds only from above, never below.
SLACK_NS = 80 * MS
VARIANTS: dict[str, Callable[[tuple[Piece, ...]], tuple[Piece, ...]]] = {
    "as-sent": lambda pieces: pieces,
    "crlf": crlf,
    "utf8-split": split_utf8,
}


def replay(server: CannedServer, fixture: StreamFixture, variant: str) -> RequestRecord:
    server.route(CHAT, *VARIANTS[variant](fixture.pieces))

    async def main() -> RequestRecord:
        async with OpenAIClient(base_url=server.url, model="m") as client:
            spec = RequestSpec(item_id="i", prompt="hi", max_tokens=4)
            return await client.send(spec, SendContext("r", "t", 0, 0))

    return asyncio.run(main())


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_each_engines_stream_is_measured_right(
    server: CannedServer, fixture: StreamFixture, variant: str
) -> None:
    record = replay(server, fixture, variant)
    want = fixture.expect
    assert record.ok is want.ok, record.error
    assert (record.error.category.value if record.error else None) == want.error_category
    assert len(record.chunk_offsets_ns) == want.chunks
    assert list(record.chunk_channels).count(Channel.REASONING) == want.reasoning_chunks
    assert record.output_tokens == want.output_tokens
    assert record.output_tokens_source == want.count_source
    assert record.finish_reason == want.finish_reason
    assert record.no_done is want.no_done
    # Role-only, empty and usage chunks come at once: counted as tokens, TTFT would be ~0.
    ttft = ttft_ns(record)
    assert ttft is not None
    assert TTFT_S * 1e9 <= ttft < TTFT_S * 1e9 + SLACK_NS
    ttfo = ttfo_ns(record)
    if want.reasoning_chunks:
        assert ttfo is not None
        assert TTFO_S * 1e9 <= ttfo < TTFO_S * 1e9 + SLACK_NS
    else:
        assert ttfo == ttft
    gaps = [b - a for a, b in itertools.pairwise(record.chunk_offsets_ns)]
    assert min(gaps, default=ITL_S * 1e9) > 0  # every token chunk arrived in its own read
    if record.ok:
        assert record.end_ns is not None
        assert record.end_ns >= record.sent_ns + record.chunk_offsets_ns[-1]


class Recording:
    """A tokenizer that keeps every text it was asked to count."""

    name = "recording"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def count(self, text: str) -> int:
        self.texts.append(text)
        return len(text.split())


def test_the_text_survives_every_split(server: CannedServer) -> None:
    fixture = next(f for f in FIXTURES if f.name == "transformers")
    server.route(CHAT, *split_utf8(crlf(fixture.pieces)))
    tokenizer = Recording()

    async def main() -> RequestRecord:
        async with OpenAIClient(base_url=server.url, model="m", tokenizer=tokenizer) as client:
            spec = RequestSpec(item_id="i", prompt="hi", max_tokens=4)
            return await client.send(spec, SendContext("r", "t", 0, 0))

    record = asyncio.run(main())
    assert record.ok
    assert tokenizer.texts[-1] == "".join(WORDS)  # no character replaced, lost or doubled
