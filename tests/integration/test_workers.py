"""Multi-process runs (`--workers N`) over loopback: every request has exactly one record with its
worker's id, the timings agree with the simulator's log (one monotonic clock for all processes),
the request bytes do not depend on N, and a killed worker's in-flight requests become
`worker_lost` errors instead of vanishing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import orjson
import psutil
import pytest
from aiohttp import web
from rich.console import Console

from llmbench.config import LoadSpec, RunSpec, WorkloadSpec
from llmbench.errors import DistributedError
from llmbench.metrics.columns import ColumnRow
from llmbench.metrics.summary import summarize_run
from llmbench.records import RequestRecord
from llmbench.report.terminal import run_summary
from llmbench.run.execute import Target, execute_run
from llmbench.run.plan import build_load
from llmbench.run.workers import pool
from llmbench.store.results import load_run, read_run_file, record_line
from llmbench.store.run_schema import RunSummaryParts
from support.cli import sigterm_long_run

StartSim = Callable[..., str]


def sim_logs(base_url: str) -> dict[str, dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=10) as response:
        return {e["request_id"]: e for e in json.loads(response.read())["requests"]}


def worker_processes() -> list[psutil.Process]:
    """This process's multiprocessing (spawn) children: the workers, not the sim server."""
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.slow
def test_two_workers_send_every_request_once_and_measure_like_the_sim(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=30.0, itl_ms=5.0)
    spec = RunSpec(
        workload=WorkloadSpec(input_tokens=16, output_tokens=8),
        load=LoadSpec(concurrency=4, requests=24, warmup=4, workers=2),
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))

    assert run.status == "complete"
    assert run.workers.used == run.workers.processes == 2
    assert run.engine.measured.sent == 24
    records = load_run(tmp_path / "run").records
    assert len(records) == 28
    assert len({r.request_id for r in records}) == 28  # no duplicates
    assert sorted(int(r.item_id.removeprefix("req-")) for r in records) == list(range(28))
    assert {r.worker_id for r in records} == {0, 1}
    assert all(r.ok for r in records)
    assert run.counts.ok == 24
    # Each worker's watch is in run.json, pooled into the top-level figures.
    entries = run.client.workers
    assert [e.worker_id for e in entries] == [0, 1]
    assert all(e.pid and e.pid != os.getpid() for e in entries)
    assert run.client.loop_lag_ms.n >= 2
    # Timings taken in the workers agree with the simulator's clock: mean TTFT within 5 ms.
    logs = sim_logs(base_url)
    measured = [(r.first_token_ns or 0) - r.sent_ns for r in records]
    true = [logs[r.request_id]["chunk_emit_ns"][0] - logs[r.request_id]["received_ns"]
            for r in records]  # fmt: skip
    assert abs(np.mean(measured) - np.mean(true)) / 1e6 < 5.0


@pytest.mark.slow
def test_open_loop_workers_keep_one_schedule_from_a_common_start(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=10.0, itl_ms=5.0)
    spec = RunSpec(
        workload=WorkloadSpec(input_tokens=16, output_tokens=4),
        load=LoadSpec(profile="poisson", rate=100.0, requests=30, workers=2),
    )
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))

    assert run.workers.processes == 2
    records = sorted(load_run(tmp_path / "run").records, key=lambda r: r.scheduled_ns)
    assert [r.request_id for r in records] == [f"r-{i}" for i in range(30)]  # one schedule
    assert {r.worker_id for r in records} == {0, 1}
    assert all(r.worker_id == i % 2 for i, r in enumerate(records))
    plan = build_load(spec)
    assert plan.open is not None
    start_ns = records[0].scheduled_ns  # offset 0: the common start itself
    # Both workers' deadlines are the common start + the one schedule's offsets, to the ns.
    assert [r.scheduled_ns - start_ns for r in records] == list(plan.open.offsets_ns)
    assert run.delivery.sends == 30
    assert run.delivery.dispatch_lag_ms.p50 is not None  # merged from both workers


async def _capture_run(spec: RunSpec, out: Path) -> dict[str, str]:
    """Runs `spec` against a tiny capturing server; returns item id → request body bytes."""
    bodies: dict[str, bytes] = {}

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "m"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        bodies[request.headers["X-Request-Id"]] = await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n')
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await execute_run(spec, Target(f"http://127.0.0.1:{port}"), out)
    finally:
        await runner.cleanup()
    records = load_run(out).records
    return {r.item_id: bodies[r.request_id].decode() for r in records}


@pytest.mark.slow
@pytest.mark.parametrize(
    "load",
    [
        {"concurrency": 3, "requests": 10, "warmup": 2},
        {"profile": "constant", "rate": 200.0, "requests": 10, "warmup": 2},
    ],
)
def test_request_bytes_do_not_depend_on_the_worker_count(
    tmp_path: Path, load: dict[str, Any]
) -> None:
    def spec(workers: int) -> RunSpec:
        return RunSpec(
            workload=WorkloadSpec(input_tokens=12, output_tokens=4, seed=7),
            load=LoadSpec.model_validate({**load, "workers": workers}),
        )

    one = asyncio.run(_capture_run(spec(1), tmp_path / "one"))
    two = asyncio.run(_capture_run(spec(2), tmp_path / "two"))
    assert len(one) == 12
    assert one == two  # the same items, each with the same bytes


# What a record says whoever measured it; the rest are timings, ids and the worker's number.
_SAME_FOR_ANY_WORKER = (
    "target_id", "status", "warmup", "session_id", "chunk_tokens", "chunk_channels",
    "input_tokens", "cached_tokens", "output_tokens", "output_tokens_source",
    "usage_output_tokens", "tokenizer_output_tokens", "requested_output_tokens",
    "finish_reason", "http_status", "error", "attempts", "retry_wait_ns", "first_sent_ns",
)  # fmt: skip


