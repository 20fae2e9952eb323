"""What real engines do that the simulator does not: streams that end after their finish_reason
without `[DONE]` (transformers serve), a model list that answers 500 and leaves its connection to
die, connections the server closes between requests. Real loopback servers, whole runs.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from llmbench.config import LoadSpec, RunSpec, TargetSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run
from llmbench.store.run_schema import RunResult
from support.cli import llmbench
from support.engine_server import EngineServer, engine_server

MS = 1_000_000
# A read can be late on a busy 2-core host; no TTFT or ITL here may be later than this.
LATE_NS = 60 * MS


def run(server: EngineServer, tmp_path: Path, **load: Any) -> tuple[RunResult, list[Any]]:
    spec = RunSpec(
        target=TargetSpec(model="m"),
        workload=WorkloadSpec(input_tokens=8, output_tokens=server.behaviour.tokens),
        load=LoadSpec(**{"concurrency": 2, "requests": 8, **load}),
    )
    out = tmp_path / "run"
    result = asyncio.run(execute_run(spec, Target(server.url), out))
    return result, load_run(out).records


def test_streams_without_done_after_finish_reason_are_complete(tmp_path: Path) -> None:
    with engine_server(send_done=False, ttft_s=0.03, itl_s=0.01) as server:
        result, records = run(server, tmp_path)
    assert result.counts.ok == 8
    assert result.counts.error == 0
    assert result.counts.no_done == 8
    for record in records:
        assert record.ok
        assert record.no_done
        assert record.finish_reason == "length"
        assert record.output_tokens == 8
        assert record.output_tokens_source == "usage"
        writes = server.writes_ns[record.request_id]
        arrivals = [record.sent_ns + offset for offset in record.chunk_offsets_ns]
        assert len(arrivals) == len(writes) == 8
        # Each token arrives after the server wrote it, and not much later (its log bounds
        # TTFT and every ITL gap from both sides).
        for wrote, got in zip(writes, arrivals, strict=True):
            assert 0 <= got - wrote < LATE_NS
        assert record.first_token_ns - record.sent_ns >= 30 * MS  # the server's TTFT sleep
        for (w0, w1), (a0, a1) in zip(
            itertools.pairwise(writes), itertools.pairwise(arrivals), strict=True
        ):
            assert abs((a1 - a0) - (w1 - w0)) < LATE_NS
        assert record.end_ns is not None
        assert record.end_ns >= arrivals[-1]


def test_a_clean_close_before_the_finish_reason_is_a_truncation(tmp_path: Path) -> None:
    with engine_server(send_done=False, cut_before_finish=True) as server:
        result, records = run(server, tmp_path)
    assert result.counts.by_category == {"protocol": 8}
    assert result.counts.no_done == 0
    for record in records:
        assert record.error is not None
        assert "before any finish_reason" in record.error.message
        assert len(record.chunk_offsets_ns) == 8  # what arrived is kept


def test_a_failing_model_list_does_not_poison_the_pool(tmp_path: Path) -> None:
    # /v1/models answers 500 and its connection dies at the next request on it: the pool is
    # opened without asking any endpoint, and a named model skips the list.
    with engine_server(models_status=500, poison_after_models=True) as server:
        result, _ = run(server, tmp_path, concurrency=4, requests=8, warmup=0)
    assert result.counts.error == 0, result.counts
    assert result.counts.ok == 8
    assert result.engine.connections_opened_before == 4
    assert "/v1/models" not in server.paths


def test_a_pooled_connection_closed_by_the_server_is_resent_once(tmp_path: Path) -> None:
    # Every connection serves one request and is closed when the next one arrives on it.
    with engine_server(close_reused_connections=True, ttft_s=0.002, itl_s=0.001) as server:
        result, records = run(server, tmp_path, concurrency=1, requests=4)
    assert result.counts.error == 0, result.counts
    # Requests 2 and 4 find the pooled connection dead; 3 gets a new one (the pool dropped the
    # dead one), so it is not resent.
    assert result.counts.reconnected == 2
    for record in records:
        if record.reconnected:
            assert record.first_sent_ns is not None
            assert record.first_sent_ns < record.sent_ns
            assert record.attempts == 1  # not a 429 retry


def test_the_terminal_report_counts_streams_without_done(tmp_path: Path) -> None:
    with engine_server(send_done=False) as server:
        result = llmbench(
            "run", "--base-url", server.url, "--model", "m", "--requests", "4",
            "--output-tokens", "8", "--output-dir", str(tmp_path / "run"),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ok 4, errors 0" in result.stdout
    assert "ended after finish_reason without [DONE]: 4" in result.stdout
