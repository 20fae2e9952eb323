"""The latency decomposition against the simulator as a real process, run as the embedded
target (so the run reads its log's engine phases) and kept alive afterwards for its log:

- each part is the log's interval on the shared monotonic clock, the parts sum to E2E within
  1 ms per request, and vLLM's histograms at /metrics hold the same queue and prefill times;
- the twin's ground truth: queue wait is exactly 0 when requests come one at a time (an idle
  engine schedules a request the moment it can) and grows with concurrency (a request that
  becomes eligible mid-step waits for the step to end); prefill tracks the prompt length,
  the median within 10 % of the twin's noise-free step time for that prompt alone (its step
  jitter is log-normal with σ = 3 %);
- with the twin's prefix cache on, the usage's cached tokens and the server's hit counter are
  the log's cached tokens.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from llmbench.config import ClosedLoad, RunSpec, SimSpec, WorkloadSpec
from llmbench.config.run import MonitorSpec
from llmbench.run.execute import Target, execute_run
from llmbench.run.target import EmbeddedSim
from llmbench.sim.twin.presets import builtin
from llmbench.sim.twin.steptime import StepCost

MS = 1e6
SPEC = SimSpec(preset="cloud-warm")


@pytest.fixture
def sim() -> Iterator[EmbeddedSim]:
    with EmbeddedSim(SPEC) as started:
        yield started


def _run(sim: EmbeddedSim, out: Path, *, concurrency: int, requests: int, **workload: int) -> Any:
    spec = RunSpec(
        workload=WorkloadSpec(output_tokens=8, **workload),  # type: ignore[arg-type]
        load=ClosedLoad(concurrency=concurrency, requests=requests, warmup=0, workers=1),
        monitor=MonitorSpec(server_metrics_interval_s=0.2),
    )
    target = Target(sim.base_url, embedded_sim=SPEC, pid=sim.pid)
    return asyncio.run(execute_run(spec, target, out))


def _get(sim: EmbeddedSim, path: str) -> Any:
    with urlopen(sim.base_url.removesuffix("/v1") + path, timeout=10) as response:
        body = response.read()
    return body.decode() if path == "/metrics" else json.loads(body)


def _joined(sim: EmbeddedSim, out: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, its log entry) for every measured ok request of the run in `out`."""
    log = {e["request_id"]: e for e in _get(sim, "/sim/log")["requests"]}
    lines = (out / "records.jsonl").read_text().splitlines()
    records = [r for r in map(json.loads, lines) if r["status"] == "ok" and not r["warmup"]]
    return [(r, log[r["request_id"]]) for r in records]


def _log_means_ms(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float]:
    parts: dict[str, list[int]] = {"intake": [], "queue_wait": [], "prefill": [],
                                   "first_token_delivery": []}  # fmt: skip
    for record, entry in pairs:
        parts["intake"].append(entry["queued_ns"] - record["sent_ns"])
        parts["queue_wait"].append(entry["admitted_ns"] - entry["queued_ns"])
        parts["prefill"].append(entry["first_token_ns"] - entry["admitted_ns"])
        parts["first_token_delivery"].append(record["first_token_ns"] - entry["first_token_ns"])
    for name, values in parts.items():  # causal order on the host's one monotonic clock
        assert min(values) >= 0, name
    return {name: statistics.fmean(values) / MS for name, values in parts.items()}


def _histogram_sum(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(f"{name}_sum ")]
    return float(line.split()[1])


def test_the_parts_are_the_simulators_log_and_sum_to_e2e(sim: EmbeddedSim, tmp_path: Path) -> None:
    run = _run(sim, tmp_path, concurrency=8, requests=24, input_tokens=600)
    block = run.decomposition
    assert (block.split, block.requests) == ("exact", 24)
    assert block.additive == ["intake", "queue_wait", "prefill", "first_token_delivery", "decode"]
    assert block.sum_check_max_ms is not None
    assert block.sum_check_max_ms < 1  # per request, |Σ parts − E2E|
    pairs = _joined(sim, tmp_path)
    assert len(pairs) == 24
    for name, mean_ms in _log_means_ms(pairs).items():
        assert block.parts[name].mean_ms == pytest.approx(mean_ms, rel=1e-9, abs=1e-6), name
        assert block.parts[name].n == 24
    # /metrics holds vLLM's histograms of the same times (every request of this fresh server).
    log = _get(sim, "/sim/log")["requests"]
    text = _get(sim, "/metrics")
    for histogram, start, end in (("queue", "queued_ns", "admitted_ns"),
                                  ("prefill", "admitted_ns", "first_token_ns")):  # fmt: skip
        total_s = sum(e[end] - e[start] for e in log) / 1e9
        served = _histogram_sum(text, f"vllm:request_{histogram}_time_seconds")
        assert served == pytest.approx(total_s, abs=1e-6 * len(log)), histogram


