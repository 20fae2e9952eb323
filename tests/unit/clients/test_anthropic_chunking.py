"""A Messages stream read in any split of its bytes (inside an event, a line end or a UTF-8
sequence) gives the same record, save arrival times: a hypothesis property."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.clients.anthropic import MessagesObservation
from llmbench.clients.sse import SSEDecoder
from llmbench.records import RequestSpec, SendContext


def _event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\r\ndata: {json.dumps(data, ensure_ascii=False)}\r\n\r\n".encode()


STREAM = b"".join(
    [
        _event("message_start", {"type": "message_start", "message": {"usage": {
            "input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 1}}}),
        _event("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "thinking", "thinking": ""}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "thinking_delta", "thinking": "häh…"}}),
        b": keep-alive comment\n\n",
        _event("ping", {"type": "ping"}),
        _event("content_block_start", {"type": "content_block_start", "index": 1,
                                       "content_block": {"type": "text", "text": ""}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                       "delta": {"type": "text_delta", "text": "Grüße 🌍"}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                       "delta": {"type": "text_delta", "text": " zusammen"}}),
        _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": 3}}),
        _event("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip


def _read(pieces: list[bytes]) -> tuple[object, ...]:
    obs = MessagesObservation(None, sent_ns=0, keep_text=True)
    decoder = SSEDecoder()
    for arrival, piece in enumerate(pieces, start=1):
        for event in decoder.feed(piece):
            obs.on_data(event.data, arrival)
    record = obs.record(RequestSpec(item_id="i", prompt="p", max_tokens=8),
                        SendContext("r", "t", 0, 0), None)  # fmt: skip
    return (
        obs.done, list(record.chunk_channels), list(record.chunk_tokens), tuple(obs.texts or ()),
        record.input_tokens, record.cached_tokens, record.output_tokens, record.finish_reason,
    )  # fmt: skip


WHOLE = _read([STREAM])


def test_the_whole_stream_reads_as_written() -> None:
    done, channels, _, texts, input_tokens, cached, output, reason = WHOLE
    assert done
    assert channels == [1, 0, 0]
    assert texts == ("häh…", "Grüße 🌍", " zusammen")
    assert (input_tokens, cached, output, reason) == (12, 7, 3, "end_turn")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=40))
def test_any_split_of_the_bytes_reads_the_same(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert _read(pieces) == WHOLE
