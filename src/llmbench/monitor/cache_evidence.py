"""Evidence of the mechanisms behind the numbers: prefix-cache reuse (from the responses' usage
and from the server's counters, side by side with their disagreement), the server's batch size
over time, and a cold-start detector that finds where the first slow requests end instead of
assuming a warm-up length. Definitions in docs/metrics.md ("Cache and batching evidence").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from llmbench.metrics.columns import RunColumns
from llmbench.monitor.server_metrics import ServerMetrics

COLD_MIN_REQUESTS = 20  # fewer: no verdict, one slow request would be a "cold start"
COLD_T_MIN = 4.0  # Welch t of log latency, first segment vs the rest
COLD_RATIO_MIN = 1.2  # and the first segment's median at least this much slower
# A cold start that held one request (concurrency 1, the first after a deploy) has no variance
# to test: that request must be far out, at least 3x the rest's median and 10 robust SDs (1.4826
# MAD of the rest's log latency) above it; connection set-up alone is not that much slower.
COLD_ONE_RATIO_MIN = 3.0
COLD_ONE_Z_MIN = 10.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class UsageCache(_Frozen):
    """Cached prompt tokens as the responses' usage reports them."""

    requests_reporting: int
    requests: int
    cached_tokens: int
    input_tokens: int
    cached_token_share: float | None
    requests_with_hits: int


class ServerCache(_Frozen):
    """The server's prefix-cache counters over the window."""

    hit_rate: float | None
    hits: float | None
    queries: float | None


class BatchSize(_Frozen):
    """The server's running-requests gauge: mean, max and the series (s from the origin)."""

    source: str
    mean: float
    max: float
    series: list[tuple[float, float]]


class ColdStart(_Frozen):
    """The cold-start detector's verdict: `reason` without one (too few requests), the change
    point's numbers with one."""

    metric: str
    requests: int
    method: str
    detected: bool | None
    reason: str | None = None
    change_at_request: int | None = None
    first_median_ms: float | None = None
    steady_median_ms: float | None = None
    ratio: float | None = None
    welch_t: float | None = None  # None given: both segments constant, or one slow request
    robust_z: float | None = (
        None  # one slow request: robust SDs above the rest (None: rest constant)
    )

    @model_serializer(mode="wrap")
    def _present_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The keys the detector gave: a verdict has either `reason` or the change point's."""
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class CacheEvidence(_Frozen):
    """run.json's `cache` block."""

    usage: UsageCache
    server: ServerCache | None
    disagreement: float | None  # server hit rate − usage cached-token share
    batch_size: BatchSize | None
    cold_start: ColdStart


def usage_cache(columns: RunColumns) -> UsageCache:
    """Cached prompt tokens as the responses' usage reports them, over measured ok requests."""
    ok = columns.ok_mask
    cached = columns.floats("cached_tokens")[ok]
    inputs = columns.floats("input_tokens")[ok]
    known = ~np.isnan(cached) & ~np.isnan(inputs)
    total_in = float(inputs[known].sum())
    return UsageCache(
        requests_reporting=int(known.sum()),
        requests=int(ok.sum()),
        cached_tokens=int(cached[known].sum()),
        input_tokens=int(total_in),
        cached_token_share=float(cached[known].sum()) / total_in if total_in else None,
        requests_with_hits=int((cached[known] > 0).sum()),
    )


def cold_start(columns: RunColumns) -> ColdStart:
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
        return ColdStart(**base, detected=None, reason=f"fewer than {COLD_MIN_REQUESTS} requests")
    logs = np.log(values)
    k = _change_point(logs, min_first=1, min_rest=max(3, values.size // 20))
    first, rest = values[:k], values[k:]
    ratio = float(np.median(first) / np.median(rest))
    found = {"change_at_request": int(k), "first_median_ms": float(np.median(first)) / 1e6,
             "steady_median_ms": float(np.median(rest)) / 1e6, "ratio": ratio}  # fmt: skip
    if k == 1:
        z = _robust_z(float(logs[0]), logs[1:])
        detected = bool(ratio >= COLD_ONE_RATIO_MIN and z >= COLD_ONE_Z_MIN)
        return ColdStart(
            **base, **found, detected=detected, robust_z=z if np.isfinite(z) else None
        )  # None: the rest constant
    t = _welch_t(logs[:k], logs[k:])
    detected = bool(k <= values.size // 2 and t >= COLD_T_MIN and ratio >= COLD_RATIO_MIN)
    return ColdStart(
        **base, **found, detected=detected,
        welch_t=t if np.isfinite(t) else None,  # None: both segments constant
    )  # fmt: skip


def _change_point(x: np.ndarray[Any, Any], min_first: int, min_rest: int) -> int:
    """The split k (parts of at least `min_first` and `min_rest`) minimizing the total squared
    deviation from each part's mean, by prefix sums."""
    n = x.size
    c1, c2 = np.cumsum(x), np.cumsum(x * x)
    ks = np.arange(min_first, n - min_rest + 1)
    left = c2[ks - 1] - c1[ks - 1] ** 2 / ks
    right = (c2[-1] - c2[ks - 1]) - (c1[-1] - c1[ks - 1]) ** 2 / (n - ks)
    return int(ks[np.argmin(left + right)])


def _robust_z(value: float, rest: np.ndarray[Any, Any]) -> float:
    """How many robust SDs (1.4826 MAD) `value` lies above the median of `rest`."""
    center = float(np.median(rest))
    spread = 1.4826 * float(np.median(np.abs(rest - center)))
    if spread == 0:
        return float("inf") if value > center else 0.0
    return (value - center) / spread


def _welch_t(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    diff = float(a.mean() - b.mean())
    if se == 0:
        return float("inf") if diff > 0 else 0.0
    return diff / se


def cache_evidence(
    columns: RunColumns,
    server_metrics: ServerMetrics,
    running: list[tuple[int, float]],
    clock_origin_ns: int,
) -> CacheEvidence:
    """The `cache` block from the run's columns, its `server_metrics` block and the server's
    running-requests series (t_ns, value)."""
    usage = usage_cache(columns)
    rate = server_metrics.prefix_cache_hit_rate
    server = None
    counters = server_metrics.counters  # a map by counter name
    if "prefix_cache_hits" in counters:
        server = ServerCache(hit_rate=rate, hits=counters.get("prefix_cache_hits"),
                             queries=counters.get("prefix_cache_queries"))  # fmt: skip
    share = usage.cached_token_share
    batch = None
    if running:
        values = [v for _, v in running]
        batch = BatchSize(
            source="server metrics: requests running",
            mean=sum(values) / len(values),
            max=max(values),
            series=[(round((t - clock_origin_ns) / 1e9, 3), v) for t, v in running],
        )
    return CacheEvidence(
        usage=usage,
        server=server,
        disagreement=rate - share if rate is not None and share is not None else None,
        batch_size=batch,
        cold_start=cold_start(columns),
    )
