"""The seed article's tables, from a comparison study's stored results alone: per target the mean
first-token latency, the mean full-response latency and tokens/s of the baseline scenario; the
mean, P95 and fluctuation range (min–max) of both latencies; and throughput and latency per
concurrency level. Latencies are pooled over the ok measured requests of every repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from llmbench.metrics.stats import describe
from llmbench.store.results import load_run_columns
from llmbench.store.study_schema import ComparisonIndex, ComparisonRun

_NS_PER_MS = 1e6


@dataclass(frozen=True, slots=True)
class TargetLatency:
    """One target's baseline: its pooled samples described, and its output tokens/s."""

    target: str
    runs: int
    ttft_ms: dict[str, Any]
    e2e_ms: dict[str, Any]
    output_tokens_per_s: float | None  # per run: output tokens / measured time; mean of runs


def _baseline_scenario(index: ComparisonIndex) -> str | None:
    return next((s.name for s in index.scenarios if s.kind == "baseline"), None)


def _pooled(directory: Path, runs: list[ComparisonRun], column: str) -> np.ndarray[Any, Any]:
    samples = []
    for run in runs:
        columns = load_run_columns(directory / run.dir).columns
        values = columns.floats(column)[columns.ok_mask] / _NS_PER_MS
        samples.append(values[np.isfinite(values)])
    return np.concatenate(samples) if samples else np.empty(0)


def _tokens_per_s(runs: list[ComparisonRun]) -> float | None:
    """The mean over the runs of each run's output tokens / its measured seconds."""
    rates = [r.headline.output_tokens_per_s for r in runs if r.headline is not None]
    known = [x for x in rates if x is not None]
    return sum(known) / len(known) if known else None


def baseline_latency(index: ComparisonIndex, directory: Path, seed: int = 0) -> list[TargetLatency]:
    """Per target (in the study's order), its complete baseline runs pooled; [] without one."""
    scenario = _baseline_scenario(index)
    if scenario is None:
        return []
    out = []
    for target in index.targets:
        runs = [
            r for r in index.runs
            if r.target == target.name and r.scenario == scenario and r.status == "complete"
        ]  # fmt: skip
        if not runs:
            continue
        out.append(
            TargetLatency(
                target=target.name,
                runs=len(runs),
                ttft_ms=describe(_pooled(directory, runs, "ttft_ns"), seed=seed),
                e2e_ms=describe(_pooled(directory, runs, "e2e_ns"), seed=seed),
                output_tokens_per_s=_tokens_per_s(runs),
            )
        )
    return out


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _range(d: dict[str, Any]) -> str:
    return "–" if d["min"] is None else f"[{d['min']:,.1f}, {d['max']:,.1f}]"


def main_table(rows: list[TargetLatency]) -> Table:
    """The seed's first table: mean first-token latency, full response latency, tokens/s."""
    table = Table(title="Response latency (baseline, one request at a time)", title_justify="left")
    for name in ("target", "requests", "mean TTFT ms", "mean E2E ms", "output tok/s"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for row in rows:
        tps = "–" if row.output_tokens_per_s is None else f"{row.output_tokens_per_s:,.1f}"
        table.add_row(
            row.target, str(row.e2e_ms["n"]), _ms(row.ttft_ms["mean"]), _ms(row.e2e_ms["mean"]), tps
        )
    return table


def spread_table(rows: list[TargetLatency]) -> Table:
    """The seed's second table: mean, P95 and fluctuation range (min–max) per latency."""
    table = Table(title="Mean, P95 and fluctuation range (ms)", title_justify="left")
    for name in ("target", "metric", "mean", "P95", "range [min, max]"):
        table.add_column(name, justify="left" if name in ("target", "metric") else "right")
    for row in rows:
        for metric, d in (("TTFT", row.ttft_ms), ("E2E", row.e2e_ms)):
            table.add_row(row.target, metric, _ms(d["mean"]), _ms(d["p95"]), _range(d))
    return table


def concurrency_table(index: ComparisonIndex) -> Table | None:
    """Throughput and median latencies per concurrency level (first repeat of each), per target."""
    scenario = next((s for s in index.scenarios if s.kind == "concurrency"), None)
    if scenario is None:
        return None
    table = Table(title=f"Per concurrency level ({scenario.name})", title_justify="left")
    for name in ("target", "concurrency", "output tok/s", "req/s", "TTFT p50 ms", "E2E p50 ms"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for target in scenario.targets:
        for step in scenario.steps:
            run = next(
                (r for r in index.runs if (r.target, r.scenario, r.step, r.repeat)
                 == (target, scenario.name, step, 1)),
                None,
            )  # fmt: skip
            h = run.headline if run is not None else None
            if h is None:
                continue
            table.add_row(
                target, step.removeprefix("c"), _num(h.output_tokens_per_s),
                _num(h.requests_per_s, 2), _ms(h.ttft_ms.p50), _ms(h.e2e_ms.p50),
            )  # fmt: skip
    return table


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
