"""The cold-start detector against the twin's ground truth (the simulator as a real process):
a twin that loads for 0.4 s when its first request comes after 0.1 s idle makes the requests
it holds meanwhile slow; the detector's change point is exactly their number, read from the
simulator's log (the requests that could be scheduled before the cold step's first token), and
the twin counts one cold start. The engine schedules nothing while it loads, so the exact
decomposition counts that time as queue wait."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.request import urlopen

from llmbench.config import ClosedLoad, RunSpec, SimSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim

SPEC = SimSpec(preset="cloud-warm")
COLD_S = 0.4
IDLE_S = 0.1


def test_the_change_point_is_the_requests_the_cold_start_held(tmp_path: Path) -> None:
    extra = ["--set", f"engine.cold_start_s={COLD_S}", "--set", f"engine.idle_timeout_s={IDLE_S}"]
    with EmbeddedSim(SPEC, extra_args=extra) as sim:
        time.sleep(2 * IDLE_S)  # the engine has been idle since it started: it is cold
        spec = RunSpec(
            workload=WorkloadSpec(input_tokens=64, output_tokens=8),
            load=ClosedLoad(concurrency=4, requests=40, warmup=0, workers=1),
        )
        target = Target(sim.base_url, embedded_sim=SPEC, pid=sim.pid)
        run = asyncio.run(execute_run(spec, target, tmp_path))
        root = sim.base_url.removesuffix("/v1")
        with urlopen(f"{root}/sim/log", timeout=10) as response:
            log = json.loads(response.read())["requests"]
        with urlopen(f"{root}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    assert "llmbench_sim_cold_starts_total 1" in metrics.splitlines()
    cold_step_end = min(e["first_token_ns"] for e in log)
    held = sum(e["queued_ns"] < cold_step_end for e in log)
    assert held >= 1
    cold = run.cache.cold_start
    assert cold.detected is True
    assert cold.change_at_request == held
    assert cold.first_median_ms > 1e3 * COLD_S * 0.5
    queue = run.decomposition.parts["queue_wait"]
    assert queue.mean_ms is not None
    # The held requests' queue wait holds (most of) the load: its mean over the run shows it.
    assert queue.mean_ms * run.decomposition.requests >= 1e3 * COLD_S * 0.5 * held


def test_an_engine_that_starts_cold_holds_the_first_request_alone(tmp_path: Path) -> None:
    """`engine.start_cold` (a preset override the run records): at concurrency 1 the load's
    first request alone waits for the model to load, and the detector finds that one request."""
    overrides = ("engine.start_cold=true", f"engine.cold_start_s={COLD_S}")
    cold = SimSpec(preset="cloud-warm", preset_overrides=overrides)
    with EmbeddedSim(cold) as sim:
        spec = RunSpec(
            workload=WorkloadSpec(input_tokens=64, output_tokens=4),
            load=ClosedLoad(concurrency=1, requests=20, warmup=0, workers=1),
            sim=cold,
        )
        run = asyncio.run(execute_run(spec, Target(sim.base_url, embedded_sim=cold), tmp_path))
        with urlopen(f"{sim.base_url.removesuffix('/v1')}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    assert "llmbench_sim_cold_starts_total 1" in metrics.splitlines()
    verdict = run.cache.cold_start
    assert (verdict.detected, verdict.change_at_request) == (True, 1)
    assert verdict.first_median_ms > 1e3 * COLD_S
    stored = json.loads((tmp_path / "run.json").read_text())
    assert stored["spec"]["sim"]["preset_overrides"] == list(cold.preset_overrides)
