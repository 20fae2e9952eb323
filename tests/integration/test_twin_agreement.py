"""Offline vs served: the twin behind the HTTP server, measured by llmbench's own client, agrees
with the same twin run offline on the arrivals the server saw (its log's first-byte times).

Same preset, same seed: both sides draw the same step-time noise in the same order, so the
engine's schedule is the same; what differs is what the served side adds (loopback delivery,
event-loop lateness, 1 ms timer slots). Tolerance: 5% on mean and P95 of TTFT and ITL plus a
fixed allowance (never grown from this run's own lateness: a late server must not loosen its own
test), larger when the kernel shows the host kept the client's thread off the CPU.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.request import urlopen

import numpy as np
import pytest

from llmbench.config import ClosedLoad, RunSpec, SimSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.sim.twin.offline import predict
from llmbench.sim.twin.presets import builtin, override
from llmbench.store.results import load_run

# A slower GPU than cloud-warm's, so 1 ms timer slots are small against ITL (~36 ms).
SETTINGS = {
    "noise.jitter_sigma": "0.1",
    "hardware.peak_flops": "2e14",
    "hardware.mem_bandwidth_bytes_per_s": "6e11",
}
INPUT, OUTPUT = 512, 24
_SCHEDSTAT = Path("/proc/thread-self/schedstat")
# Allowances (ms) on top of 5 %, from one-off loops over this test's run on the shared 2-vCPU
# host. Usual load (client thread runnable but not running 2-5 % of the run, 7 runs): served −
# offline mean TTFT ≤ +3.3, mean ITL ≤ +0.03, P95 TTFT ≤ +2.4, P95 ITL ≤ +2.2 (5 % of it: 2.1).
MEAN_ALLOWANCE_MS, P95_ALLOWANCE_MS = 2.0, 5.0
# Under 4 CPU hogs (35-46 % off the CPU, 13 runs) the client reads chunks late: mean TTFT
# ≤ +10.6, mean ITL within ±1.1, P95 TTFT ≤ +16.3, P95 ITL ≤ +13.8.
LOADED_MEAN_ALLOWANCE_MS, LOADED_P95_ALLOWANCE_MS = 5.0, 16.0
HOST_TOOK_CPU_FRACTION = 0.10  # usual 0.02-0.05, hogs 0.35-0.46 (and test_run_accuracy's)
# The server's own lateness (writes − deadlines), P95: 0.6-5.4 ms in all 20 runs. Beyond this
# the served side did not run as the twin planned: a failure, not a reason to allow more.
SERVER_LATENESS_P95_MAX_MS = 10.0


def run_queue_wait_ns() -> int:
    """This thread's total time runnable but not running (the kernel's schedstat)."""
    return int(_SCHEDSTAT.read_text().split()[1])


@pytest.mark.slow
@pytest.mark.skipif(not _SCHEDSTAT.exists(), reason="needs the kernel's schedstat (Linux)")
def test_served_twin_agrees_with_the_offline_prediction(tmp_path: Path) -> None:
    sets = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    with EmbeddedSim(SimSpec(seed=1), extra_args=["--preset", "cloud-warm", *sets]) as sim:
        spec = RunSpec(
            workload=WorkloadSpec(input_tokens=INPUT, output_tokens=OUTPUT),
            load=ClosedLoad(concurrency=4, requests=24, warmup=4, workers=1),
        )
        waited_from_ns, started_ns = run_queue_wait_ns(), time.monotonic_ns()
        run = asyncio.run(execute_run(spec, Target(sim.base_url), tmp_path / "run"))
        host_took = (run_queue_wait_ns() - waited_from_ns) / (time.monotonic_ns() - started_ns)
        with urlopen(f"{sim.base_url}/sim/log", timeout=5) as response:
            log = json.loads(response.read())["requests"]
    assert run.counts.ok == 24

    # The offline twin is fed the arrivals the served engine went by (its log): a request
    # whose handler ran after the engine planned the step it was eligible for joined the next
    # one there (sim/server/served.py); TTFT is predicted from the request's own arrival.
    received = {entry["request_id"]: entry["received_ns"] for entry in log}
    engine = {entry["request_id"]: entry["engine_arrival_ns"] for entry in log}
    assert all(engine[i] >= received[i] for i in received)
    ids = sorted(engine, key=engine.__getitem__)
    origin_ns = engine[ids[0]]
    arrivals_s = [(engine[i] - origin_ns) / 1e9 for i in ids]
    preset = override(builtin("cloud-warm"), dict(SETTINGS))
    predicted = predict(
        preset, arrivals_s, input_tokens=INPUT, output_tokens=OUTPUT, seed=1
    ).requests
    by_id = dict(zip(ids, predicted, strict=True))

    records = [r for r in load_run(tmp_path / "run").records if not r.warmup]
    ttft_measured = np.array([(r.first_token_ns or 0) - r.sent_ns for r in records]) / 1e6
    itl_measured = (
        np.concatenate(
            [np.diff(np.frombuffer(r.chunk_offsets_ns, dtype=np.int64)) for r in records]
        )
        / 1e6
    )
    timings = [by_id[r.request_id] for r in records]
    own_arrival_s = [(received[r.request_id] - origin_ns) / 1e9 for r in records]
    ttft_predicted = (
        np.array([(t.first_token_s or 0) - a for t, a in zip(timings, own_arrival_s, strict=True)])
        * 1e3
    )
    itl_predicted = np.concatenate([np.diff(t.token_s) for t in timings]) * 1e3

    # The engine itself agrees exactly: the server's deadlines are the offline token times.
    entries = {entry["request_id"]: entry for entry in log}
    for record, timing in zip(records, timings, strict=True):
        deadlines_s = (np.array(entries[record.request_id]["chunk_deadline_ns"]) - origin_ns) / 1e9
        assert np.abs(deadlines_s - timing.token_s).max() < 1e-6
    # The server kept to its deadlines (its own log: writes − deadlines), within a fixed bound.
    lateness_ms = (
        np.concatenate([np.subtract(e["chunk_emit_ns"], e["chunk_deadline_ns"]) for e in log]) / 1e6
    )
    server_p95_ms = float(np.percentile(lateness_ms, 95))
    assert server_p95_ms < SERVER_LATENESS_P95_MAX_MS
    loaded = host_took > HOST_TOOK_CPU_FRACTION
    mean_allowance_ms = LOADED_MEAN_ALLOWANCE_MS if loaded else MEAN_ALLOWANCE_MS
    p95_allowance_ms = LOADED_P95_ALLOWANCE_MS if loaded else P95_ALLOWANCE_MS
    context = (
        f"host took the CPU {host_took:.0%} of the run; server lateness P95 {server_p95_ms:.2f} ms"
    )
    for name, measured, predicted_ms in (
        ("TTFT", ttft_measured, ttft_predicted),
        ("ITL", itl_measured, itl_predicted),
    ):
        mean_m, mean_p = float(np.mean(measured)), float(np.mean(predicted_ms))
        assert abs(mean_m - mean_p) <= 0.05 * mean_p + mean_allowance_ms, (
            f"{name} mean: {mean_m:.2f} vs {mean_p:.2f} ({context})"
        )
        p95_m, p95_p = float(np.percentile(measured, 95)), float(np.percentile(predicted_ms, 95))
        assert abs(p95_m - p95_p) <= 0.05 * p95_p + p95_allowance_ms, (
            f"{name} P95: measured {p95_m:.2f} ms vs predicted {p95_p:.2f} ms ({context})"
        )
