"""The client watch: a blocked event loop is seen as lag and marks the run saturated."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from llmbench.monitor.client_health import ClientWatch, WatchSettings, verdict


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
