"""OpenAIClient against canned responses over loopback: timings, chunks, counts, request shape."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from llmbench.clients import OpenAIClient, http
from llmbench.clients.tokens import WhitespaceTokenizer
from llmbench.records import Channel, CountSource, RequestRecord, RequestSpec, SendContext, Status

if TYPE_CHECKING:
    from conftest import CannedServer

MS = 1_000_000
CHAT = "/v1/chat/completions"
SPEC = RequestSpec(item_id="item-1", prompt="say hi", max_tokens=16, input_tokens=5)
CTX = SendContext(request_id="req-1", target_id="t", worker_id=3, scheduled_ns=123, warmup=True)
DONE = b"data: [DONE]\n\n"


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def delta(finish: str | None = None, **fields: Any) -> bytes:
    return sse({"choices": [{"index": 0, "delta": fields, "finish_reason": finish}]})


def usage(completion: int, prompt: int = 7, cached: int | None = None) -> bytes:
    u: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    if cached is not None:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return sse({"choices": [], "usage": u})


def fetch(server: CannedServer, spec: RequestSpec = SPEC, **client_kw: Any) -> RequestRecord:
    """Sends one request through a fresh client, in a fresh event loop."""

    async def main() -> RequestRecord:
        async with OpenAIClient(base_url=server.url, model="m", **client_kw) as client:
            return await client.send(spec, CTX)

    return asyncio.run(main())


def test_ttft_skips_role_and_usage_chunks(server: CannedServer) -> None:
    role = delta(role="assistant", content="")
    last = delta(content=" world", finish="stop")
    server.route(CHAT, role, 0.05, delta(content="Hello"), 0.03, last, usage(2), DONE)
    rec = fetch(server)
    assert rec.status is Status.OK
    assert rec.error is None
    assert rec.sent_ns <= rec.headers_ns < rec.first_token_ns
    assert rec.first_token_ns - rec.sent_ns >= 50 * MS  # the role chunk came at once: skipped
    assert rec.first_content_ns == rec.first_token_ns == rec.sent_ns + rec.chunk_offsets_ns[0]
    assert len(rec.chunk_offsets_ns) == 2  # the usage-only chunk is not token-bearing
    assert rec.chunk_offsets_ns[1] - rec.chunk_offsets_ns[0] >= 25 * MS  # slept 30 ms; jitter
    assert rec.end_ns >= rec.sent_ns + rec.chunk_offsets_ns[1]
    assert list(rec.chunk_tokens) == [1, 1]
    assert list(rec.chunk_channels) == [Channel.CONTENT] * 2
    assert (rec.output_tokens, rec.output_tokens_source) == (2, CountSource.USAGE)
    assert (rec.finish_reason, rec.http_status, rec.requested_output_tokens) == ("stop", 200, 16)
    assert (rec.request_id, rec.target_id, rec.item_id, rec.worker_id) == (
        "req-1",
        "t",
        "item-1",
        3,
    )
    assert (rec.scheduled_ns, rec.warmup, rec.session_id) == (123, True, None)


def test_ttfo_after_reasoning(server: CannedServer) -> None:
    server.route(
        CHAT,
        delta(reasoning_content="think"),
        0.04,
        delta(reasoning="more"),
        0.04,
        delta(content="answer"),
        DONE,
    )
    rec = fetch(server)
    assert list(rec.chunk_channels) == [Channel.REASONING, Channel.REASONING, Channel.CONTENT]
    assert rec.first_token_ns == rec.sent_ns + rec.chunk_offsets_ns[0]
    assert rec.first_content_ns == rec.sent_ns + rec.chunk_offsets_ns[2]
    assert rec.first_content_ns - rec.first_token_ns >= 70 * MS  # slept 80 ms; jitter


def test_tool_call_deltas_are_token_bearing(server: CannedServer) -> None:
    def call(**function: str) -> list[dict[str, Any]]:
        return [{"index": 0, "id": "c1", "type": "function", "function": function}]

    server.route(
        CHAT,
        delta(role="assistant", tool_calls=call(name="", arguments="")),  # ids only: no tokens
        delta(tool_calls=call(name="get_weather")),
        delta(tool_calls=call(arguments='{"city": "Paris"}'), finish="tool_calls"),
        DONE,
    )
    rec = fetch(server, tokenizer=WhitespaceTokenizer())
    assert list(rec.chunk_channels) == [Channel.TOOL_CALL, Channel.TOOL_CALL]
    assert list(rec.chunk_tokens) == [1, 2]  # 'get_weather'; '{"city":' '"Paris"}'
    assert rec.first_content_ns is None
    assert rec.first_token_ns is not None
    assert rec.finish_reason == "tool_calls"


def test_tokenizer_counts_without_usage(server: CannedServer) -> None:
    parts = [delta(content="Hello world"), delta(reasoning_content=" a b c"), delta(content=" x")]
    server.route(CHAT, *parts, DONE)
    rec = fetch(server, tokenizer=WhitespaceTokenizer())
    assert list(rec.chunk_tokens) == [2, 3, 1]
    assert rec.tokenizer_output_tokens == 6  # "Hello world a b c x": all channels
    assert rec.usage_output_tokens is None
    assert (rec.output_tokens, rec.output_tokens_source) == (6, CountSource.TOKENIZER)
    assert rec.input_tokens == 5  # the spec's planned count when the server sends no usage


def test_usage_wins_over_tokenizer_and_both_are_kept(server: CannedServer) -> None:
    server.route(CHAT, delta(content="one two"), usage(9, prompt=40, cached=32), DONE)
    rec = fetch(server, tokenizer=WhitespaceTokenizer())
    assert (rec.output_tokens, rec.output_tokens_source) == (9, CountSource.USAGE)
    assert (rec.usage_output_tokens, rec.tokenizer_output_tokens) == (9, 2)
    assert (rec.input_tokens, rec.cached_tokens) == (40, 32)


def test_chunk_count_is_the_last_resort(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a b"), delta(content="c"), DONE)
    rec = fetch(server)
    assert (rec.output_tokens, rec.output_tokens_source) == (2, CountSource.CHUNKS)
    assert list(rec.chunk_tokens) == [1, 1]
    assert (rec.tokenizer_output_tokens, rec.cached_tokens) == (None, None)


def test_events_of_one_read_share_its_arrival_time(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a") + delta(content="b") + DONE)
    rec = fetch(server)
    assert rec.chunk_offsets_ns[0] == rec.chunk_offsets_ns[1]
    assert rec.end_ns == rec.first_token_ns


def test_crlf_stream_with_keepalives_split_anywhere(server: CannedServer) -> None:
    body = b": keep-alive\n\n" + delta(content="x") + b": ping\n\n" + DONE
    body = body.replace(b"\n", b"\r\n")
    server.route(CHAT, body[:7], 0.01, body[7:30], 0.01, body[30:])
    rec = fetch(server)
    assert rec.ok
    assert len(rec.chunk_offsets_ns) == 1


def test_completions_endpoint(server: CannedServer) -> None:
    def text(t: str) -> bytes:
        return sse({"choices": [{"index": 0, "text": t, "finish_reason": None}]})

    server.route("/v1/completions", text(""), 0.03, text("Hi"), text(" there"), usage(2), DONE)
    rec = fetch(server, endpoint="completions")
    assert rec.ok
    assert len(rec.chunk_offsets_ns) == 2
    assert rec.first_content_ns == rec.first_token_ns
    assert rec.first_token_ns - rec.sent_ns >= 30 * MS
    body = json.loads(server.requests[0].body)
    assert body["prompt"] == "say hi"
    assert "messages" not in body


def test_non_streaming(server: CannedServer) -> None:
    response = {
        "choices": [
            {"message": {"role": "assistant", "content": "a b c"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3},
    }
    server.route(CHAT, 0.03, json.dumps(response).encode(), content_type="application/json")
    rec = fetch(server, stream=False, tokenizer=WhitespaceTokenizer())
    assert rec.ok
    assert rec.first_token_ns == rec.first_content_ns == rec.end_ns
    assert rec.end_ns - rec.sent_ns >= 30 * MS
    assert (list(rec.chunk_tokens), list(rec.chunk_channels)) == ([3], [Channel.CONTENT])
    assert (rec.output_tokens, rec.output_tokens_source) == (3, CountSource.USAGE)
    assert (rec.input_tokens, rec.finish_reason) == (4, "length")
    body = json.loads(server.requests[0].body)
    assert body["stream"] is False
    assert "stream_options" not in body


def test_request_shape(server: CannedServer) -> None:
    server.route(CHAT, DONE)
    fetch(
        server,
        api_key="sk-test-abcdefgh12345",
        extra_headers={"X-Extra": "1"},
        extra_body={"temperature": 0, "max_tokens": 99},
    )
    seen = server.requests[0]
    assert (seen.method, seen.path) == ("POST", CHAT)
    assert seen.headers["X-Request-Id"] == "req-1"
    assert seen.headers["Authorization"] == "Bearer sk-test-abcdefgh12345"
    assert seen.headers["X-Extra"] == "1"
    assert json.loads(seen.body) == {
        "model": "m",
        "messages": [{"role": "user", "content": "say hi"}],
        "max_tokens": 99,  # extra_body wins
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
    }


def test_base_url_ending_in_v1_and_chat_messages(server: CannedServer) -> None:
    server.route(CHAT, DONE)
    messages = ({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"})
    spec = RequestSpec(item_id="i", prompt="ignored", max_tokens=4, messages=messages)
    server.url += "/v1/"
    rec = fetch(server, spec)
    assert rec.ok
    assert (rec.output_tokens, rec.first_token_ns) == (0, None)  # nothing generated: a real 0
    assert json.loads(server.requests[0].body)["messages"] == list(messages)


def test_concurrent_requests_respect_the_connection_limit(server: CannedServer) -> None:
    server.route(CHAT, delta(content="x"), 0.05, DONE)

    async def main() -> list[RequestRecord]:
        async with (
            OpenAIClient(base_url=server.url, model="m", connection_limit=4) as client,
            asyncio.TaskGroup() as tg,
        ):
            tasks = [tg.create_task(client.send(SPEC, CTX)) for _ in range(8)]
        return [t.result() for t in tasks]

    records = asyncio.run(main())
    assert all(r.ok for r in records)
    # 8 requests of ≥ 50 ms over 4 connections: the second four waited for a free one.
    assert max(r.end_ns for r in records) - min(r.sent_ns for r in records) >= 100 * MS


def test_works_without_orjson(server: CannedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "_orjson", None)  # orjson is optional: json is the fallback
    server.route(CHAT, delta(content="héllo"), b"data: {oops\n\n")
    rec = fetch(server)
    assert rec.error is not None
    assert "malformed JSON" in rec.error.message
    assert len(rec.chunk_offsets_ns) == 1
    assert json.loads(server.requests[0].body)["messages"][0]["content"] == "say hi"


def test_open_connections_are_reused_by_the_first_requests(server: CannedServer) -> None:
    server.route(CHAT, 0.05, delta(content="hi"), usage(1), DONE)  # 50 ms: all 3 overlap

    async def main() -> tuple[int, int, int]:
        async with OpenAIClient(base_url=server.url, model="m", connection_limit=3) as client:
            opened = await client.open_connections(5)  # capped at the limit
            await asyncio.sleep(0.05)  # the server's loop accepts them
            before = server.connections()
            async with asyncio.TaskGroup() as group:
                for n in range(3):
                    ctx = SendContext(f"r{n}", "t", n, 0)
                    group.create_task(client.send(SPEC, ctx))
            return opened, before, server.connections()

    # No new connection was opened for the measured requests: still the 3 warm ones.
    assert asyncio.run(main()) == (3, 3, 3)
    # Plain connects: nothing was sent to open them, no endpoint had to answer.
    assert [s.path for s in server.requests] == [CHAT] * 3
    assert len({s.peer for s in server.requests}) == 3
