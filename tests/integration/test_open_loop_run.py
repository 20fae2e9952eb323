"""Open-loop profiles against the simulator over loopback: the delivered rate matches the plan,
latency from the plan is never below latency from the send, an overloaded client is marked
invalid with its late sends counted, and a sweep writes one run directory per step."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmbench.config import RunSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import read_run_file
from llmbench.store.run_schema import RunResult
from llmbench.store.study_index import load_study_index

StartSim = Callable[..., str]
FAST = {"ttft_ms": 20.0, "itl_ms": 2.0}


def run_spec(base_url: str, out: Path, load: dict[str, Any], **extra: Any) -> RunResult:
    spec = RunSpec.model_validate(
        {"load": load, "workload": {"input_tokens": 16, "output_tokens": 8}, **extra}
    )
    return asyncio.run(execute_run(spec, Target(base_url), out))


def test_poisson_delivers_the_planned_rate(start_sim: StartSim, tmp_path: Path) -> None:
    base_url = start_sim(**FAST)
    run = run_spec(base_url, tmp_path / "run",
                   {"profile": "poisson", "rate": 40.0, "requests": 120, "warmup": 5},
                   slo={"ttft_ms": 1000})  # fmt: skip
    delivery = run.delivery
    assert run.counts.ok == 120
    # the client sends what it planned, even with another test suite on the 2 cores
    assert abs(delivery.achieved_rate_per_s / delivery.planned_rate_per_s - 1) < 0.1
    assert delivery.send_lag_ms.p50 < 5.0
    assert run.validity.valid, run.validity
    summary = run.summary
    for metric in ("ttft_ms", "e2e_ms"):
        assert getattr(summary, f"scheduled_{metric}").min >= getattr(summary, metric).min
        assert getattr(summary, f"scheduled_{metric}").p50 >= getattr(summary, metric).p50
    assert run.goodput.good_fraction == 1.0


def test_overloaded_capped_run_is_invalid(start_sim: StartSim, tmp_path: Path) -> None:
    base_url = start_sim(**FAST)
    # each request takes ≥ 34 ms (20 + 7·2), one at a time: at most ~29/s against 100/s planned
    load = {"profile": "constant", "rate": 100.0, "requests": 30, "max_concurrency": 1}
    run = run_spec(base_url, tmp_path / "run", load)
    assert run.counts.ok == 30
    assert run.validity.valid is False
    assert run.delivery.late_sends >= 20
    assert run.delivery.waited_for_cap >= 20
    assert run.summary.scheduled_ttft_ms.p50 > 2 * run.summary.ttft_ms.p50


def test_sweep_writes_step_dirs_and_index(start_sim: StartSim, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--profile", "sweep", "--concurrency", "4",
         "--sweep-steps", "2", "--requests", "8", "--sim-ttft-ms", "20", "--sim-itl-ms", "2",
         "--output-tokens", "8", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    index = load_study_index(out)
    assert index.status == "complete"
    assert [row.label[:4] for row in index.steps] == ["sync", "thro", "rate", "rate"]
    for row in index.steps:
        run = read_run_file(out / row.dir / "run.json")
        assert run.counts is not None
        assert run.counts.ok == 8
        assert row.ttft_p50_ms is not None
    assert "sweep study [complete]" in result.stdout
    again = subprocess.run([sys.executable, "-m", "llmbench", "report", str(out)],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "sweep study [complete]" in again.stdout


def test_replay_follows_the_scaled_trace(start_sim: StartSim, tmp_path: Path) -> None:
    base_url = start_sim(**FAST)
    trace = tmp_path / "trace.jsonl"
    rows = [{"timestamp": 1000 + 40 * k, "input_length": 10 + k, "output_length": 4,
             "hash_ids": [k % 2]} for k in range(10)]  # fmt: skip
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = run_spec(base_url, tmp_path / "run",
                   {"profile": "replay", "trace": str(trace), "trace_time_scale": 0.5})  # fmt: skip
    assert run.counts.ok == 10
    lines = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    scheduled = sorted(r["scheduled_ns"] for r in records)
    assert {b - a for a, b in itertools.pairwise(scheduled)} == {20_000_000}
    assert sorted(r["requested_output_tokens"] for r in records) == [4] * 10
