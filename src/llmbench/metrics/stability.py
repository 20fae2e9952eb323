"""Whether a run's load was served in a steady state: stable, backlogged or overloaded (or
invalid: the client did not deliver the load). Pure logic over a run's figures, shared by the
study's SLO search (`study.search`) and the comparison of runs (`report.comparison`).
"""

from __future__ import annotations

from enum import StrEnum

# Latency from the plan, last quarter of sends / first quarter: above this the queue grew.
BACKLOG_GROWTH = 1.25


class Verdict(StrEnum):
    STABLE = "stable"  # meets the objectives at the required attainment
    BACKLOGGED = "backlogged"  # misses objectives, but latency is not still climbing at the end
    OVERLOADED = "overloaded"  # latency still climbing at the end (a growing queue) or errors
    INVALID = "invalid"  # the client did not deliver the load: no verdict on the server


def classify(
    *,
    met: bool,
    valid: bool = True,
    latency_growth: float | None = None,
    error_rate: float | None = None,
    max_growth: float = 2.0,
    max_error_rate: float = 0.05,
) -> Verdict:
    """Invalid when the client did not deliver the load; else stable when the objectives are met;
    else overloaded when latency at the end of the run exceeds `max_growth` × that at its start
    (the queue keeps growing) or more than `max_error_rate` of requests fail; else backlogged."""
    if not valid:
        return Verdict.INVALID
    if met:
        return Verdict.STABLE
    growing = latency_growth is not None and latency_growth > max_growth
    if growing or (error_rate or 0.0) > max_error_rate:
        return Verdict.OVERLOADED
    return Verdict.BACKLOGGED


def classify_without_objectives(
    *,
    valid: bool = True,
    latency_growth: float | None = None,
    error_rate: float | None = None,
    backlog_growth: float = BACKLOG_GROWTH,
) -> Verdict:
    """A run without latency objectives: 'met' means latency from the plan did not grow by more
    than `backlog_growth` from the first quarter of sends to the last (no queue built up; an
    unknown growth, under 8 requests, counts as not grown); otherwise as `classify`."""
    met = latency_growth is None or latency_growth <= backlog_growth
    return classify(
        met=met and (error_rate or 0.0) <= 0.05,
        valid=valid,
        latency_growth=latency_growth,
        error_rate=error_rate,
    )
