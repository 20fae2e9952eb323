"""Warm-up check on a latency series in send order: MSER-5 (White 1997). The series is cut
into batches of 5; the truncation d ≤ m/2 (in batches) minimizing the squared standard error
of the mean of what remains, Σ(Yᵢ − Ȳ_d)² / (m − d)², marks where the start-up transient ends.
Reported, never applied silently: a comparison states it and excludes it only when asked.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BATCH = 5
MIN_BATCHES = 4  # below 20 values there is nothing to truncate meaningfully
# MSER truncates stationary noise too; a truncation is reported as warm-up only when the head's
# mean differs from the rest's by more than this fraction and by a Welch t-test at this level.
MIN_SHIFT = 0.03
MAX_P = 0.01


@dataclass(frozen=True, slots=True)
class WarmupCheck:
    """`truncate` values (a multiple of the batch) look like warm-up: MSER-5's truncation when
    the head differs from the rest (MIN_SHIFT and a Welch t-test p < MAX_P), else 0 (`mser_d`
    keeps MSER's own choice, in values). `reliable` is False when the shift is real but MSER's
    best cut is the limit of its search (half the series): then it never settled and no
    truncation is trustworthy (the run is too short or drifting). Means are None when empty."""

    n: int
    truncate: int
    reliable: bool
    head_mean: float | None  # mean of the first `mser_d` values
    rest_mean: float | None  # mean of the values after them
    mser_d: int = 0

    @property
    def detected(self) -> bool:
        return self.truncate > 0

    def note(self, what: str = "latency") -> str:
        """One plain sentence about the check, for reports."""
        if self.n < BATCH * MIN_BATCHES:
            return f"warm-up not checked: {self.n} values (MSER-5 needs {BATCH * MIN_BATCHES})"
        if not self.reliable:
            return (
                f"{what} never settled: it shifts beyond the first half of {self.n} values "
                f"(MSER-5, mean {self.head_mean:.4g} before vs {self.rest_mean:.4g} after): "
                "run longer"
            )
        if not self.detected:
            return f"no warm-up seen in {what} (MSER-5 over {self.n} values)"
        return (
            f"the first {self.truncate} of {self.n} requests look like warm-up (MSER-5): "
            f"mean {what} {self.head_mean:.4g} there vs {self.rest_mean:.4g} after"
        )


def mser5(series: npt.ArrayLike) -> WarmupCheck:
    """MSER-5 of a 1-D series in time order (NaN values, 'not applicable', are dropped)."""
    x = np.asarray(series, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    m = n // BATCH
    if m < MIN_BATCHES:
        return WarmupCheck(n, 0, True, None, float(x.mean()) if n else None)
    y = x[: m * BATCH].reshape(m, BATCH).mean(axis=1)
    # For each d: the mean and the sum of squares of y[d:], from suffix sums.
    suffix = np.cumsum(y[::-1])[::-1]
    suffix_sq = np.cumsum((y * y)[::-1])[::-1]
    kept = np.arange(m, 0, -1, dtype=np.float64)  # m − d for d = 0..m−1
    mean = suffix / kept
    sse = np.maximum(suffix_sq - kept * mean * mean, 0.0)
    stat = sse / (kept * kept)
    half = m // 2
    d = int(np.argmin(stat[: half + 1]))  # truncating more than half is not a warm-up
    cut = d * BATCH
    rest = float(x[cut:].mean())
    if cut < 2:
        return WarmupCheck(n, 0, True, float(x[:cut].mean()) if cut else None, rest, cut)
    head = float(x[:cut].mean())
    from scipy.stats import ttest_ind  # lazy: scipy.stats costs ~1.5 s to import

    with warnings.catch_warnings():  # equal values (a constant series) make t undefined
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(x[:cut], x[cut:], equal_var=False).pvalue)
    if not math.isfinite(p):  # both parts constant: they differ surely, or not at all
        p = 0.0 if head != rest else 1.0
    shifted = abs(head - rest) > MIN_SHIFT * abs(rest) and p < MAX_P
    # A real shift whose best cut is the limit itself may run on past it: never settled.
    return WarmupCheck(n, cut if shifted else 0, not (shifted and d == half), head, rest, cut)
