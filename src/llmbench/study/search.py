"""Multi-step load plans as pure logic: the rates of a sweep (synchronous, max throughput, then
evenly spaced rates between) and the SLO search (bracket, then bisect) over an injected probe,
so both are tested without a server. Step verdicts: stable, backlogged, overloaded (or invalid).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from llmbench.metrics.stability import Verdict, classify

__all__ = ["Probe", "SearchResult", "Verdict", "classify", "slo_search", "sweep_rates"]


def sweep_rates(synchronous_per_s: float, max_per_s: float, steps: int) -> list[float]:
    """`steps` rates evenly spaced strictly between the synchronous and the max throughput."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if not 0 < synchronous_per_s < max_per_s:
        raise ValueError(
            f"max throughput {max_per_s:.3g}/s is not above the synchronous "
            f"{synchronous_per_s:.3g}/s: nothing to sweep between"
        )
    width = (max_per_s - synchronous_per_s) / (steps + 1)
    return [synchronous_per_s + width * k for k in range(1, steps + 1)]


@dataclass(frozen=True, slots=True)
class Probe:
    value: float  # the rate (requests/s) or concurrency that was tried
    verdict: Verdict
    good_fraction: float | None = None


@dataclass(slots=True)
class SearchResult:
    best: float | None  # highest value found stable; None when even the lowest tried was not
    probes: list[Probe] = field(default_factory=list)


async def slo_search(
    probe: Callable[[float], Awaitable[Probe]],
    *,
    start: float,
    integer: bool = False,
    max_probes: int = 12,
    rel_tolerance: float = 0.1,
) -> SearchResult:
    """Highest stable value: from `start`, double while stable (or halve while not) to bracket
    the edge, then bisect until the bracket is within `rel_tolerance` (integers: adjacent)."""
    result = SearchResult(None)

    async def passes(value: float) -> bool:
        outcome = await probe(value)
        result.probes.append(outcome)
        return outcome.verdict is Verdict.STABLE

    lo: float | None = None
    hi: float | None = None
    value = max(1.0, float(round(start))) if integer else start
    while len(result.probes) < max_probes and (lo is None or hi is None):
        if await passes(value):
            lo = value
            if hi is None:
                value *= 2
        else:
            hi = value
            if lo is None:
                if integer and value <= 1:
                    break
                value = max(1.0, float(value // 2)) if integer else value / 2
    while lo is not None and hi is not None and len(result.probes) < max_probes:
        if (hi - lo <= 1) if integer else (hi - lo <= rel_tolerance * lo):
            break
        mid = float((lo + hi) // 2) if integer else (lo + hi) / 2
        if await passes(mid):
            lo = mid
        else:
            hi = mid
    result.best = lo
    return result
