"""Fuzz of the Anthropic and A2A reading paths: random sequences of (real and broken) events,
split anywhere. Reading never raises anything but the one fault that ends a request or task as a
categorized error; A2A results never crash the task watch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench.clients.a2a import TaskWatch, rpc_result
from llmbench.clients.anthropic import MessagesObservation
from llmbench.clients.http import RequestFault
from llmbench.clients.openai import _read_events
from llmbench.records import ErrorCategory, RequestError, RequestSpec, SendContext
from llmbench.tasks import TaskError, TaskStatus

SPEC = RequestSpec(item_id="i", prompt="p", max_tokens=4)
CTX = SendContext(request_id="r", target_id="t", worker_id=0, scheduled_ns=0)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MESSAGES = [
    {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
    {"type": "message_start", "message": "odd"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "name": "f"}},
    {"type": "content_block_start", "index": 0, "content_block": None},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": 7}},
    {"type": "content_block_delta", "index": 0, "delta": "odd"},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    {"type": "message_delta", "delta": None, "usage": [1]},
    {"type": "message_stop"},
    {"type": "ping"},
    {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
    {"type": "error", "error": "odd"},
    {"type": "something_new"},
    [1, 2],
]  # fmt: skip
PAYLOADS = [json.dumps(m).encode() for m in MESSAGES] + [b"{not json", b""]
EVENTS = st.tuples(
    st.sampled_from([b"event: x\ndata: ", b"data: ", b": ping\n\ndata: "]),
    st.sampled_from(PAYLOADS),
    st.sampled_from([b"\n\n", b"\r\n\r\n", b"\n"]),
).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


class _Content:
    def __init__(self, reads: Sequence[bytes]) -> None:
        self._reads = [r for r in reads if r]

    async def readany(self) -> bytes:
        return self._reads.pop(0) if self._reads else b""


@FUZZ
@given(st.lists(EVENTS, max_size=10), st.lists(st.integers(0, 10**6), max_size=6))
def test_a_messages_stream_ends_ok_or_as_a_categorized_error(
    events: list[bytes], cuts: list[int]
) -> None:
    obs = MessagesObservation(None, sent_ns=0)
    error = None
    try:
        asyncio.run(_read_events(_Content(split(b"".join(events), cuts)), obs))  # type: ignore[arg-type]
    except RequestFault as fault:
        error = RequestError(fault.category, fault.message, fault.http_status)
    record = obs.record(SPEC, CTX, error)
    assert (record.error is None) == obs.done
    assert record.error is None or isinstance(record.error.category, ErrorCategory)


RESULTS: list[Any] = [
    {"kind": "task", "id": "T", "status": {"state": "submitted"}},
    {"kind": "status-update", "taskId": "T", "status": {"state": "working"}},
    {"kind": "status-update", "taskId": "T", "status": {"state": "completed"}, "final": True},
    {"kind": "artifact-update", "taskId": "T", "artifact": {"artifactId": "a"}},
    {"statusUpdate": {"taskId": "T", "status": {"state": "TASK_STATE_FAILED"}}},
    {"kind": "message", "parts": []},
    {"kind": 5}, {"status": 3}, "text", None, [1], {"kind": "task", "status": {"state": 9}},
]  # fmt: skip
RESPONSES = st.one_of(
    st.sampled_from(RESULTS).map(lambda r: {"jsonrpc": "2.0", "id": 1, "result": r}),
    st.sampled_from([{"jsonrpc": "2.0", "id": 1, "error": {"code": -32001}},
                     {"jsonrpc": "2.0", "error": "x"}, {"jsonrpc": "1.0"}, [], None, 3]),
)  # fmt: skip


@FUZZ
@given(st.lists(RESPONSES, max_size=8))
def test_a2a_responses_end_a_task_or_fail_it_as_categorized(responses: list[Any]) -> None:
    watch = TaskWatch(SPEC, CTX, sent_ns=0)
    error = None
    for arrival, response in enumerate(responses, start=1):
        try:
            watch.on_result(rpc_result(response), arrival, "stream")
        except RequestFault as fault:
            error = fault
            break
        if watch.stopped:
            break
    if error is None and not watch.stopped:  # the client fails a stream that ends here
        error = RequestFault(ErrorCategory.PROTOCOL, "ended before a terminal state")
    if error is None:
        record = watch.record(None)
        assert record.status is not TaskStatus.TIMEOUT
        assert (record.status is TaskStatus.ERROR) == (record.error is not None)
    else:
        assert isinstance(error.category, ErrorCategory)
        record = watch.record(TaskError(category=error.category.value, message=error.message))
        assert record.status is TaskStatus.ERROR
    assert record.ended_ns is not None
