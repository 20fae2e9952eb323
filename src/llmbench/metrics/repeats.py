"""Across repeated runs of one seeded workload: each run's headline statistics, and their mean,
standard deviation, coefficient of variation and a Student-t confidence interval of the mean,
because run-to-run variance usually dominates the within-run variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scipy import stats as scipy_stats

# (label, path into run.json) of the statistics compared across runs and steps.
HEADLINE = (
    ("requests_per_s", ("summary", "requests_per_s")),
    ("output_tokens_per_s", ("summary", "output_tokens_per_s")),
    ("ttft_p50_ms", ("summary", "ttft_ms", "p50")),
    ("ttft_p99_ms", ("summary", "ttft_ms", "p99")),
    ("itl_p50_ms", ("summary", "itl_ms", "p50")),
    ("itl_p99_ms", ("summary", "itl_ms", "p99")),
    ("e2e_p50_ms", ("summary", "e2e_ms", "p50")),
    ("e2e_p99_ms", ("summary", "e2e_ms", "p99")),
)


def headline(run: dict[str, Any]) -> dict[str, float | None]:
    """The HEADLINE values of one run.json (None where the run has none)."""
    out: dict[str, float | None] = {}
    for label, path in HEADLINE:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[label] = float(value) if isinstance(value, int | float) else None
    return out


def across(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """n, mean, std (ddof 1), cv = std/mean, and the t-interval of the mean; None where n < 2."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "cv": None, "mean_ci": None}
    mean = math.fsum(values) / n
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "cv": None, "mean_ci": None}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "cv": std / mean if mean else None,
        "mean_ci": [mean - half, mean + half],
    }


def across_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`across` of every HEADLINE statistic over the runs that have it."""
    rows = [headline(run) for run in runs]
    return {
        label: across([v for row in rows if (v := row[label]) is not None]) for label, _ in HEADLINE
    }
