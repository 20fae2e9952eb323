"""`llmbench export --format otel` on a DAG-task run made against the simulator (a real
process): every line parses as an `ExportTraceServiceRequest` with the official OTLP protobuf
types (unknown or mistyped fields refused), spans carry the GenAI attribute names, and each
task is an `invoke_agent` root whose model calls and tool steps are its children, inside it in
time and inside the run's wall-clock window."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmbench.store.results import load_run
from support.cli import llmbench
from support.otlp import parse_line, read_spans
from support.otlp import span_attributes as _attrs

SIM = ["--sim-ttft-ms", "30", "--sim-itl-ms", "5"]
TASKS = {"tasks": [{"name": "research", "steps": [
    {"id": "plan", "prompt": "plan {{ input.goal }}", "max_tokens": 4},
    {"id": "search", "kind": "tool", "latency_ms": {"dist": "constant", "value": 20},
     "depends_on": ["plan"]},
    {"id": "answer", "prompt": "answer {{ steps.plan.output }}", "max_tokens": 4,
     "depends_on": ["search"]},
    # 64 tokens 5 ms apart cannot finish in 0.1 s: a failed model call
    {"id": "slow", "prompt": "long", "max_tokens": 64, "timeout_s": 0.1},
], "input": {"goal": "g"}}]}  # fmt: skip


def _wall_ns(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1e9)


def test_a_dag_run_exports_as_valid_otlp_with_genai_spans(tmp_path: Path) -> None:
    spec = tmp_path / "tasks.yaml"
    spec.write_text(yaml.safe_dump(TASKS))
    run_dir = tmp_path / "run"
    result = llmbench("run", "--tasks", str(spec), "--task-repeat", "2", *SIM,
                      "--output-dir", str(run_dir))  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = tmp_path / "spans.jsonl"
    result = llmbench("export", str(run_dir), "--format", "otel", "--out", str(out))
    assert result.returncode == 0, result.stderr

    requests, spans = read_spans(out)
    lines = out.read_text().splitlines()
    # the check is real: a misspelt field or a time that is not a number is refused
    misspelt = lines[0].replace('"startTimeUnixNano"', '"startTime"', 1)
    not_a_time = lines[0].replace('"startTimeUnixNano":"', '"startTimeUnixNano":"soon', 1)
    for broken in (misspelt, not_a_time):
        with pytest.raises(json_format.ParseError):
            parse_line(broken)
    loaded = load_run(run_dir)
    assert loaded.run is not None
    # 2 tasks × (invoke_agent + 1 tool step + 3 model calls)
    assert len(spans) == len(loaded.tasks) * 5 == 10
    resource = {kv.key: kv.value.string_value
                for kv in requests[0].resource_spans[0].resource.attributes}  # fmt: skip
    assert resource["service.name"] == "llmbench"
    assert resource["llmbench.run_id"] == loaded.run.run_id

    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.name == "invoke_agent research"]
    assert len(roots) == 2
    for root in roots:
        assert not root.parent_span_id
        assert len(root.trace_id) == 16
        assert _attrs(root)["gen_ai.operation.name"] == "invoke_agent"
        assert _attrs(root)["gen_ai.agent.name"] == "research"
        children = [s for s in spans if s.parent_span_id == root.span_id]
        assert sorted(s.name for s in children) == [
            "chat llmbench-sim",
            "chat llmbench-sim",
            "chat llmbench-sim",
            "execute_tool search",
        ]
        for child in children:
            assert child.trace_id == root.trace_id
            # inside its task in time
            assert root.start_time_unix_nano <= child.start_time_unix_nano
            assert child.end_time_unix_nano <= root.end_time_unix_nano
            assert child.start_time_unix_nano <= child.end_time_unix_nano

    calls = [s for s in spans if s.name.startswith("chat ")]
    assert all(s.kind == Span.SPAN_KIND_CLIENT for s in calls)
    for call in calls:
        attrs = _attrs(call)
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "openai"
        assert attrs["gen_ai.request.model"] == "llmbench-sim"
        assert attrs["gen_ai.request.max_tokens"] in (4, 64)
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["server.port"] > 0
        assert by_id[call.parent_span_id].name == "invoke_agent research"
    ok = [s for s in calls if "error.type" not in _attrs(s)]
    failed = [s for s in calls if "error.type" in _attrs(s)]
    assert len(ok) == 4  # plan and answer of each task
    assert len(failed) == 2  # the slow step of each task
    for span in ok:
        attrs = _attrs(span)
        assert attrs["gen_ai.usage.output_tokens"] == 4
        assert attrs["gen_ai.usage.input_tokens"] > 0
        # the simulator's TTFT is 30 ms; the client sees it plus loopback and scheduling
        assert 0.025 <= attrs["gen_ai.response.time_to_first_chunk"] <= 0.5
        assert 0.003 <= attrs["llmbench.response.time_per_output_chunk"] <= 0.1
    for span in failed:
        assert span.status.code == Status.STATUS_CODE_ERROR
        assert span.status.message
    for tool in (s for s in spans if s.name == "execute_tool search"):
        assert _attrs(tool)["gen_ai.operation.name"] == "execute_tool"
        assert _attrs(tool)["gen_ai.tool.name"] == "search"
        assert tool.end_time_unix_nano - tool.start_time_unix_nano >= 19_000_000  # 20 ms tool

    # wall-clock placement from run.json's clock anchor: inside the run's own start and end
    assert loaded.run.finished_at is not None
    start, end = _wall_ns(loaded.run.started_at), _wall_ns(loaded.run.finished_at)
    for span in spans:
        assert start - 1_000_000 <= span.start_time_unix_nano <= end + 1_000_000
        assert span.end_time_unix_nano <= end + 1_000_000
