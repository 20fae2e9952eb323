"""OpenAIClient failures: each error category, partial timings kept, the API key never recorded."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from llmbench.clients import OpenAIClient
from llmbench.records import ErrorCategory, RequestRecord, RequestSpec, SendContext, Status

if TYPE_CHECKING:
    from conftest import CannedServer

CHAT = "/v1/chat/completions"
SPEC = RequestSpec(item_id="item-1", prompt="say hi", max_tokens=16)
CTX = SendContext(request_id="req-1", target_id="t", worker_id=0, scheduled_ns=0)
DONE = b"data: [DONE]\n\n"
KEY = "sk-live-0123456789abcdef"


def delta(**fields: Any) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": fields}]}).encode() + b"\n\n"


def fetch(base_url: str, **client_kw: Any) -> RequestRecord:
    async def main() -> RequestRecord:
        async with OpenAIClient(base_url=base_url, model="m", **client_kw) as client:
            return await client.send(SPEC, CTX)

    return asyncio.run(main())


def assert_error(rec: RequestRecord, category: ErrorCategory, *words: str) -> None:
    assert rec.status is Status.ERROR
    assert rec.error is not None
    assert rec.error.category is category, rec.error
    for word in words:
        assert word in rec.error.message, rec.error.message


def test_connection_refused(closed_port_url: str) -> None:
    rec = fetch(closed_port_url)
    assert_error(rec, ErrorCategory.CONNECT, "cannot connect")
    assert (rec.headers_ns, rec.http_status, rec.output_tokens, rec.output_tokens_source) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (401, ErrorCategory.HTTP_4XX),
        (404, ErrorCategory.HTTP_4XX),
        (429, ErrorCategory.HTTP_429),
        (500, ErrorCategory.HTTP_5XX),
    ],
)
def test_http_error_status(server: CannedServer, status: int, category: ErrorCategory) -> None:
    body = json.dumps({"error": {"message": f"nope {status}", "type": "x"}}).encode()
    server.route(CHAT, body, status=status, content_type="application/json")
    rec = fetch(server.url)
    assert_error(rec, category, f"HTTP {status}", f"nope {status}")
    assert rec.error is not None
    assert rec.error.http_status == rec.http_status == status
    assert rec.headers_ns is not None


def test_error_body_read_is_bounded(server: CannedServer) -> None:
    server.route(CHAT, b"x" * 200_000, status=503, content_type="text/plain")
    rec = fetch(server.url)
    assert_error(rec, ErrorCategory.HTTP_5XX, "HTTP 503")
    assert rec.error is not None
    assert len(rec.error.message) < 1000


def test_malformed_json_keeps_earlier_chunks(server: CannedServer) -> None:
    server.route(CHAT, delta(content="ok"), b"data: {not json\n\n", DONE)
    rec = fetch(server.url)
    assert_error(rec, ErrorCategory.PROTOCOL, "malformed JSON")
    assert len(rec.chunk_offsets_ns) == 1
    assert rec.first_token_ns is not None


def test_wrong_content_type(server: CannedServer) -> None:
    server.route(CHAT, b'{"choices": []}', content_type="application/json")
    rec = fetch(server.url)
    assert_error(rec, ErrorCategory.PROTOCOL, "text/event-stream", "application/json")
    assert rec.http_status == 200


def test_stream_cut_before_done_keeps_partial_chunks(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a"), 0.02, delta(content="b"), 0.02, cut=True)
    rec = fetch(server.url)
    assert_error(rec, ErrorCategory.PROTOCOL)
    assert len(rec.chunk_offsets_ns) == 2
    assert rec.chunk_offsets_ns[1] - rec.chunk_offsets_ns[0] >= 15_000_000  # slept 20 ms
    assert (rec.output_tokens, rec.output_tokens_source) == (2, "chunks")


def test_clean_eof_before_done(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a"), b"data: {")
    rec = fetch(server.url)
    assert_error(rec, ErrorCategory.PROTOCOL, "before [DONE]", "inside an event")
    assert rec.end_ns is not None
    assert len(rec.chunk_offsets_ns) == 1


def test_timeout_before_first_token(server: CannedServer) -> None:
    server.route(CHAT, delta(role="assistant"), 2.0, DONE)
    rec = fetch(server.url, request_timeout_s=0.3)
    assert_error(rec, ErrorCategory.TIMEOUT_BEFORE_FIRST_TOKEN, "0.3 s")
    assert rec.headers_ns is not None
    assert rec.first_token_ns is None


def test_timeout_mid_stream(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a"), 2.0, DONE)
    rec = fetch(server.url, request_timeout_s=0.3)
    assert_error(rec, ErrorCategory.TIMEOUT_MID_STREAM, "after 1 chunks")
    assert len(rec.chunk_offsets_ns) == 1
    assert rec.end_ns is None


def test_cancellation_returns_partial_record(server: CannedServer) -> None:
    server.route(CHAT, delta(content="a"), 0.02, delta(content="b"), 2.0, DONE)

    async def main() -> RequestRecord:
        async with OpenAIClient(base_url=server.url, model="m") as client:
            task = asyncio.create_task(client.send(SPEC, CTX))
            await asyncio.sleep(0.2)
            task.cancel()
            return await asyncio.wait_for(task, 5)

    rec = asyncio.run(main())
    assert_error(rec, ErrorCategory.CANCELLED)
    assert len(rec.chunk_offsets_ns) == 2
    assert rec.first_token_ns is not None


@pytest.mark.parametrize(
    ("event", "category", "status"),
    [
        ({"error": {"message": "engine died", "code": 500}}, ErrorCategory.HTTP_5XX, 500),
        ({"error": {"message": "bad tool", "code": "invalid"}}, ErrorCategory.PROTOCOL, None),
    ],
)
def test_error_event_inside_a_200_stream(
    server: CannedServer, event: dict[str, Any], category: ErrorCategory, status: int | None
) -> None:
    server.route(CHAT, delta(content="a"), b"data: " + json.dumps(event).encode() + b"\n\n")
    rec = fetch(server.url)
    assert_error(rec, category, "error event", event["error"]["message"])
    assert rec.error is not None
    assert rec.error.http_status == status
    assert rec.http_status == 200


@pytest.mark.parametrize("key", [KEY, "hunter2-not-key-shaped"])
def test_api_key_never_recorded(server: CannedServer, key: str) -> None:
    echo = json.dumps({"error": {"message": f"invalid key {key} (Bearer {key})"}}).encode()
    server.route(CHAT, echo, status=401, content_type="application/json")
    server.route(
        "/in-stream" + CHAT, delta(content="a"), b"data: {'bad': '" + key.encode() + b"'\n\n"
    )
    for base in (server.url, server.url + "/in-stream"):
        rec = fetch(base, api_key=key)
        assert rec.error is not None
        assert key not in json.dumps(rec.to_json_dict())
        assert "***" in rec.error.message
    assert server.requests[0].headers["Authorization"] == f"Bearer {key}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("-1", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # now_s = 40
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),  # in the past: no wait
    ],
)
def test_retry_after_header(value: str | None, expected: float | None) -> None:
    from llmbench.clients.http import retry_after_s

    assert retry_after_s(value, now_s=40.0) == expected
