"""Service-level objectives: which requests are good (meet every objective), goodput and the
good-request fraction. Errors count against both; for open-loop runs TTFT and E2E are taken from
the scheduled send time, so time a request waited in the client counts against it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmbench.config import SloSpec
from llmbench.metrics.request import (
    e2e_ns,
    itl_gaps_ns,
    scheduled_e2e_ns,
    scheduled_ttft_ns,
    tpot_ns,
    ttft_ns,
)
from llmbench.records import RequestRecord

_NS_PER_MS = 1_000_000


def _observed_ns(record: RequestRecord, name: str, from_scheduled: bool) -> float | None:
    if name == "ttft_ms":
        return scheduled_ttft_ns(record) if from_scheduled else ttft_ns(record)
    if name == "e2e_ms":
        return scheduled_e2e_ns(record) if from_scheduled else e2e_ns(record)
    if name == "tpot_ms":
        return tpot_ns(record)
    gaps = itl_gaps_ns(record)  # itl_ms: the worst gap of the request
    return float(gaps.max()) if gaps.size else None


def violations(record: RequestRecord, slo: SloSpec, *, from_scheduled: bool) -> list[str]:
    """The objectives a request misses: all of them when it failed. A metric that does not
    apply (TPOT of a 1-token answer, ITL without gaps) is not held against it."""
    limits = slo.limits_ms()
    if not record.ok:
        return list(limits)
    missed = []
    for name, limit_ms in limits.items():
        value = _observed_ns(record, name, from_scheduled)
        absent = value is None and name in ("ttft_ms", "e2e_ms")  # an ok answer without them
        if absent or (value is not None and value > limit_ms * _NS_PER_MS):
            missed.append(name)
    return missed


def goodput(
    records: Sequence[RequestRecord],
    slo: SloSpec,
    *,
    duration_s: float | None,
    from_scheduled: bool,
) -> dict[str, Any]:
    """good = measured requests meeting every objective; goodput = good / duration (s);
    good_fraction = good / measured (errors included); `met` when it reaches the attainment."""
    measured = [r for r in records if not r.warmup]
    missed_by: dict[str, int] = dict.fromkeys(slo.limits_ms(), 0)
    good = 0
    for record in measured:
        missed = violations(record, slo, from_scheduled=from_scheduled)
        good += not missed
        for name in missed:
            missed_by[name] += 1
    fraction = good / len(measured) if measured else None
    return {
        "objectives_ms": slo.limits_ms(),
        "latency_from": "scheduled" if from_scheduled else "sent",
        "attainment_target": slo.attainment,
        "measured": len(measured),
        "good": good,
        "good_fraction": fraction,
        "goodput_per_s": good / duration_s if duration_s else None,
        "missed_by_objective": missed_by,
        "met": fraction is not None and fraction >= slo.attainment,
    }
