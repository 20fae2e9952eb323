"""Coverage of the comparison's bootstrap CIs and the A/A rate, by seeded simulation (no
server): log-normal samples (σ = 0.25) whose every percentile differs by e^0.2, so the true
ratio of medians, P95 and P99 is known; the fraction of 95 % CIs that cover it, per statistic
and sample size. Then A/A: pairs of samples from one log-normal (σ = 0.02, like the simulator's
TTFT with 2 ms jitter on 100 ms) and the fraction judged "no meaningful difference" (±3 %).

    python benchmarks/compare_coverage.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from llmbench.metrics.compare import Verdict, compare_samples, quantile_ratios

CASES = ((80, "p50"), (80, "p95"), (300, "p95"), (200, "p99"), (1000, "p99"))


def coverage(n: int, statistic: str, repeats: int) -> float:
    true = math.exp(0.2)
    covered = 0
    for k in range(repeats):
        rng = np.random.default_rng(5000 + k)
        b, c = rng.lognormal(0.0, 0.25, n), rng.lognormal(0.2, 0.25, n)
        ci = quantile_ratios(b, c, statistics=(statistic,), seed=k, resamples=500)[statistic].ci
        covered += ci is not None and ci[0] <= true <= ci[1]
    return covered / repeats


def a_a_rate(n: int, repeats: int) -> float:
    same = 0
    for k in range(repeats):
        rng = np.random.default_rng(9000 + k)
        row = compare_samples(rng.lognormal(0, 0.02, n), rng.lognormal(0, 0.02, n), seed=k)
        same += row.verdict is Verdict.SAME
    return same / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(f"| n per side | statistic | 95 % CI coverage ({args.repeats} seeded pairs) |")
    print("|---|---|---|")
    for n, statistic in CASES:
        print(f"| {n} | {statistic} | {coverage(n, statistic, args.repeats):.1%} |")
    print()
    print(f"| n per side | A/A 'no meaningful difference' ({args.repeats} seeded pairs) |")
    print("|---|---|")
    for n in (20, 80, 200):
        print(f"| {n} | {a_a_rate(n, args.repeats):.1%} |")


if __name__ == "__main__":
    main()
