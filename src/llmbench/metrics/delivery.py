"""Delivered against requested load: did the client send what the profile asked for? Open loop:
achieved vs planned send rate and send lag; closed loop: mean concurrency vs streams. A run whose
delivered load diverges beyond the `ValiditySpec` thresholds is marked invalid, with reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmbench.config import ValiditySpec
from llmbench.metrics.columns import NONE, RunColumns, as_columns
from llmbench.metrics.request import IntArray
from llmbench.records import RequestRecord

_NS_PER_MS = 1e6
# Below this many sends one slow send (the first opens a connection) moves the rate by > 5 %:
# short runs are judged by their late sends alone.
MIN_SENDS_FOR_RATE = 20


def _rate_per_s(times_ns: IntArray) -> float | None:
    """(n − 1) / span: the rate of n events, None below 2 events or on a zero span."""
    if len(times_ns) < 2:
        return None
    span_ns = int(times_ns.max()) - int(times_ns.min())
    return (len(times_ns) - 1) * 1e9 / span_ns if span_ns > 0 else None


def _lag_stats_ms(lags_ns: Sequence[int] | IntArray) -> dict[str, float | None]:
    # The one P99 not gated by `stats.percentile_min_n`: the golden summaries (v1) hold it at
    # any n. The terminal withholds it below 100 sends (report/load.py; docs/metrics.md).
    if len(lags_ns) == 0:
        return {"p50": None, "p99": None, "max": None}
    values = np.asarray(lags_ns, dtype=np.float64) / _NS_PER_MS
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "max": float(values.max())}


def open_loop_delivery(
    records: Sequence[RequestRecord] | RunColumns,
    *,
    requested_rate_per_s: float | None,
    waited_for_cap: int,
    dispatch_lag_ns: Sequence[int],
    validity: ValiditySpec,
) -> dict[str, Any]:
    """`delivery` and `validity` blocks of an open-loop run, over measured records (ok or not).

    planned rate = (n − 1) / (last − first scheduled), achieved = the same over sent times;
    send lag = sent − scheduled; a send is late when its lag exceeds `late_after_ms`; invalid
    when achieved and planned differ by more than `rate_tolerance` (with at least
    MIN_SENDS_FOR_RATE sends) or more than
    max(1, `max_late_fraction` × sends) sends are late.
    """
    columns = as_columns(records)
    sends = columns.n_measured
    lags_ns = columns.ints("planned_to_sent_ns")
    planned = _rate_per_s(columns.ints("scheduled_ns"))
    achieved = _rate_per_s(columns.ints("sent_ns"))
    late = int(np.count_nonzero(lags_ns > validity.late_after_ms * _NS_PER_MS))
    reasons: list[str] = []
    judged = sends >= MIN_SENDS_FOR_RATE
    if judged and planned and achieved and abs(achieved / planned - 1) > validity.rate_tolerance:
        reasons.append(
            f"sent {achieved:.2f} req/s against {planned:.2f} planned "
            f"(more than {validity.rate_tolerance:.0%} apart)"
        )
    # One late send is tolerated however short the run: the first send of a run also opens the
    # first connection, which alone can take ~10 ms on a busy machine.
    if late > max(1.0, validity.max_late_fraction * sends):
        reasons.append(
            f"{late} of {sends} sends were more than {validity.late_after_ms:g} ms late "
            f"(allowed {validity.max_late_fraction:.0%})"
        )
    delivery = {
        "mode": "open_loop",
        "latency_growth": latency_growth(columns),
        "requested_rate_per_s": requested_rate_per_s,
        "planned_rate_per_s": planned,
        "achieved_rate_per_s": achieved,
        "send_lag_ms": _lag_stats_ms(lags_ns),
        "dispatch_lag_ms": _lag_stats_ms(dispatch_lag_ns),
        "late_sends": late,
        "waited_for_cap": waited_for_cap,
        "sends": sends,
    }
    return {"delivery": delivery, "validity": _validity(reasons, validity)}


def latency_growth(records: Sequence[RequestRecord] | RunColumns) -> float | None:
    """Median TTFT from the plan of the last quarter of sends / that of the first quarter (ok
    requests, in scheduled order): well above 1 means the queue was still growing at the end.
    None below 8 ok requests or without a first token."""
    columns = as_columns(records)
    ttft = columns.ints("ttft_ns")
    keep = columns.ok_mask & (ttft != NONE)
    scheduled = columns.ints("scheduled_ns")[keep]
    from_plan = ttft[keep] + columns.ints("planned_to_sent_ns")[keep]  # first token − scheduled
    from_plan = from_plan[np.lexsort((from_plan, scheduled))]
    quarter = len(from_plan) // 4
    if quarter < 2:
        return None
    first = float(np.median(from_plan[:quarter]))
    last = float(np.median(from_plan[-quarter:]))
    return last / first if first > 0 else None


def mean_concurrency(records: Sequence[RequestRecord] | RunColumns) -> float | None:
    """Σ in-flight time / window, over the window from the first to the last send (the steady
    part: after the last send, streams run dry and concurrency falls by design). Over measured
    requests."""
    columns = as_columns(records)
    if columns.n_measured < 2:
        return None
    sent = columns.ints("sent_ns")
    start_ns, stop_ns = int(sent.min()), int(sent.max())
    if stop_ns <= start_ns:
        return None
    end = columns.ints("end_ns")
    end = np.where(end == NONE, sent, end)
    busy = np.minimum(end, stop_ns) - np.maximum(sent, start_ns)
    busy_ns = int(np.maximum(busy, 0).sum())  # int64: exact for any real run
    return busy_ns / (stop_ns - start_ns)


def closed_loop_delivery(
    records: Sequence[RequestRecord] | RunColumns,
    *,
    concurrency: int | None,
    validity: ValiditySpec,
) -> dict[str, Any]:
    """`delivery` and `validity` of a closed loop; `concurrency=None` (a ramp) is not checked."""
    columns = as_columns(records)
    achieved = mean_concurrency(columns)
    reasons: list[str] = []
    if (
        concurrency
        and achieved is not None
        and achieved < concurrency * (1 - validity.concurrency_tolerance)
    ):
        reasons.append(
            f"mean concurrency {achieved:.2f} against {concurrency} streams "
            f"(more than {validity.concurrency_tolerance:.0%} below)"
        )
    delivery = {
        "mode": "closed_loop",
        "requested_concurrency": concurrency,
        "mean_concurrency": achieved,
        "send_lag_ms": _lag_stats_ms(columns.ints("planned_to_sent_ns")),
        "sends": columns.n_measured,
    }
    return {"delivery": delivery, "validity": _validity(reasons, validity)}


def _validity(reasons: list[str], validity: ValiditySpec) -> dict[str, Any]:
    return {
        "valid": not reasons,
        "reasons": reasons,
        "thresholds": validity.model_dump(mode="json"),
    }
