"""Requests and tasks as GenAI spans, on hand-built records with small integer timestamps: the
attribute names of the OpenTelemetry GenAI conventions, the OTLP value encoding, parent/child
links by deterministic ids, errors as error.type plus an ERROR status, wall-clock placement."""

from __future__ import annotations

import dataclasses
from array import array
from typing import Any

from llmbench.export.otel import (
    KIND_CLIENT,
    KIND_INTERNAL,
    STATUS_ERROR,
    SpanContext,
    request_span,
    run_spans,
    server_of,
    task_span,
    task_span_id,
    task_trace_id,
)
from llmbench.records import ErrorCategory, RequestError, RequestRecord, Status
from llmbench.tasks import StepStatus, TaskError, TaskEvent, TaskRecord, TaskStatus, TaskStep

MS = 1_000_000
WALL = 1_700_000_000_000_000_000  # Unix ns of monotonic 0 in these tests


def _ctx(task_ids: frozenset[str] = frozenset()) -> SpanContext:
    return SpanContext(
        run_id="run-a", wall_offset_ns=WALL, operation="chat", provider="vllm",
        request_model="m1", stream=True, server_address="127.0.0.1", server_port=8000,
        task_ids=task_ids,
    )  # fmt: skip


def _record(request_id: str = "r1", **fields: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": request_id, "target_id": "t", "item_id": "i", "worker_id": 0,
        "status": Status.OK, "scheduled_ns": 0, "sent_ns": 10 * MS, "headers_ns": 12 * MS,
        "first_token_ns": 50 * MS, "first_content_ns": 50 * MS, "end_ns": 80 * MS,
        # chunks at 40, 50, 60 ms after sent: TTFT 40 ms, 10 ms per chunk after the first
        "chunk_offsets_ns": array("q", [40 * MS, 50 * MS, 60 * MS]),
        "chunk_tokens": array("I", [1, 1, 1]), "chunk_channels": array("B", [0, 0, 0]),
        "input_tokens": 7, "cached_tokens": 3, "output_tokens": 3,
        "requested_output_tokens": 16, "finish_reason": "stop", "http_status": 200,
    }  # fmt: skip
    values.update(fields)
    return RequestRecord(**values)


def _attrs(span: dict[str, Any]) -> dict[str, Any]:
    """KeyValues back to Python values (intValue strings to int)."""
    out: dict[str, Any] = {}
    for kv in span["attributes"]:
        ((kind, value),) = kv["value"].items()
        if kind == "intValue":
            value = int(value)
        elif kind == "arrayValue":
            value = [next(iter(v.values())) for v in value["values"]]
        out[kv["key"]] = value
    return out


def test_a_request_is_a_client_inference_span_with_the_genai_attributes() -> None:
    span = request_span(_ctx(), _record())
    assert span["name"] == "chat m1"
    assert span["kind"] == KIND_CLIENT
    assert "parentSpanId" not in span  # an independent request: the root of its own trace
    assert len(span["traceId"]) == 32
    assert len(span["spanId"]) == 16
    # sent 10 ms, end 80 ms on the monotonic clock, moved to wall-clock ns as decimal strings
    assert span["startTimeUnixNano"] == str(WALL + 10 * MS)
    assert span["endTimeUnixNano"] == str(WALL + 80 * MS)
    attrs = _attrs(span)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "vllm"
    assert attrs["gen_ai.request.model"] == "m1"
    assert attrs["gen_ai.request.max_tokens"] == 16
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 7
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.040  # 50 − 10 ms, in seconds
    assert attrs["llmbench.response.time_per_output_chunk"] == 0.010  # (60 − 40) / 2 gaps
    assert attrs["llmbench.response.time_to_first_byte"] == 0.002
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == 8000
    assert "error.type" not in attrs
    assert "status" not in span
    assert "gen_ai.response.model" not in attrs  # not recorded: absent, never invented
    events = {e["name"]: int(e["timeUnixNano"]) - WALL for e in span["events"]}
    assert events == {"llmbench.response.headers": 12 * MS,
                      "llmbench.response.first_chunk": 50 * MS}  # fmt: skip


def test_a_failed_request_carries_error_type_and_an_error_status() -> None:
    # a timeout mid-stream: two chunks came (at 40 and 55 ms after sent), then nothing, no end
    record = _record(
        status=Status.ERROR, end_ns=None, finish_reason=None, http_status=200,
        chunk_offsets_ns=array("q", [40 * MS, 55 * MS]), chunk_tokens=array("I", [1, 1]),
        chunk_channels=array("B", [0, 0]),
        error=RequestError(ErrorCategory.TIMEOUT_MID_STREAM, "no chunk for 5 s"),
    )  # fmt: skip
    span = request_span(_ctx(), record)
    attrs = _attrs(span)
    assert attrs["error.type"] == "timeout_mid_stream"
    assert span["status"] == {"code": STATUS_ERROR, "message": "no chunk for 5 s"}
    # the end was never seen: the span ends at the last chunk seen and says so
    assert span["endTimeUnixNano"] == str(WALL + 10 * MS + 55 * MS)
    assert attrs["llmbench.end_observed"] is False


