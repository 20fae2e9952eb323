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

import pytest

from llmbench.config import OpenLoad, RunSpec
from llmbench.run.execute import Target, execute_run
from llmbench.store.results import load_run, read_run_file
from llmbench.store.run_schema import OpenLoopDelivery, RunResult
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
    runs = [read_run_file(out / row.dir / "run.json") for row in index.steps]
    for row, run in zip(index.steps, runs, strict=True):
        assert run.counts is not None
        assert run.counts.ok == 8
        assert row.ttft_p50_ms is not None
    # The rates: the two probes' measured throughputs, and 2 steps evenly spaced between them.
    sync_rate, max_rate = (run.summary.requests_per_s for run in runs[:2] if run.summary)
    assert index.sweep is not None
    assert index.sweep.synchronous_per_s == sync_rate
    assert index.sweep.max_per_s == max_rate
    # One stream, each request ≥ 34 ms (20 + 7 × 2): at most 29.4/s; 4 streams carry more.
    assert sync_rate < 1 / 0.034
    assert max_rate > 1.5 * sync_rate
    width = (max_rate - sync_rate) / 3
    expected = [sync_rate + width, sync_rate + 2 * width]
    assert index.sweep.rates == pytest.approx(expected, rel=1e-12)
    for row, run, rate in zip(index.steps[2:], runs[2:], expected, strict=True):
        assert row.rate == pytest.approx(rate, rel=1e-12)
        assert isinstance(run.spec.load, OpenLoad)
        assert run.spec.load.arrival == "constant"
        assert isinstance(run.delivery, OpenLoopDelivery)
        assert run.delivery.requested_rate_per_s == pytest.approx(rate, rel=1e-12)
        # The step's schedule is the rate itself (ns-rounded deadlines). Its achieved rate is
        # not checked: over 8 sends one late first send moves it by > 10 % (the validity check
        # judges the rate from 20 sends on for that reason).
        assert run.delivery.planned_rate_per_s == pytest.approx(rate, rel=1e-6)
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


def test_server_429_retries_are_not_client_lag(start_sim: StartSim, tmp_path: Path) -> None:
    # A quarter of the attempts answered 429 with Retry-After: 1, retried up to 3 attempts: the
    # retried requests' last attempts go out ≥ 1 s after their deadlines, by the server's doing.
    base_url = start_sim(
        ttft_ms=5.0, itl_ms=1.0, extra_args=["--fault-rate", "http_429:1:0.25", "--fault-seed", "1"]
    )
    run = run_spec(base_url, tmp_path / "run",
                   {"profile": "constant", "rate": 20.0, "requests": 40},
                   target={"retry_429": True, "retry_429_attempts": 3})  # fmt: skip
    records = load_run(tmp_path / "run").records
    retried = [r for r in records if r.attempts > 1]
    assert len(retried) >= 4  # seeded: the draws make ~10 of 40 retried
    delivery, validity, summary = run.delivery, run.validity, run.summary
    assert isinstance(delivery, OpenLoopDelivery)
    assert validity is not None
    assert summary is not None
    # Send lag (and lateness, and the achieved rate) are judged on the first attempts: the
    # client sent those on time, so the run is valid...
    assert validity.valid, validity
    assert delivery.send_lag_ms.p99 is not None
    assert delivery.send_lag_ms.p99 < 10.0
    assert summary.client_lag_ms.max is not None
    assert summary.client_lag_ms.max < 500.0
    # ...and the server's back-pressure is reported apart: first attempt's send → last one's.
    retries = delivery.retries
    assert retries is not None
    assert retries.requests == len(retried)
    assert retries.extra_attempts == sum(r.attempts - 1 for r in retried)
    assert retries.delay_ms.p50 is not None
    assert retries.delay_ms.p50 >= 950.0  # at least one Retry-After: 1 s each
    expected_max = max(r.sent_ns - (r.first_sent_ns or 0) for r in retried) / 1e6
    assert retries.delay_ms.max == pytest.approx(expected_max)
    # Latency from the plan still holds the waits: that is what a user of the server saw.
    assert summary.scheduled_e2e_ms.max is not None
    assert summary.scheduled_e2e_ms.max >= 950.0
