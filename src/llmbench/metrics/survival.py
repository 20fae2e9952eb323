"""Time to success with timeouts as censored observations: the Kaplan–Meier estimate (scipy's
`ecdf` over `CensoredData`) and its median, and the log-rank test between two systems. A task
that timed out, failed or was cancelled did not succeed by its end: right-censored there, kept.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SurvivalCurve:
    """Kaplan–Meier estimate of P(not yet succeeded at t): a step function that falls at each
    success time `times[i]` to `survival[i]`; censored tasks only leave the risk set."""

    n: int
    n_succeeded: int
    n_censored: int
    times: FloatArray
    survival: FloatArray
    median: float | None  # first time the estimate is ≤ 0.5; None when it never gets there
    median_ci: tuple[float | None, float | None] | None  # from the curve's log-log 95 % band

    def success_by(self, t: float) -> float:
        """Estimated fraction of tasks that succeeded by time t (1 − S(t))."""
        at = int(np.searchsorted(self.times, t, side="right"))
        return 0.0 if at == 0 else float(1 - self.survival[at - 1])


def _split(times: npt.ArrayLike, succeeded: npt.ArrayLike) -> tuple[FloatArray, BoolArray]:
    t = np.asarray(times, dtype=np.float64)
    ok = np.asarray(succeeded, dtype=bool)
    if t.shape != ok.shape or t.ndim != 1:
        raise ValueError("times and succeeded are 1-D and of the same length")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError("task times are finite and non-negative")
    return t, ok


def _first_at_or_below(times: FloatArray, values: FloatArray, level: float) -> float | None:
    below = np.flatnonzero(values <= level)
    return float(times[below[0]]) if below.size else None


def kaplan_meier(times: npt.ArrayLike, succeeded: npt.ArrayLike) -> SurvivalCurve:
    """The Kaplan–Meier curve of time to success; `succeeded[i]` False: censored at times[i]."""
    t, ok = _split(times, succeeded)
    n, n_ok = int(t.size), int(ok.sum())
    empty = np.empty(0)
    if n_ok == 0:
        return SurvivalCurve(n, 0, n, empty, empty, None, None)
    from scipy.stats import CensoredData, ecdf  # lazy: scipy.stats costs ~1.5 s to import

    data = CensoredData(uncensored=t[ok], right=t[~ok])
    sf = ecdf(data).sf
    survival = np.asarray(sf.probabilities, dtype=np.float64)
    at = np.asarray(sf.quantiles, dtype=np.float64)
    median = _first_at_or_below(at, survival, 0.5)
    median_ci = None
    if n >= 2:
        with warnings.catch_warnings():  # scipy warns where the band is undefined: NaN there
            warnings.simplefilter("ignore", RuntimeWarning)
            band = sf.confidence_interval(0.95, method="log-log")
        lo = np.nan_to_num(np.asarray(band.low.probabilities, dtype=np.float64), nan=0.0)
        hi = np.nan_to_num(np.asarray(band.high.probabilities, dtype=np.float64), nan=1.0)
        # The median's CI: where the band's upper and lower curves cross 0.5 (Brookmeyer–Crowley
        # style read-off of the pointwise band).
        median_ci = (_first_at_or_below(at, lo, 0.5), _first_at_or_below(at, hi, 0.5))
    return SurvivalCurve(n, n_ok, n - n_ok, at, survival, median, median_ci)


def logrank_p(
    baseline_times: npt.ArrayLike,
    baseline_succeeded: npt.ArrayLike,
    candidate_times: npt.ArrayLike,
    candidate_succeeded: npt.ArrayLike,
) -> float | None:
    """Two-sided log-rank p-value that the two times-to-success curves differ (scipy's
    `logrank`); None when either side is empty or no task succeeded anywhere."""
    bt, bok = _split(baseline_times, baseline_succeeded)
    ct, cok = _split(candidate_times, candidate_succeeded)
    if bt.size == 0 or ct.size == 0 or not (bok.any() or cok.any()):
        return None
    from scipy.stats import CensoredData, logrank

    result = logrank(
        CensoredData(uncensored=bt[bok], right=bt[~bok]),
        CensoredData(uncensored=ct[cok], right=ct[~cok]),
    )
    p = float(result.pvalue)
    return p if math.isfinite(p) else None
