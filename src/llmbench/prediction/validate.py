"""Validation of a preset against measured runs: each run's own send times replayed through the
twin offline, then mean and P95 of TTFT, ITL and E2E compared with what was measured, per run
and per load level (its throughput as a share of the measured capacity); runs whose prompt or
output lengths vary per request (a mix, a stddev) form a row of their own, "mixed".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmbench.errors import ConfigError
from llmbench.metrics.summary import summarize_run
from llmbench.prediction.predict import to_records
from llmbench.records import RequestRecord
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.replay import replay_arrivals, replay_closed_loop
from llmbench.store.results import LoadedRun
from llmbench.store.run_schema import Distribution, RunResult, RunSummary

METRICS = ("ttft_ms", "itl_ms", "e2e_ms")
STATISTICS = ("mean", "p95")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One run's measured and predicted statistics; `errors[key]` = predicted / measured − 1."""

    directory: str
    load_fraction: float | None
    n: int
    measured: dict[str, float | None]
    predicted: dict[str, float | None]
    errors: dict[str, float | None]
    mixed: bool = False  # per-request lengths varied (a mix or a stddev)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.directory,
            "mixed": self.mixed,
            "load_fraction": self.load_fraction,
            "n": self.n,
            "measured": self.measured,
            "predicted": self.predicted,
            "relative_error": self.errors,
        }


def measured_run(loaded: LoadedRun) -> RunResult:
    """The run.json of a run to calibrate or validate on: its spec says what load it was."""
    if loaded.run is None:
        raise ConfigError(
            f"{loaded.directory} has no run.json: its load is unknown",
            where="RUN_DIR",
            hint="calibrate and validate on runs that started cleanly",
        )
    return loaded.run


def _summary(records: list[RequestRecord], seed: int) -> RunSummary:
    return RunSummary.model_validate(summarize_run(records, seed=seed)["summary"])


def _statistics(summary: RunSummary | None) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for metric in METRICS:
        described: Distribution | None = getattr(summary, metric) if summary else None
        for stat in STATISTICS:
            out[f"{metric}.{stat}"] = getattr(described, stat) if described else None
    return out


def _think_s(records: list[RequestRecord]) -> float:
    """Median time a closed-loop client took from one response's end to its next send."""
    by_worker: dict[int, list[RequestRecord]] = {}
    for record in records:
        by_worker.setdefault(record.worker_id, []).append(record)
    gaps = [
        (b.sent_ns - a.end_ns) / 1e9
        for rs in by_worker.values()
        for a, b in itertools.pairwise(rs)
        if a.end_ns is not None and b.sent_ns >= a.end_ns
    ]
    return float(np.median(gaps)) if gaps else 0.0


def _send_spacing_s(records: list[RequestRecord], streams: int) -> float:
    """Median time between the client's first sends, which a closed loop makes together."""
    first = [r.sent_ns for r in records[:streams]]
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(first)]
    return float(np.median(gaps)) if gaps else 0.0


def replay(preset: Preset, loaded: LoadedRun, seed: int = 0) -> RunSummary | None:
    """The summary the preset predicts for this run, statistics over the measured ok requests
    (as in the run's own summary). A closed loop is simulated as one (same streams, requests,
    client think time and time between the client's sends); any other run is replayed at its
    own send offsets, warm-up and failed requests included (they loaded the server). What the
    server's prefix cache served (usage `cached_tokens`) is left out of each prompt: the twin
    is not asked to guess it."""
    records = sorted(loaded.records, key=lambda r: r.sent_ns)
    if not records:
        return None
    spec = measured_run(loaded).spec
    workload, load = spec.workload, spec.load
    output_tokens, planned = workload.output_tokens, workload.input_tokens
    prompts = [max(1, (r.input_tokens or planned) - (r.cached_tokens or 0)) for r in records]
    # Each request's own max_tokens (drawn when output lengths vary; the twin honours it).
    outputs = [r.requested_output_tokens or output_tokens for r in records]
    if load.profile in ("synchronous", "concurrency"):
        streams = load.concurrency
        timings = replay_closed_loop(
            preset, streams=streams, prompts=prompts, output_tokens=outputs,
            think_s=_think_s(records), seed=seed,
            send_spacing_s=_send_spacing_s(records, streams),
        ).requests  # fmt: skip
    else:
        start_ns = records[0].sent_ns
        arrivals = [(r.sent_ns - start_ns) / 1e9 for r in records]
        timings = replay_arrivals(
            preset, arrivals, prompts=prompts, output_tokens=outputs, seed=seed
        ).requests
    kept = [t for t, r in zip(timings, records, strict=True) if r.ok and not r.warmup]
    return _summary(to_records(kept), seed)


def compare(
    preset: Preset, loaded: LoadedRun, capacity_per_s: float | None, seed: int = 0
) -> Comparison:
    run = measured_run(loaded)
    measured_summary = _summary(loaded.records, seed)
    measured = _statistics(measured_summary)
    predicted = _statistics(replay(preset, loaded, seed))
    errors: dict[str, float | None] = {}
    for key, value in measured.items():
        guess = predicted.get(key)
        errors[key] = None if not value or guess is None else guess / value - 1.0
    # The load level: an open loop's planned rate (its achieved rate is lowered by the drain
    # of the last requests), else the throughput a closed loop reached.
    rate = run.spec.load.rate or measured_summary.requests_per_s
    fraction = rate / capacity_per_s if rate and capacity_per_s else None
    n = measured_summary.ttft_ms.n
    mixed = varied_lengths(run)
    return Comparison(str(loaded.directory), fraction, n, measured, predicted, errors, mixed)


def varied_lengths(run: RunResult) -> bool:
    """The run drew per-request prompt or output lengths (a mix or a stddev)."""
    w = run.spec.workload
    return bool(w.input_tokens_stddev or w.output_tokens_stddev or w.input_mix or w.output_mix)


def nearest_level(fraction: float, levels: tuple[float, ...]) -> float:
    return min(levels, key=lambda level: abs(level - fraction))


def by_load_level(
    comparisons: list[Comparison], levels: tuple[float, ...] = (0.25, 0.5, 0.85)
) -> dict[str, dict[str, float | None]]:
    """Mean |relative error| per metric over the fixed-length runs nearest each load level;
    the runs of varied lengths in a row of their own, "mixed"."""
    out: dict[str, dict[str, float | None]] = {}
    for level in levels:
        near = [
            c
            for c in comparisons
            if not c.mixed
            and c.load_fraction is not None
            and nearest_level(c.load_fraction, levels) == level
        ]
        if near:
            out[f"{level:.0%}"] = _mean_errors(near)
    if mixed := [c for c in comparisons if c.mixed]:
        out["mixed"] = _mean_errors(mixed)
    return out


def _mean_errors(comparisons: list[Comparison]) -> dict[str, float | None]:
    row: dict[str, float | None] = {"runs": float(len(comparisons))}
    for key in comparisons[0].errors:
        values = [abs(v) for c in comparisons if (v := c.errors.get(key)) is not None]
        row[key] = sum(values) / len(values) if values else None
    return row
