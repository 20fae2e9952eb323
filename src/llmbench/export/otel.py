"""Requests and agent tasks as OpenTelemetry GenAI spans, in the OTLP JSON encoding of
`ExportTraceServiceRequest` (docs/exports.md has the mapping). One span per request (`chat
MODEL`); an agent task is an `invoke_agent` span whose children are its model calls (the request
spans) and its tool steps (`execute_tool`). IDs are hashes of the run and record ids, so
exporting twice gives the same traces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmbench.records import RequestRecord
from llmbench.tasks import StepStatus, TaskRecord, TaskStatus

Span = dict[str, Any]

# OTLP enums, written as integers as the OTLP JSON encoding requires
KIND_INTERNAL = 1
KIND_CLIENT = 3
STATUS_ERROR = 2

_NS_PER_S = 1e9
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class SpanContext:
    """What every span of one run shares: ids, the clock anchor and the target."""

    run_id: str
    wall_offset_ns: int  # monotonic ns + this = Unix ns (run.json's started_at and clock)
    operation: str  # gen_ai.operation.name: chat | text_completion
    provider: str  # gen_ai.provider.name
    request_model: str | None
    stream: bool
    server_address: str | None
    server_port: int | None
    task_ids: frozenset[str]  # the run's tasks (tasks.jsonl): their requests become children


def server_of(base_url: str) -> tuple[str | None, int | None]:
    """server.address and server.port of a base URL (the scheme's port when none is given)."""
    parts = urlsplit(base_url)
    if parts.hostname is None:
        return None, None
    return parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


def _hex_id(n_bytes: int, *parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=n_bytes).hexdigest()


def task_trace_id(ctx: SpanContext, task_id: str) -> str:
    return _hex_id(16, ctx.run_id, "task", task_id)


def task_span_id(ctx: SpanContext, task_id: str) -> str:
    return _hex_id(8, ctx.run_id, "task", task_id)


def _value(value: Any) -> dict[str, Any]:
    """An OTLP AnyValue (int64 as a decimal string, as the JSON encoding requires)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    """OTLP KeyValues; None values are left out (not applicable is absent, never 0)."""
    return [{"key": key, "value": _value(v)} for key, v in values.items() if v is not None]


def _span(
    ctx: SpanContext,
    ids: tuple[str, str, str | None],
    name: str,
    kind: int,
    times_ns: tuple[int, int],
    attrs: dict[str, Any],
) -> Span:
    trace_id, span_id, parent_id = ids
    span: Span = {"traceId": trace_id, "spanId": span_id}
    if parent_id is not None:
        span["parentSpanId"] = parent_id
    span.update(
        name=name,
        kind=kind,
        startTimeUnixNano=str(times_ns[0] + ctx.wall_offset_ns),
        endTimeUnixNano=str(times_ns[1] + ctx.wall_offset_ns),
        attributes=attributes(attrs),
    )
    return span


def _event(ctx: SpanContext, name: str, t_ns: int, attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        "timeUnixNano": str(t_ns + ctx.wall_offset_ns),
        "name": name,
        "attributes": attributes(attrs),
    }


def _seconds(ns: float | None) -> float | None:
    return None if ns is None else ns / _NS_PER_S


def _request_end(record: RequestRecord) -> tuple[int, bool]:
    """The span's end: the stream's end, or for a request that failed before it the last
    moment seen of it (headers, last chunk), flagged as such: its true end is not recorded."""
    if record.end_ns is not None:
        return record.end_ns, True
    last_chunk = record.chunk_offsets_ns[-1] + record.sent_ns if record.chunk_offsets_ns else None
    seen = [t for t in (record.sent_ns, record.headers_ns, last_chunk) if t is not None]
    return max(seen), False


def _owner(ctx: SpanContext, record: RequestRecord) -> str | None:
    """The task a request belongs to: a DAG task or agent loop (task_id), a session (session_id)."""
    for owner in (record.task_id, record.session_id):
        if owner is not None and owner in ctx.task_ids:
            return owner
    return None


def _request_attributes(ctx: SpanContext, record: RequestRecord) -> dict[str, Any]:
    offsets = record.chunk_offsets_ns
    ttft = None if record.first_token_ns is None else record.first_token_ns - record.sent_ns
    per_chunk = (offsets[-1] - offsets[0]) / (len(offsets) - 1) if len(offsets) > 1 else None
    return {
        "gen_ai.operation.name": ctx.operation,
        "gen_ai.provider.name": ctx.provider,
        "gen_ai.system": ctx.provider,  # the name before gen_ai.provider.name, still read widely
        "gen_ai.request.model": ctx.request_model,
        "gen_ai.request.max_tokens": record.requested_output_tokens,
        "gen_ai.request.stream": ctx.stream,
        "gen_ai.conversation.id": record.session_id,
        "gen_ai.response.finish_reasons": (
            None if record.finish_reason is None else [record.finish_reason]
        ),
        "gen_ai.response.time_to_first_chunk": _seconds(ttft) if ctx.stream else None,
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": record.cached_tokens,
        "gen_ai.usage.cache_write.input_tokens": record.cache_write_tokens,
        "server.address": ctx.server_address,
        "server.port": ctx.server_port if ctx.server_address is not None else None,
        "error.type": None if record.error is None else record.error.category.value,
        "http.response.status_code": record.http_status,
        "llmbench.request_id": record.request_id,
        "llmbench.item_id": record.item_id,
        "llmbench.worker_id": record.worker_id,
        "llmbench.warmup": record.warmup,
        "llmbench.task_id": record.task_id,
        "llmbench.step_id": record.step_id,
        "llmbench.turn": record.turn,
        "llmbench.response.time_to_first_byte": _seconds(
            None if record.headers_ns is None else record.headers_ns - record.sent_ns
        ),
        "llmbench.response.time_per_output_chunk": _seconds(per_chunk),
        "llmbench.response.chunks": len(offsets),
        "llmbench.usage.output_tokens_source": (
            None if record.output_tokens_source is None else record.output_tokens_source.value
        ),
        "llmbench.attempts": record.attempts if record.attempts > 1 else None,
        "llmbench.reconnected": record.reconnected or None,
    }


def request_span(ctx: SpanContext, record: RequestRecord) -> Span:
    """One request as a GenAI inference span (`chat MODEL`, kind CLIENT), a child of its task's
    `invoke_agent` span when it belongs to one, else the root of its own trace."""
    owner = _owner(ctx, record)
    if owner is None:
        trace_id, parent = _hex_id(16, ctx.run_id, "request", record.request_id), None
    else:
        trace_id, parent = task_trace_id(ctx, owner), task_span_id(ctx, owner)
    span_id = _hex_id(8, ctx.run_id, "request", record.request_id)
    end_ns, end_seen = _request_end(record)
    attrs = _request_attributes(ctx, record)
    if not end_seen:
        attrs["llmbench.end_observed"] = False
    name = f"{ctx.operation} {ctx.request_model}" if ctx.request_model else ctx.operation
    span = _span(
        ctx, (trace_id, span_id, parent), name, KIND_CLIENT, (record.sent_ns, end_ns), attrs
    )
    events = []
    if record.headers_ns is not None:
        events.append(_event(ctx, "llmbench.response.headers", record.headers_ns, {}))
    if record.first_token_ns is not None:
        events.append(_event(ctx, "llmbench.response.first_chunk", record.first_token_ns, {}))
    if events:
        span["events"] = events
    if record.error is not None:
        span["status"] = {"code": STATUS_ERROR, "message": record.error.message}
    return span


def _task_end(task: TaskRecord) -> tuple[int, bool]:
    if task.ended_ns is not None:
        return task.ended_ns, True
    seen = [task.submitted_ns]
    seen += [s.ended_ns or s.started_ns or task.submitted_ns for s in task.steps]
    seen += [e.arrived_ns for e in task.events]
    return max(seen), False


def _task_error(task: TaskRecord) -> str | None:
    if task.status in (TaskStatus.OK, TaskStatus.INTERRUPTED):
        return None
    return task.error.category if task.error is not None else task.status.value


def task_span(ctx: SpanContext, task: TaskRecord) -> Span:
    """An agent task as an `invoke_agent` span: INTERNAL when llmbench ran the agent (DAG
    tasks, agent loops, sessions), CLIENT when a remote agent service did."""
    remote = task.provider_task_id is not None or task.accepted_ns is not None
    end_ns, end_seen = _task_end(task)
    error_type = _task_error(task)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": ctx.provider,
        "gen_ai.agent.name": task.name,
        "gen_ai.request.model": ctx.request_model,
        "server.address": ctx.server_address if remote else None,
        "server.port": ctx.server_port if remote and ctx.server_address else None,
        "error.type": error_type,
        "llmbench.task_id": task.task_id,
        "llmbench.task.status": task.status.value,
        "llmbench.task.steps": len(task.steps),
        "llmbench.task.steps_skipped": sum(s.status is StepStatus.SKIPPED for s in task.steps),
        "llmbench.task.polls": task.polls or None,
        "llmbench.task.waiting": _seconds(task.waiting_ns) if task.waiting_ns else None,
        "llmbench.provider_task_id": task.provider_task_id,
        "llmbench.provider_state": task.provider_state,
        "llmbench.warmup": task.warmup,
        "llmbench.end_observed": None if end_seen else False,
    }
    ids = (task_trace_id(ctx, task.task_id), task_span_id(ctx, task.task_id), None)
    kind = KIND_CLIENT if remote else KIND_INTERNAL
    span = _span(ctx, ids, f"invoke_agent {task.name}", kind, (task.submitted_ns, end_ns), attrs)
    if task.events:
        span["events"] = [
            _event(ctx, "llmbench.task.event", e.arrived_ns,
                   {"kind": e.kind, "via": e.via, "status": e.status, "event_id": e.event_id})
            for e in task.events
        ]  # fmt: skip
    if error_type is not None:
        message = task.error.message if task.error is not None else task.status.value
        span["status"] = {"code": STATUS_ERROR, "message": message}
    return span


def step_spans(ctx: SpanContext, task: TaskRecord) -> Iterator[Span]:
    """The task's steps that are not model calls (their request spans stand for them): a tool
    step as `execute_tool STEP`, any other wait (actuation, think) as an INTERNAL `KIND STEP`
    span. A step that never started (skipped) has no span."""
    trace_id, parent = task_trace_id(ctx, task.task_id), task_span_id(ctx, task.task_id)
    for step in task.steps:
        if step.kind == "model" or step.started_ns is None:
            continue
        failed = step.status in (StepStatus.ERROR, StepStatus.TIMEOUT)
        tool = step.kind == "tool"
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool" if tool else None,
            "gen_ai.tool.name": step.step_id if tool else None,
            "error.type": step.status.value if failed else None,
            "llmbench.task_id": task.task_id,
            "llmbench.step_id": step.step_id,
            "llmbench.step.kind": step.kind,
            "llmbench.step.status": step.status.value,
            "llmbench.end_observed": None if step.ended_ns is not None else False,
        }
        name = f"execute_tool {step.step_id}" if tool else f"{step.kind} {step.step_id}"
        span_id = _hex_id(8, ctx.run_id, "task", task.task_id, "step", step.step_id)
        end_ns = step.ended_ns if step.ended_ns is not None else step.started_ns
        span = _span(
            ctx, (trace_id, span_id, parent), name, KIND_INTERNAL, (step.started_ns, end_ns), attrs
        )
        if failed:
            span["status"] = {"code": STATUS_ERROR, "message": step.error or step.status.value}
        yield span


def run_spans(
    ctx: SpanContext, tasks: Iterable[TaskRecord], records: Iterable[RequestRecord]
) -> Iterator[Span]:
    """Every span of a run: its tasks with their step spans, then one per request (streamed)."""
    for task in tasks:
        yield task_span(ctx, task)
        yield from step_spans(ctx, task)
    for record in records:
        yield request_span(ctx, record)
