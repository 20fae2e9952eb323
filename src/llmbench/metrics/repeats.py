"""Across repeated runs of one seeded workload: each run's headline statistics, and their mean,
standard deviation, coefficient of variation and a Student-t confidence interval of the mean,
because run-to-run variance usually dominates the within-run variance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats as scipy_stats


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


def across_runs(
    rows: Sequence[Mapping[str, float | None]], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """`across` of each labelled statistic over the runs (rows) that have it."""
    return {label: across([v for row in rows if (v := row[label]) is not None]) for label in labels}
