"""Evidence of the mechanisms behind the numbers: prefix-cache reuse (from the responses' usage
and from the server's counters, side by side with their disagreement), the server's batch size
over time, and a cold-start detector that finds where the first slow requests end instead of
assuming a warm-up length. Definitions in docs/metrics.md ("Cache and batching evidence").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from llmbench.metrics.columns import RunColumns

COLD_MIN_REQUESTS = 20  # fewer: no verdict, one slow request would be a "cold start"
COLD_T_MIN = 4.0  # Welch t of log latency, first segment vs the rest
COLD_RATIO_MIN = 1.2  # and the first segment's median at least this much slower


class CacheEvidence(BaseModel):
    """run.json's `cache` block."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    usage: dict[str, Any]
    server: dict[str, Any] | None
    disagreement: float | None  # server hit rate − usage cached-token share
    batch_size: dict[str, Any] | None
    cold_start: dict[str, Any]


def usage_cache(columns: RunColumns) -> dict[str, Any]:
    """Cached prompt tokens as the responses' usage reports them, over measured ok requests."""
    ok = columns.ok_mask
    cached = columns.floats("cached_tokens")[ok]
    inputs = columns.floats("input_tokens")[ok]
    known = ~np.isnan(cached) & ~np.isnan(inputs)
    total_in = float(inputs[known].sum())
    return {
        "requests_reporting": int(known.sum()),
        "requests": int(ok.sum()),
        "cached_tokens": int(cached[known].sum()),
        "input_tokens": int(total_in),
        "cached_token_share": float(cached[known].sum()) / total_in if total_in else None,
        "requests_with_hits": int((cached[known] > 0).sum()),
    }


def cold_start(columns: RunColumns) -> dict[str, Any]:
    """One change point in the mean of log TTFT (E2E without streaming) over measured ok
    requests in send order: the split minimizing the two segments' squared error. A cold start
    is reported when the first segment is at most half the run, its log mean is higher with a
    Welch t of at least COLD_T_MIN, and its median is COLD_RATIO_MIN times the rest's."""
    ok = columns.ok_mask
    sent = columns.ints("sent_ns")[ok]
    metric = "ttft"
    latency = columns.floats("ttft_ns")[ok]
    if np.isnan(latency).all():
        metric, latency = "e2e", columns.floats("e2e_ns")[ok]
    order = np.argsort(sent, kind="stable")
    values = latency[order]
    values = values[~np.isnan(values) & (values > 0)]
    method = "one least-squares change point in mean log latency"
    base: dict[str, Any] = {"metric": metric, "requests": int(values.size), "method": method}
    if values.size < COLD_MIN_REQUESTS:
        return {**base, "detected": None, "reason": f"fewer than {COLD_MIN_REQUESTS} requests"}
    k = _change_point(np.log(values), min_size=max(3, values.size // 20))
    first, rest = values[:k], values[k:]
    t = _welch_t(np.log(first), np.log(rest))
    ratio = float(np.median(first) / np.median(rest))
    detected = bool(k <= values.size // 2 and t >= COLD_T_MIN and ratio >= COLD_RATIO_MIN)
    return {
        **base,
        "detected": detected,
        "change_at_request": int(k),
        "first_median_ms": float(np.median(first)) / 1e6,
        "steady_median_ms": float(np.median(rest)) / 1e6,
        "ratio": ratio,
        "welch_t": t if np.isfinite(t) else None,  # None: both segments constant
    }


def _change_point(x: np.ndarray[Any, Any], min_size: int) -> int:
    """The split k (both parts at least `min_size`) minimizing the total squared deviation
    from each part's mean, by prefix sums."""
    n = x.size
    c1, c2 = np.cumsum(x), np.cumsum(x * x)
    ks = np.arange(min_size, n - min_size + 1)
    left = c2[ks - 1] - c1[ks - 1] ** 2 / ks
    right = (c2[-1] - c2[ks - 1]) - (c1[-1] - c1[ks - 1]) ** 2 / (n - ks)
    return int(ks[np.argmin(left + right)])


def _welch_t(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    diff = float(a.mean() - b.mean())
    if se == 0:
        return float("inf") if diff > 0 else 0.0
    return diff / se


def cache_evidence(
    columns: RunColumns,
    server_metrics: dict[str, Any],
    running: list[tuple[int, float]],
    clock_origin_ns: int,
) -> CacheEvidence:
    """The `cache` block from the run's columns, its `server_metrics` block and the server's
    running-requests series (t_ns, value)."""
    usage = usage_cache(columns)
    rate = server_metrics.get("prefix_cache_hit_rate")
    server = None
    if "prefix_cache_hits" in server_metrics.get("counters", {}):
        counters = server_metrics["counters"]
        server = {"hit_rate": rate, "hits": counters.get("prefix_cache_hits"),
                  "queries": counters.get("prefix_cache_queries")}  # fmt: skip
    share = usage["cached_token_share"]
    batch = None
    if running:
        values = [v for _, v in running]
        batch = {
            "source": "server metrics: requests running",
            "mean": sum(values) / len(values),
            "max": max(values),
            "series": [[round((t - clock_origin_ns) / 1e9, 3), v] for t, v in running],
        }
    return CacheEvidence(
        usage=usage,
        server=server,
        disagreement=rate - share if rate is not None and share is not None else None,
        batch_size=batch,
        cold_start=cold_start(columns),
    )
