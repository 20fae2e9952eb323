"""The simulator's Messages face: request validation and the event sequence, with a thinking
block that ends inside a multi-token chunk."""

from __future__ import annotations

import json

import pytest

from llmbench.sim.server.messages import MessagesEncoder, error_body, parse_messages_request
from llmbench.sim.server.protocol import ApiError, token_text


def events(data: bytes) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in data.decode().strip().split("\n\n"):
        name, payload = block.split("\n")
        out.append((name.removeprefix("event: "), json.loads(payload.removeprefix("data: "))))
    return out


def test_a_thinking_block_ends_inside_a_chunk_and_the_text_block_takes_the_rest() -> None:
    body = {
        "model": "m", "max_tokens": 6, "stream": True, "system": "be brief",
        "thinking": {"type": "enabled", "budget_tokens": 3},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a b c"}]}],
    }  # fmt: skip
    gen = parse_messages_request(json.dumps(body).encode(), "m", 100)
    assert (gen.prompt_tokens, gen.thinking_tokens, gen.include_usage) == (5, 3, True)
    encoder = MessagesEncoder("msg_1", "m", gen)
    wire = encoder.role_event()
    for start in (0, 2, 4):  # chunks of two tokens: the boundary falls inside the second
        wire += encoder.token_event(token_text(start, 2), start == 4)
    wire += encoder.tail(gen, cached_tokens=2)
    seq = events(wire)
    assert [name for name, _ in seq] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    thinking = "".join(str(e["delta"]["thinking"]) for n, e in seq if n == "content_block_delta"  # type: ignore[index]
                       and e["index"] == 0)  # fmt: skip
    text = "".join(str(e["delta"]["text"]) for n, e in seq if n == "content_block_delta"  # type: ignore[index]
                   and e["index"] == 1)  # fmt: skip
    assert thinking == token_text(0, 3).decode()
    assert text == token_text(3, 3).decode()
    usage = seq[-2][1]["usage"]
    assert usage == {
        "input_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2,
        "output_tokens": 6,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, 400),  # no max_tokens
        ({"model": "other", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}, 404),
        ({"max_tokens": 1, "messages": [], "model": "m"}, 400),
        (
            {
                "max_tokens": 4,
                "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "enabled", "budget_tokens": 0},
            },
            400,
        ),
    ],
)
def test_bad_requests_are_refused(body: dict[str, object], status: int) -> None:
    with pytest.raises(ApiError) as caught:
        parse_messages_request(json.dumps(body).encode(), "m", 100)
    assert caught.value.status == status


def test_errors_have_the_messages_shape() -> None:
    assert json.loads(error_body(529, "busy")) == {
        "type": "error", "error": {"type": "overloaded_error", "message": "busy"},
    }  # fmt: skip
