"""Service-level objectives: which requests are good (meet every objective), goodput and the
good-request fraction. Errors count against both; for open-loop runs TTFT and E2E are taken from
the scheduled send time, so time a request waited in the client counts against it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from llmbench.config import SloSpec
from llmbench.metrics.columns import RunColumns, as_columns
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


def _observed_columns(
    columns: RunColumns, from_scheduled: bool
) -> dict[str, npt.NDArray[np.float64]]:
    """Per measured row, what each objective looks at (ns, NaN = not applicable); the same
    values `violations` reads from one record."""
    lag = columns.floats("planned_to_sent_ns") if from_scheduled else 0.0
    ttft, e2e = columns.floats("ttft_ns") + lag, columns.floats("e2e_ns") + lag
    out = columns.floats("output_tokens")
    with np.errstate(divide="ignore", invalid="ignore"):
        decode_ns = columns.floats("e2e_ns") - columns.floats("ttft_ns")
        tpot = np.where(out >= 2, decode_ns / (out - 1), np.nan)
    return {"ttft_ms": ttft, "e2e_ms": e2e, "tpot_ms": tpot, "itl_ms": columns.floats("max_gap_ns")}


def goodput(
    records: Sequence[RequestRecord] | RunColumns,
    slo: SloSpec,
    *,
    duration_s: float | None,
    from_scheduled: bool,
) -> dict[str, Any]:
    """good = measured requests meeting every objective; goodput = good / duration (s);
    good_fraction = good / measured (errors included); `met` when it reaches the attainment.

    A failed request misses every objective; an ok one misses TTFT or E2E when it has none, and
    is not held to TPOT or ITL when they do not apply (see `violations`)."""
    columns = as_columns(records)
    ok = columns.ok_mask
    observed = _observed_columns(columns, from_scheduled)
    missed_any = ~ok
    missed_by: dict[str, int] = {}
    for name, limit_ms in slo.limits_ms().items():
        value = observed[name]
        missed = ~ok | (value > limit_ms * _NS_PER_MS)  # NaN compares False
        if name in ("ttft_ms", "e2e_ms"):
            missed |= np.isnan(value)
        missed_by[name] = int(np.count_nonzero(missed))
        missed_any = missed_any | missed
    measured = columns.n_measured
    good = measured - int(np.count_nonzero(missed_any))
    fraction = good / measured if measured else None
    return {
        "objectives_ms": slo.limits_ms(),
        "latency_from": "scheduled" if from_scheduled else "sent",
        "attainment_target": slo.attainment,
        "measured": measured,
        "good": good,
        "good_fraction": fraction,
        "goodput_per_s": good / duration_s if duration_s else None,
        "missed_by_objective": missed_by,
        "met": fraction is not None and fraction >= slo.attainment,
    }