@pytest.mark.slow
def test_worker_records_are_written_as_one_process_writes_them(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """The parent appends the workers' lines as they come: each is byte for byte what the
    one-process writer makes of that record, field by field like a one-process run's line for
    the same item, and the summary the parent kept from the rows is the records' own."""
    base_url = start_sim(ttft_ms=10.0, itl_ms=2.0)
    lines: dict[int, dict[str, bytes]] = {}
    runs = {}
    for workers in (1, 2):
        spec = RunSpec(
            workload=WorkloadSpec(input_tokens=16, output_tokens=6, seed=3),
            load=LoadSpec(concurrency=4, requests=12, warmup=2, workers=workers),
        )
        out = tmp_path / f"w{workers}"
        runs[workers] = asyncio.run(execute_run(spec, Target(base_url), out))
        assert runs[workers].workers.processes == workers
        raw = (out / "records.jsonl").read_bytes().splitlines(keepends=True)
        lines[workers] = {orjson.loads(line)["item_id"]: line for line in raw}
        assert len(lines[workers]) == len(raw) == 14  # one line per request, no duplicates
        for line in raw:  # the one-process encoding of the very record the line holds
            assert record_line(RequestRecord.from_json_dict(orjson.loads(line))) == line
        records = load_run(out).records
        kept = {
            key: getattr(runs[workers], key) for key in ("covers", "counts", "summary", "tokens")
        }
        expected = RunSummaryParts.model_validate(summarize_run(records, seed=spec.seed))
        assert kept == {key: getattr(expected, key) for key in kept}
    assert lines[1].keys() == lines[2].keys()
    for item, line in lines[2].items():
        one, two = orjson.loads(lines[1][item]), orjson.loads(line)
        assert list(two) == list(one)  # the same fields in the same order
        assert {k: two[k] for k in _SAME_FOR_ANY_WORKER} == {
            k: one[k] for k in _SAME_FOR_ANY_WORKER
        }
        assert len(two["chunk_offsets_ns"]) == len(one["chunk_offsets_ns"]) == 6
        for field in ("scheduled_ns", "sent_ns", "headers_ns", "first_token_ns", "end_ns"):
            assert type(two[field]) is type(one[field]) is int
    assert {orjson.loads(line)["worker_id"] for line in lines[2].values()} == {0, 1}


@pytest.mark.slow
def test_a_killed_worker_leaves_its_in_flight_requests_as_errors(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=20.0)
    spec = RunSpec(
        workload=WorkloadSpec(input_tokens=16, output_tokens=8),  # ~180 ms a request
        load=LoadSpec(concurrency=4, requests=40, workers=2),
    )
    killed: list[int] = []

    def on_record(row: ColumnRow) -> None:
        if not killed and row.ok:
            victim = worker_processes()[0]
            victim.kill()  # SIGKILL: no goodbye from the worker
            killed.append(victim.pid)

    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run", on_record=on_record))

    assert run.status == "complete"  # the run finished with the other worker
    lost = next(w for w in run.workers.per_worker if w.pid == killed[0])
    assert lost.lost is True
    assert lost.exit_code == -signal.SIGKILL
    records = load_run(tmp_path / "run").records
    by_id = {r.request_id: r for r in records}
    assert len(by_id) == len(records)
    lost_records = [r for r in records if r.error and r.error.category.value == "worker_lost"]
    assert 1 <= len(lost_records) <= 2  # its two streams: whatever was in flight at the kill
    assert lost.lost_in_flight == len(lost_records)
    assert {r.worker_id for r in lost_records} == {lost.worker_id}
    assert all(r.sent_ns > 0 and "in flight" in r.error.message for r in lost_records)  # type: ignore[union-attr]
    assert run.counts.by_category == {"worker_lost": len(lost_records)}
    survivor = [r for r in records if r.worker_id != lost.worker_id]
    assert len(survivor) == 20  # its whole share
    assert all(r.ok for r in survivor)
    # Nothing lost silently: every request the server saw has its record.
    assert set(sim_logs(base_url)) <= set(by_id)
    console = Console(record=True, width=200)
    console.print(run_summary(run))
    text = console.export_text()
    assert f"worker {lost.worker_id} (pid {killed[0]}) died (exit code -9)" in text
    assert "worker_lost" in text


@pytest.mark.slow
def test_sigterm_with_workers_keeps_every_finished_record(tmp_path: Path) -> None:
    run, lines = sigterm_long_run(tmp_path, extra=["--workers", "2"])
    assert {line["worker_id"] for line in lines} == {0, 1}
    assert len({line["request_id"] for line in lines}) == len(lines)
    for worker in run.workers.per_worker:
        assert worker.lost is False
        assert worker.exit_code == 0
        assert not psutil.pid_exists(worker.pid)  # no orphans


@pytest.mark.slow
def test_workers_not_ready_in_time_fail_the_run_clearly(
    start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url = start_sim(ttft_ms=10.0, itl_ms=5.0)
    monkeypatch.setattr(pool, "READY_TIMEOUT_S", 0.001)  # no worker starts that fast
    spec = RunSpec(load=LoadSpec(concurrency=2, requests=4, workers=2))
    with pytest.raises(DistributedError, match="not ready after") as failure:
        asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))
    assert failure.value.hint is not None
    assert "--workers" in failure.value.hint
    assert read_run_file(tmp_path / "run" / "run.json").status == "failed"
    assert not worker_processes()  # told to stop, reaped
    assert (tmp_path / "run" / "records.jsonl").read_text() == ""  # nothing was sent
