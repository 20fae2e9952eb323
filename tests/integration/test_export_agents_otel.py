"""OTLP export of the other agent workloads, made against the simulator as a real process: a
multi-turn session run (each session one trace: its turns as chat spans under the session's
`invoke_agent`, think waits beside them) and an agent-service run (each task a CLIENT
`invoke_agent` span with the service's events, failures as error.type)."""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from tests.integration.conftest import StartSim

from llmbench.store.results import load_run
from support.cli import LLMBENCH, llmbench
from support.otlp import read_spans, span_attributes

SIM = ["--sim-ttft-ms", "10", "--sim-itl-ms", "2", "--output-tokens", "4"]


def _export(run_dir: Path) -> list[Span]:
    out = run_dir.parent / f"{run_dir.name}.otlp.jsonl"
    result = llmbench("export", str(run_dir), "--format", "otel", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return read_spans(out)[1]


def test_each_session_is_one_trace_of_its_turns(tmp_path: Path) -> None:
    run_dir = tmp_path / "sessions"
    result = llmbench("run", "--sessions", "2", "--turns", "3", "--think-time-s", "0.01", *SIM,
                      "--output-dir", str(run_dir))  # fmt: skip
    assert result.returncode == 0, result.stderr
    spans = _export(run_dir)
    roots = [s for s in spans if s.name == "invoke_agent session"]
    assert len(roots) == 2
    for root in roots:
        session = span_attributes(root)["llmbench.task_id"]
        children = [s for s in spans if s.parent_span_id == root.span_id]
        turns = [s for s in children if s.name.startswith("chat ")]
        thinks = [s for s in children if s.name.startswith("think ")]
        assert len(turns) == 3  # every turn of the session, linked by its session_id
        assert len(thinks) == 2  # the waits before turns 1 and 2
        assert {span_attributes(t)["gen_ai.conversation.id"] for t in turns} == {session}
        assert {t.trace_id for t in children} == {root.trace_id}
        assert all(t.kind == Span.SPAN_KIND_INTERNAL for t in thinks)
        # turns one after another: each starts after the previous one ended
        ordered = sorted(turns, key=lambda s: s.start_time_unix_nano)
        for before, after in itertools.pairwise(ordered):
            assert before.end_time_unix_nano <= after.start_time_unix_nano


def test_agent_service_tasks_are_client_spans_with_their_events(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20, itl_ms=2, task_options="steps:2,tokens:4,tool_ms:10,error:0.3")
    run_dir = tmp_path / "service"
    env = {**os.environ, "MANUS_API_KEY": "mk_test_key_0000"}
    result = subprocess.run(
        [*LLMBENCH, "run", "--target-kind", "manus", "--base-url", base_url, "--requests", "8",
         "--concurrency", "4", "--poll-interval-ms", "30", "--output-dir", str(run_dir)],
        capture_output=True, text=True, timeout=90, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tasks = {t.task_id: t for t in load_run(run_dir).tasks}
    assert len(tasks) == 8
    spans = [s for s in _export(run_dir) if s.name.startswith("invoke_agent ")]
    assert len(spans) == 8
    for span in spans:
        attrs = span_attributes(span)
        task = tasks[attrs["llmbench.task_id"]]
        assert span.kind == Span.SPAN_KIND_CLIENT  # a remote agent ran it
        assert attrs["gen_ai.operation.name"] == "invoke_agent"
        assert attrs["server.address"] == "127.0.0.1"
        assert len(span.events) == len(task.events) > 0
        assert all(e.name == "llmbench.task.event" for e in span.events)
        if task.ok:
            assert "error.type" not in attrs
        else:
            assert attrs["error.type"]
            assert span.status.code == Status.STATUS_CODE_ERROR
