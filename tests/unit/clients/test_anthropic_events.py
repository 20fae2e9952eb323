"""Messages events → the record, on hand-built events with small integer times: the same token
accounting as the OpenAI client (TTFT any token, TTFO the first visible one), usage mapped to
the whole prompt, error events categorized by the status their type stands for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmbench.clients.anthropic import MessagesObservation, messages_error_fault
from llmbench.clients.http import RequestFault
from llmbench.records import Channel, ErrorCategory, RequestSpec, SendContext

SPEC = RequestSpec(item_id="i", prompt="p", max_tokens=8)
CTX = SendContext("r", "t", 0, 0)


def feed(obs: MessagesObservation, *events: tuple[int, dict[str, Any]]) -> None:
    for arrival_ns, event in events:
        obs.on_data(json.dumps(event), arrival_ns)


def start(usage: dict[str, int]) -> dict[str, Any]:
    return {"type": "message_start", "message": {"content": [], "usage": usage}}


def block(index: int, kind: str, **fields: str) -> dict[str, Any]:
    return {
        "type": "content_block_start",
        "index": index,
        "content_block": {"type": kind, **fields},
    }


def delta(index: int, kind: str, field: str, text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: text}}


FINAL = {
    "type": "message_delta",
    "delta": {"stop_reason": "end_turn"},
    "usage": {"output_tokens": 4, "cache_read_input_tokens": 90, "input_tokens": 7},
}


def test_thinking_counts_for_the_first_token_text_for_the_first_visible_one() -> None:
    obs = MessagesObservation(None, sent_ns=100, keep_text=True)
    feed(
        obs,
        (110, start({"input_tokens": 7, "cache_creation_input_tokens": 3, "output_tokens": 1})),
        (120, block(0, "thinking", thinking="")),
        (130, delta(0, "thinking_delta", "thinking", "hmm")),
        (135, {"type": "ping"}),
        (140, delta(0, "signature_delta", "signature", "c2ln")),  # carries no generated text
        (150, {"type": "content_block_stop", "index": 0}),
        (160, block(1, "text", text="")),
        (170, delta(1, "text_delta", "text", "Hi")),
        (180, delta(1, "text_delta", "text", " there")),
        (190, {"type": "content_block_stop", "index": 1}),
        (200, FINAL),
        (210, {"type": "message_stop"}),
    )
    assert obs.done
    record = obs.record(SPEC, CTX, None)
    assert record.first_token_ns == 130  # TTFT = 130 - 100: the thinking token
    assert record.first_content_ns == 170  # TTFO = 170 - 100: the first text token
    assert record.end_ns == 210
    assert list(record.chunk_offsets_ns) == [30, 70, 80]
    assert list(record.chunk_channels) == [Channel.REASONING, Channel.CONTENT, Channel.CONTENT]
    assert record.output_tokens == 4  # message_delta's cumulative count wins over message_start's
    # input: 7 uncached + 90 read (message_delta) + 3 written (message_start, not repeated)
    assert record.input_tokens == 100
    assert record.cached_tokens == 90
    assert record.cache_write_tokens == 3
    assert record.finish_reason == "end_turn"
    assert obs.texts == ["hmm", "Hi", " there"]


def test_tool_use_counts_on_the_tool_channel() -> None:
    obs = MessagesObservation(None, sent_ns=0)
    feed(
        obs,
        (5, start({"input_tokens": 1})),
        (10, block(0, "tool_use", id="toolu_1", name="get_weather")),
        (20, delta(0, "input_json_delta", "partial_json", "")),  # empty: no token
        (30, delta(0, "input_json_delta", "partial_json", '{"city": "Paris"}')),
        (40, FINAL),
        (50, {"type": "message_stop"}),
    )
    record = obs.record(SPEC, CTX, None)
    assert list(record.chunk_offsets_ns) == [10, 30]
    assert set(record.chunk_channels) == {Channel.TOOL_CALL}
    assert record.first_token_ns == 10
    assert record.first_content_ns is None


def test_a_clean_end_after_the_final_message_delta_is_complete_else_truncated() -> None:
    obs = MessagesObservation(None, sent_ns=0)
    feed(obs, (5, block(0, "text")), (6, delta(0, "text_delta", "text", "a")), (7, FINAL))
    assert obs.on_clean_eof(9)
    assert obs.no_done
    assert obs.end_ns == 7
    cut = MessagesObservation(None, sent_ns=0)
    feed(cut, (5, block(0, "text")), (6, delta(0, "text_delta", "text", "a")))
    assert not cut.on_clean_eof(9)


@pytest.mark.parametrize(
    ("kind", "category", "status"),
    [
        ("overloaded_error", ErrorCategory.HTTP_5XX, 529),
        ("api_error", ErrorCategory.HTTP_5XX, 500),
        ("rate_limit_error", ErrorCategory.HTTP_429, 429),
        ("invalid_request_error", ErrorCategory.HTTP_4XX, 400),
        ("something_new", ErrorCategory.PROTOCOL, None),
    ],
)
def test_error_events_are_categorized_by_the_status_their_type_stands_for(
    kind: str, category: ErrorCategory, status: int | None
) -> None:
    obs = MessagesObservation(None, sent_ns=0)
    with pytest.raises(RequestFault) as caught:
        feed(obs, (5, {"type": "error", "error": {"type": kind, "message": "boom"}}))
    assert caught.value.category is category
    assert caught.value.http_status == status
    assert "boom" in caught.value.message
    assert messages_error_fault("not an object").category is ErrorCategory.PROTOCOL


@pytest.mark.parametrize("data", ["{not json", "[1, 2]"])
def test_malformed_events_are_protocol_errors(data: str) -> None:
    with pytest.raises(RequestFault) as caught:
        MessagesObservation(None, sent_ns=0).on_data(data, 1)
    assert caught.value.category is ErrorCategory.PROTOCOL


def test_a_whole_message_is_one_chunk_on_its_visible_channel() -> None:
    obs = MessagesObservation(None, sent_ns=0)
    body = {
        "type": "message",
        "content": [{"type": "thinking", "thinking": "so"}, {"type": "text", "text": "Hi all"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 4, "cache_read_input_tokens": 6, "output_tokens": 9},
    }
    obs.on_body(json.dumps(body).encode(), 50)
    record = obs.record(SPEC, CTX, None)
    assert list(record.chunk_tokens) == [9]
    assert list(record.chunk_channels) == [Channel.CONTENT]
    assert record.input_tokens == 10
    assert record.cached_tokens == 6
    with pytest.raises(RequestFault) as caught:
        MessagesObservation(None, 0).on_body(b'{"type":"error","error":{"type":"api_error"}}', 1)
    assert caught.value.category is ErrorCategory.HTTP_5XX