def test_a_completions_target_without_streaming_says_so() -> None:
    ctx = dataclasses.replace(_ctx(), operation="text_completion", stream=False)
    attrs = _attrs(request_span(ctx, _record()))
    assert attrs["gen_ai.operation.name"] == "text_completion"
    assert attrs["gen_ai.request.stream"] is False
    # a time to first chunk is recommended for streaming requests only
    assert "gen_ai.response.time_to_first_chunk" not in attrs


def _task(**fields: Any) -> TaskRecord:
    values: dict[str, Any] = {
        "task_id": "task-0", "target_id": "t", "name": "research", "status": TaskStatus.OK,
        "scheduled_ns": 0, "submitted_ns": 5 * MS, "ended_ns": 300 * MS,
        "steps": (
            TaskStep(step_id="plan", kind="model", status=StepStatus.OK, started_ns=10 * MS,
                     ended_ns=80 * MS, request_id="r1"),
            TaskStep(step_id="search", kind="tool", status=StepStatus.OK, started_ns=80 * MS,
                     ended_ns=120 * MS, depends_on=("plan",)),
            TaskStep(step_id="fetch", kind="tool", status=StepStatus.TIMEOUT, started_ns=80 * MS,
                     ended_ns=180 * MS, error="timed out after 0.1 s"),
            TaskStep(step_id="answer", kind="model", status=StepStatus.SKIPPED,
                     depends_on=("fetch",)),
        ),
    }  # fmt: skip
    values.update(fields)
    return TaskRecord(**values)


def test_a_task_is_an_invoke_agent_span_with_its_model_calls_and_tools_as_children() -> None:
    ctx = _ctx(frozenset({"task-0"}))
    task = _task()
    records = [_record(task_id="task-0", step_id="plan"), _record("r9")]
    spans = list(run_spans(ctx, [task], records))
    names = [s["name"] for s in spans]
    assert names == ["invoke_agent research", "execute_tool search", "execute_tool fetch",
                     "chat m1", "chat m1"]  # fmt: skip
    root, search, fetch, call, other = spans
    assert root["kind"] == KIND_INTERNAL  # llmbench ran this agent itself
    assert "parentSpanId" not in root
    assert root["traceId"] == task_trace_id(ctx, "task-0")
    assert root["spanId"] == task_span_id(ctx, "task-0")
    for child in (search, fetch, call):
        assert child["traceId"] == root["traceId"]
        assert child["parentSpanId"] == root["spanId"]
    assert other["traceId"] != root["traceId"]
    assert "parentSpanId" not in other
    root_attrs = _attrs(root)
    assert root_attrs["gen_ai.operation.name"] == "invoke_agent"
    assert root_attrs["gen_ai.agent.name"] == "research"
    assert root_attrs["llmbench.task.steps_skipped"] == 1  # the skipped step has no span
    assert _attrs(search)["gen_ai.operation.name"] == "execute_tool"
    assert _attrs(search)["gen_ai.tool.name"] == "search"
    assert _attrs(fetch)["error.type"] == "timeout"
    assert fetch["status"] == {"code": STATUS_ERROR, "message": "timed out after 0.1 s"}
    assert search["startTimeUnixNano"] == str(WALL + 80 * MS)
    assert search["endTimeUnixNano"] == str(WALL + 120 * MS)
    # ids are hashes of the run and record ids: a second export gives the same spans
    assert list(run_spans(ctx, [task], records)) == spans


def test_a_session_request_is_linked_by_its_session_id() -> None:
    ctx = _ctx(frozenset({"sess-1"}))
    span = request_span(ctx, _record(session_id="sess-1", turn=2))
    assert span["parentSpanId"] == task_span_id(ctx, "sess-1")
    assert _attrs(span)["gen_ai.conversation.id"] == "sess-1"


def test_an_agent_service_task_is_a_client_span_with_its_events_and_error() -> None:
    task = _task(
        steps=(), status=TaskStatus.ERROR, ended_ns=None, accepted_ns=8 * MS,
        provider_task_id="p-1", polls=3,
        error=TaskError(category="http_5xx", message="service said 503", http_status=503),
        events=(TaskEvent(arrived_ns=40 * MS, kind="status_update", status="working"),
                TaskEvent(arrived_ns=90 * MS, kind="status_update", status="failed")),
    )  # fmt: skip
    span = task_span(_ctx(), task)
    assert span["kind"] == KIND_CLIENT
    attrs = _attrs(span)
    assert attrs["error.type"] == "http_5xx"
    assert attrs["llmbench.provider_task_id"] == "p-1"
    assert attrs["llmbench.end_observed"] is False
    assert span["endTimeUnixNano"] == str(WALL + 90 * MS)  # the last thing seen of it
    assert [int(e["timeUnixNano"]) - WALL for e in span["events"]] == [40 * MS, 90 * MS]
    assert span["status"]["code"] == STATUS_ERROR


def test_server_of_a_base_url() -> None:
    assert server_of("http://127.0.0.1:8000/v1") == ("127.0.0.1", 8000)
    assert server_of("https://api.example.com") == ("api.example.com", 443)
    assert server_of("http://host") == ("host", 80)