def test_queue_grows_with_concurrency_and_prefill_with_the_prompt(
    sim: EmbeddedSim, tmp_path: Path
) -> None:
    cost = StepCost(builtin("cloud-warm"), random.Random(0))
    prefill_ms = {}
    for tokens in (256, 896):  # under the preset's 1024-token cache minimum: nothing cached
        out = tmp_path / f"c1-{tokens}"
        block = _run(sim, out, concurrency=1, requests=8, input_tokens=tokens).decomposition
        assert block.parts["queue_wait"].mean_ms == pytest.approx(0, abs=1e-6)
        pairs = _joined(sim, out)
        ratios = [
            (e["first_token_ns"] - e["admitted_ns"]) / 1e9
            / cost.base_seconds(0, 0, 0, [(e["prompt_tokens"], 0)])
            for _, e in pairs
        ]  # fmt: skip
        assert statistics.median(ratios) == pytest.approx(1, abs=0.1)
        prefill_ms[tokens] = block.parts["prefill"].mean_ms
    expected = cost.base_seconds(0, 0, 0, [(896, 0)]) / cost.base_seconds(0, 0, 0, [(256, 0)])
    assert prefill_ms[896] / prefill_ms[256] == pytest.approx(expected, rel=0.2)
    busy = _run(sim, tmp_path / "c8", concurrency=8, requests=32, input_tokens=256)
    queue = busy.decomposition.parts["queue_wait"]
    assert queue.mean_ms is not None
    assert queue.mean_ms > 0.5  # the ones that found the engine mid-step waited for its end
    logged = _log_means_ms(_joined(sim, tmp_path / "c8"))
    assert queue.mean_ms == pytest.approx(logged["queue_wait"])


def test_cached_tokens_are_the_logs(sim: EmbeddedSim, tmp_path: Path) -> None:
    run = _run(sim, tmp_path, concurrency=2, requests=12, input_tokens=1100, prefix_tokens=1024)
    pairs = _joined(sim, tmp_path)
    assert [r["cached_tokens"] for r, _ in pairs] == [e["cached_tokens"] for _, e in pairs]
    logged = sum(e["cached_tokens"] for _, e in pairs)
    assert logged > 0
    metrics = run.server_metrics
    window = metrics.window
    in_window = [
        e for e in _get(sim, "/sim/log")["requests"]
        if window.start_ns <= e["received_ns"] <= window.end_ns
    ]  # fmt: skip
    assert metrics.counters["prefix_cache_hits"] == sum(e["cached_tokens"] for e in in_window)


def test_the_fixed_timing_simulator_has_no_queue_and_its_ttft_as_prefill(tmp_path: Path) -> None:
    spec = SimSpec(ttft_ms=30.0, itl_ms=5.0)
    with EmbeddedSim(spec) as fixed:
        run = asyncio.run(
            execute_run(
                RunSpec(
                    workload=WorkloadSpec(input_tokens=32, output_tokens=8),
                    load=ClosedLoad(concurrency=4, requests=16, warmup=0, workers=1),
                ),
                Target(fixed.base_url, embedded_sim=spec, pid=fixed.pid),
                tmp_path,
            )
        )
    parts = run.decomposition.parts
    assert run.decomposition.split == "exact"
    # Served at once on arrival: no queue; the first token exactly TTFT after its first byte.
    assert parts["queue_wait"].mean_ms == 0
    assert parts["prefill"].mean_ms == pytest.approx(30.0, abs=1e-6)
    assert parts["prefill"].p95_ms == pytest.approx(30.0, abs=1e-6)
    assert run.decomposition.sum_check_max_ms < 1
