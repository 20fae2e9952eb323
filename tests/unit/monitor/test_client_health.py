"""The client watch: a blocked event loop is seen as lag and marks the run saturated."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from llmbench.monitor.client_health import (
    ClientWatch,
    WatchSettings,
    WorkerHealth,
    merge_reports,
    verdict,
)


def test_idle_loop_has_small_lag_and_low_cpu() -> None:
    async def main() -> dict[str, object]:
        async with ClientWatch(WatchSettings(lag_interval_s=0.005, cpu_window_s=0.1)) as watch:
            await asyncio.sleep(0.3)
        return watch.report()

    report = asyncio.run(main())
    lag = report["loop_lag_ms"]
    cpu = report["cpu"]
    assert isinstance(lag, dict)
    assert isinstance(cpu, dict)
    assert lag["n"] >= 10  # ~60 samples at 5 ms; loose for a busy machine
    assert lag["p50"] < 5.0  # a loaded host delays wake-ups a little; idle means no backlog
    assert cpu["mean_fraction"] < 0.5
    assert not cpu["busy_s_longest"]


def test_blocking_the_loop_shows_as_lag_and_saturation() -> None:
    async def main() -> dict[str, object]:
        async with ClientWatch(WatchSettings(lag_interval_s=0.005, cpu_window_s=0.1)) as watch:
            for i in range(200):  # a 25 ms stall every 10th step: ~10% of samples, beyond P99
                await asyncio.sleep(0.005)
                if i % 10 == 0:
                    time.sleep(0.025)  # noqa: ASYNC251 -- on purpose: the loop is stuck
        return watch.report()

    report = asyncio.run(main())
    assert report["saturated"] is True
    lag = report["loop_lag_ms"]
    assert isinstance(lag, dict)
    assert lag["max"] >= 20.0
    assert any("event-loop lag" in reason for reason in report["reasons"])  # type: ignore[attr-defined]


def test_verdict_on_cpu_busy_run() -> None:
    # 0.5 s windows: 5 busy windows in a row = 2.5 s ≥ the 2 s limit.
    busy = verdict(np.zeros(10), np.array([0.2, 0.95, 0.97, 0.99, 0.95, 0.93, 0.1]), 0.5)
    assert busy["saturated"] is True
    assert busy["cpu"]["busy_s_longest"] == 2.5
    blips = verdict(np.zeros(10), np.array([0.95, 0.1, 0.95, 0.1]), 0.5)
    assert blips["saturated"] is False
    assert verdict(np.array([]), np.array([]), 0.5)["loop_lag_ms"] is None


def _raw(lag_ms: list[float], cpu: list[float]) -> dict[str, object]:
    return {
        "lag_ns": [int(x * 1e6) for x in lag_ms],
        "cpu_fraction": cpu,
        "cpu_window_s": 0.5,
    }


def test_merged_workers_pool_lag_samples_and_name_the_saturated_worker() -> None:
    calm = _raw([0.1] * 200, [0.3] * 6)
    # 3 of 200 samples at 30 ms: this worker's own P99 is 30 ms.
    stalled = _raw([0.1] * 197 + [30.0] * 3, [0.5] * 6)
    merged = merge_reports(
        [WorkerHealth(0, 100, calm), WorkerHealth(1, 101, stalled), WorkerHealth(2, 102, None)],
        parent=verdict(np.zeros(10), np.array([0.1]), 0.5),
    )
    assert merged["saturated"] is True
    assert len(merged["reasons"]) == 1
    assert merged["reasons"][0].startswith("worker 1 (pid 101): event-loop lag P99")
    assert "--workers" in merged["remedy"]
    # Pooled: 3 of 400 samples at 30 ms lie above the pooled P99 (the 396th value is 0.1 ms):
    # percentiles of the pooled samples, not the mean of the workers' P99s (15 ms).
    assert merged["loop_lag_ms"]["n"] == 400
    assert merged["loop_lag_ms"]["p99"] < 30.0
    assert merged["loop_lag_ms"]["p99"] != (0.1 + 30.0) / 2
    assert merged["cpu"]["worker_id"] == 1  # the busiest worker's CPU series
    entries = {e["worker_id"]: e for e in merged["workers"]}
    assert entries[1]["saturated"] is True
    assert entries[1]["loop_lag_ms_p99"] == pytest.approx(30.0)
    assert entries[0]["saturated"] is False
    assert entries[0]["cpu_mean_fraction"] == pytest.approx(0.3)
    assert entries[2]["lost"] is True
    assert merged["parent"]["saturated"] is False


def test_merged_calm_workers_are_not_saturated() -> None:
    calm = _raw([0.1] * 200, [0.3] * 6)
    merged = merge_reports([WorkerHealth(0, 1, calm), WorkerHealth(1, 2, calm)], parent={})
    assert merged["saturated"] is False
    assert merged["remedy"] is None
    assert merged["loop_lag_ms"]["n"] == 400


def test_a_stuck_loop_with_few_samples_is_judged_by_its_median() -> None:
    # A loop lagging 250 ms takes few samples in a short run: the P99 rule needs 100 of them.
    stuck = verdict(np.full(30, 250.0), np.array([0.5]), 0.5)
    assert stuck["saturated"] is True
    assert "P50 250.0 ms" in stuck["reasons"][0]
    # One hiccup among few samples moves the P99, not the median: no verdict.
    hiccup = verdict(np.array([0.1] * 29 + [40.0]), np.array([0.5]), 0.5)
    assert hiccup["saturated"] is False
    assert not verdict(np.full(5, 250.0), np.array([0.5]), 0.5)["saturated"]  # too few


def test_loop_lag_p99_is_none_below_the_samples_a_p99_needs() -> None:
    # 99 samples: a P99 would be the top values' interpolation (stats.percentile_min_n(99) = 100).
    few = verdict(np.linspace(0.1, 9.9, 99), np.array([0.5]), 0.5)["loop_lag_ms"]
    assert few["n"] == 99
    assert few["p99"] is None
    assert few["p50"] == 5.0
    enough = verdict(np.linspace(0.1, 10.0, 100), np.array([0.5]), 0.5)["loop_lag_ms"]
    assert enough["p99"] == pytest.approx(9.901)  # rank 0.99 · 99 = 98.01: 9.9 + 0.01 · 0.1
    worker = _raw([0.1] * 50, [0.3] * 6)  # 50 samples: the worker entry withholds its P99 too
    merged = merge_reports([WorkerHealth(0, 1, worker)], parent={})
    assert merged["workers"][0]["loop_lag_ms_p99"] is None
    assert merged["loop_lag_ms"]["p99"] is None
