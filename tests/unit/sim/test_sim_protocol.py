"""Request validation and response bytes of the simulator's OpenAI dialect.

Every refusal carries its HTTP status and an OpenAI error body; every event parses as JSON.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest

from llmbench.sim.server.protocol import (
    DEFAULT_MAX_TOKENS,
    ApiError,
    Kind,
    ResponseEncoder,
    parse_request,
    token_text,
)

MODEL = "sim-model"


def _parse(body: Any, kind: Kind = "chat", limit: int = 100) -> Any:
    return parse_request(json.dumps(body).encode(), kind, MODEL, limit)


def png_data_url(width: int, height: int) -> str:
    """A PNG header as far as its size (all the simulator reads)."""
    ihdr = struct.pack(">II", width, height) + bytes((8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0"
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_chat_counts_words_in_strings_and_text_parts() -> None:
    messages = [
        {"role": "system", "content": "be  brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one two\nthree"},
                {"type": "image_url", "image_url": {"url": png_data_url(28, 56)}},
            ],
        },
        {"role": "assistant", "content": None},
    ]
    request = _parse({"model": MODEL, "messages": messages, "max_tokens": 5, "stream": True})
    # 5 words and one 28x56 image: ceil(28/28) * ceil(56/28) = 2 tokens
    assert (request.prompt_tokens, request.max_tokens, request.stream) == (7, 5, True)
    assert (request.images, request.image_tokens, request.assistant_turns) == (1, 2, 1)
    assert request.include_usage is False


def test_completions_counts_every_prompt_and_defaults_max_tokens() -> None:
    request = _parse(
        {"prompt": ["a b", "c"], "stream_options": {"include_usage": True}}, "completions"
    )
    assert (request.prompt_tokens, request.max_tokens, request.stream) == (
        3,
        DEFAULT_MAX_TOKENS,
        False,
    )
    assert request.include_usage is True


def test_max_completion_tokens_wins_and_extras_are_ignored() -> None:
    body = {
        "prompt": "x",
        "max_tokens": 50,
        "max_completion_tokens": 7,
        "ignore_eos": True,
        "min_tokens": 7,
        "temperature": 0,
        "top_p": 1,
        "seed": 3,
        "stop": ["\n"],
        "user": "u",
        "n": 1,
        "stream": None,
    }
    assert _parse(body, "completions").max_tokens == 7


@pytest.mark.parametrize(
    ("body", "kind", "status", "param"),
    [
        ([1, 2], "chat", 400, None),
        ({"messages": []}, "chat", 400, "messages"),
        ({"messages": "hi"}, "chat", 400, "messages"),
        ({"messages": ["hi"]}, "chat", 400, "messages"),
        ({"messages": [{"content": 3}]}, "chat", 400, "messages"),
        ({"messages": [{"content": [{"type": "text", "text": 1}]}]}, "chat", 400, "messages"),
        ({"messages": [{"content": ["x"]}]}, "chat", 400, "messages"),
        ({}, "completions", 400, "prompt"),
        ({"prompt": [1, 2]}, "completions", 400, "prompt"),
        ({"prompt": []}, "completions", 400, "prompt"),
        ({"prompt": "x", "model": 3}, "completions", 400, "model"),
        ({"prompt": "x", "model": "gpt-4"}, "completions", 404, "model"),
        ({"prompt": "x", "max_tokens": 0}, "completions", 422, "max_tokens"),
        ({"prompt": "x", "max_tokens": 101}, "completions", 422, "max_tokens"),
        ({"prompt": "x", "max_completion_tokens": -1}, "completions", 422, "max_completion_tokens"),
        ({"prompt": "x", "max_tokens": "5"}, "completions", 400, "max_tokens"),
        ({"prompt": "x", "max_tokens": True}, "completions", 400, "max_tokens"),
        ({"prompt": "x", "max_tokens": 5.0}, "completions", 400, "max_tokens"),
        ({"prompt": "x", "n": 2}, "completions", 422, "n"),
        ({"prompt": "x", "n": "1"}, "completions", 400, "n"),
        ({"prompt": "x", "stream": "yes"}, "completions", 400, "stream"),
        ({"prompt": "x", "stream_options": []}, "completions", 400, "stream_options"),
        (
            {"prompt": "x", "stream_options": {"include_usage": 1}},
            "completions",
            400,
            "include_usage",
        ),
    ],
)
def test_invalid_requests(body: Any, kind: Kind, status: int, param: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        _parse(body, kind)
    assert (caught.value.status, caught.value.param) == (status, param)
    error = json.loads(caught.value.body())["error"]
    assert set(error) == {"message", "type", "param", "code"}


def test_unknown_model_has_the_openai_code() -> None:
    with pytest.raises(ApiError) as caught:
        _parse({"prompt": "x", "model": "other"}, "completions")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00", b"[" * 100_000, b""])
def test_unparseable_bodies_are_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_request(raw, "chat", MODEL, 100)
    assert caught.value.status == 400


def test_token_text_is_one_word_per_token() -> None:
    for start, count in [(0, 1), (3, 3), (20, 40)]:
        text = token_text(start, count).decode()
        assert text.startswith(" ")
        assert len(text.split()) == count
    assert token_text(0, 2) == token_text(0, 1) + token_text(1, 1)


def _event(raw: bytes) -> Any:
    assert raw.startswith(b"data: ")
    assert raw.endswith(b"\n\n")
    return json.loads(raw[len(b"data: ") :])


def test_chat_stream_events() -> None:
    encoder = ResponseEncoder("chat", "chatcmpl-1", 123, 'odd "model"')
    role = _event(encoder.role_event())
    assert role["object"] == "chat.completion.chunk"
    assert role["model"] == 'odd "model"'
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    more = _event(encoder.token_event(b" a b", last=False))
    assert more["choices"][0]["delta"] == {"content": " a b"}
    assert more["choices"][0]["finish_reason"] is None
    last = _event(encoder.token_event(b" c", last=True))
    assert last["choices"][0]["finish_reason"] == "length"
    usage = _event(encoder.usage_event(3, 4))
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert {k: usage[k] for k in ("id", "created")} == {"id": "chatcmpl-1", "created": 123}


def test_completion_stream_and_bodies() -> None:
    encoder = ResponseEncoder("completions", "cmpl-1", 1, MODEL)
    event = _event(encoder.token_event(b" x", last=True))
    assert event["object"] == "text_completion"
    assert event["choices"][0]["text"] == " x"
    body = json.loads(encoder.body(2, 5))
    assert body["object"] == "text_completion"
    assert len(body["choices"][0]["text"].split()) == 5
    assert body["usage"]["total_tokens"] == 7
    chat = json.loads(ResponseEncoder("chat", "c", 1, MODEL).body(2, 5))
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"]["role"] == "assistant"
    assert len(chat["choices"][0]["message"]["content"].split()) == 5
    assert chat["choices"][0]["finish_reason"] == "length"
