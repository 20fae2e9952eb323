"""Per-request latency decomposition: E2E split into parts measured on the client's clock —
headers (TTFB: network and server intake), headers to first token, decode (first to last
token) — and the headers-to-first-token part split into queue wait and prefill by the server's
own histograms (their window means' ratio, the same for every request of the run: an estimate).
The client's send lag is reported beside, before E2E starts. Definitions in docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from llmbench.metrics.columns import RunColumns
from llmbench.monitor.server_metrics import ServerMetrics

MS = 1e6


class PartStats(BaseModel):
    """One part's basis (measured or estimated, and how), mean and P95 (ms), and count."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    basis: str
    mean_ms: float | None
    p95_ms: float | None
    n: int


class Decomposition(BaseModel):
    """run.json's `decomposition` block: per part, its mean and P95 (ms) over measured ok
    requests, and whether it is measured or estimated."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    requests: int
    parts: dict[str, PartStats]
    sum_check_max_ms: float | None  # max over requests of |Σ parts − E2E|
    split_source: str | None  # where the queue/prefill ratio came from, or why none


def _stats(values: np.ndarray[Any, Any], basis: str) -> PartStats:
    values = values[~np.isnan(values)]
    if not values.size:
        return PartStats(basis=basis, mean_ms=None, p95_ms=None, n=0)
    return PartStats(basis=basis, mean_ms=float(values.mean()) / MS,
                     p95_ms=float(np.percentile(values, 95)) / MS, n=int(values.size))  # fmt: skip


def _queue_share(server_metrics: ServerMetrics) -> tuple[float | None, str]:
    histograms = server_metrics.histograms  # a map by histogram name
    queue, prefill = histograms.get("queue_time_s"), histograms.get("prefill_time_s")
    if queue is None or prefill is None or queue.mean is None or prefill.mean is None:
        return None, "no server queue and prefill histograms: first-token wait not split"
    total = queue.mean + prefill.mean
    if total <= 0:
        return None, "server queue and prefill means are zero"
    source = f"{server_metrics.engine} histograms over the run's window"
    return queue.mean / total, source


def decompose(columns: RunColumns, server_metrics: ServerMetrics) -> Decomposition:
    """The parts of each measured ok request's E2E (streaming: TTFB + first-token wait +
    decode; without a first token: TTFB + the rest), summarized."""
    ok = columns.ok_mask
    ttfb, ttft = columns.floats("ttfb_ns")[ok], columns.floats("ttft_ns")[ok]
    e2e, lag = columns.floats("e2e_ns")[ok], columns.floats("client_lag_ns")[ok]
    streamed = ~np.isnan(ttft)
    first_wait = np.where(streamed, ttft - ttfb, np.nan)
    decode = np.where(streamed, e2e - ttft, np.nan)
    rest = np.where(streamed, np.nan, e2e - ttfb)
    parts = {
        "client_send_lag": _stats(lag, "measured: sent − scheduled (before E2E starts)"),
        "ttfb": _stats(ttfb, "measured: network and server intake, sent → headers"),
        "first_token_wait": _stats(first_wait, "measured: headers → first token"),
        "decode": _stats(decode, "measured: first → last token"),
    }
    if (~streamed).any():
        parts["after_headers"] = _stats(rest, "measured: headers → end, no first token seen")
    share, source = _queue_share(server_metrics)
    if share is not None:
        parts["queue_wait"] = _stats(first_wait * share, "estimated: first-token wait × the "
                                     "server's queue / (queue + prefill) mean ratio")  # fmt: skip
        parts["prefill"] = _stats(first_wait * (1 - share), "estimated: the rest of it")
    total = np.where(streamed, ttfb + first_wait + decode, ttfb + rest)
    diff = np.abs(total - e2e)
    diff = diff[~np.isnan(diff)]
    return Decomposition(
        requests=int(ok.sum()),
        parts=parts,
        sum_check_max_ms=float(diff.max()) / MS if diff.size else None,
        split_source=source,
    )
