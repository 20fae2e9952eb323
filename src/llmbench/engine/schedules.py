"""Open-loop arrival schedules as pure functions: planned send offsets (int ns from the run's
start) computed from an injected `random.Random`, so a schedule is reproducible from its seed,
testable in virtual time, and plain data that can be split across worker processes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

_NS_PER_S = 1_000_000_000

Offsets = list[int]  # planned send times, ns after the run's start, non-decreasing


def _check_bounds(max_requests: int | None, duration_s: float | None) -> None:
    if max_requests is None and duration_s is None:
        raise ValueError("a schedule needs max_requests, duration_s or both")


def renewal_offsets(
    next_interval_s: Callable[[], float],
    *,
    max_requests: int | None,
    duration_s: float | None,
) -> Offsets:
    """Offsets of a renewal process whose gaps come from `next_interval_s()`; the first request
    goes at 0. Stops at max_requests or before duration_s, whichever comes first."""
    _check_bounds(max_requests, duration_s)
    limit_ns = None if duration_s is None else int(duration_s * _NS_PER_S)
    offsets: Offsets = []
    t_s = 0.0
    while max_requests is None or len(offsets) < max_requests:
        t_ns = round(t_s * _NS_PER_S)
        if limit_ns is not None and t_ns >= limit_ns:
            break
        offsets.append(t_ns)
        t_s += float(next_interval_s())
    return offsets


def constant_offsets(
    rate_per_s: float, *, max_requests: int | None = None, duration_s: float | None = None
) -> Offsets:
    """Evenly spaced sends: request k at k / rate."""
    if rate_per_s <= 0:
        raise ValueError("rate must be > 0")
    interval_s = 1.0 / rate_per_s
    return renewal_offsets(lambda: interval_s, max_requests=max_requests, duration_s=duration_s)


def gamma_offsets(
    rate_per_s: float,
    rng: random.Random,
    *,
    burstiness: float = 1.0,
    max_requests: int | None = None,
    duration_s: float | None = None,
) -> Offsets:
    """Gamma-distributed gaps with mean 1/rate, shape = burstiness (vLLM's convention): 1 is a
    Poisson process, < 1 burstier, > 1 more regular; the gaps' CV is 1/sqrt(burstiness)."""
    if rate_per_s <= 0:
        raise ValueError("rate must be > 0")
    if burstiness <= 0:
        raise ValueError("burstiness must be > 0")
    scale_s = 1.0 / (rate_per_s * burstiness)
    return renewal_offsets(
        lambda: rng.gammavariate(burstiness, scale_s),
        max_requests=max_requests,
        duration_s=duration_s,
    )


def poisson_offsets(
    rate_per_s: float,
    rng: random.Random,
    *,
    max_requests: int | None = None,
    duration_s: float | None = None,
) -> Offsets:
    """Poisson arrivals: exponential gaps with mean 1/rate (gamma with burstiness 1)."""
    return gamma_offsets(
        rate_per_s, rng, burstiness=1.0, max_requests=max_requests, duration_s=duration_s
    )


def ramp_offsets(
    start_rate_per_s: float,
    end_rate_per_s: float,
    duration_s: float,
    *,
    max_requests: int | None = None,
) -> Offsets:
    """A rate rising (or falling) linearly from start to end over duration_s, deterministic:
    request k goes when the expected count Λ(t) = r0·t + (r1 − r0)·t²/(2·D) reaches k."""
    if start_rate_per_s < 0 or end_rate_per_s < 0 or start_rate_per_s + end_rate_per_s == 0:
        raise ValueError("ramp rates must be >= 0 and not both 0")
    if duration_s <= 0:
        raise ValueError("a ramp needs duration_s > 0")
    r0, slope = start_rate_per_s, (end_rate_per_s - start_rate_per_s) / duration_s
    total = r0 * duration_s + slope * duration_s**2 / 2
    offsets: Offsets = []
    k = 0
    while k < total and (max_requests is None or k < max_requests):
        # the root of slope/2·t² + r0·t − k = 0 that lies in [0, D]
        flat = abs(slope) < 1e-12
        t_s = k / r0 if flat else (-r0 + math.sqrt(r0 * r0 + 2 * slope * k)) / slope
        offsets.append(round(t_s * _NS_PER_S))
        k += 1
    return offsets


def ramp_stream_starts(concurrency: int, duration_s: float) -> Offsets:
    """Closed-loop concurrency ramp: stream i (0-based) starts at i/concurrency of duration_s,
    so the number of streams rises linearly from 1 to `concurrency`."""
    if concurrency < 1 or duration_s <= 0:
        raise ValueError("a concurrency ramp needs concurrency >= 1 and duration_s > 0")
    return [round(i * duration_s * _NS_PER_S / concurrency) for i in range(concurrency)]


def scaled_offsets(timestamps_ms: Sequence[float], time_scale: float) -> Offsets:
    """Trace replay: offsets from the first timestamp, times `time_scale` (0.5 = twice as fast)."""
    if time_scale <= 0:
        raise ValueError("time_scale must be > 0")
    if not timestamps_ms:
        return []
    t0 = timestamps_ms[0]
    return [round((t - t0) * time_scale * 1e6) for t in timestamps_ms]


def split_round_robin(offsets: Sequence[int], parts: int) -> list[list[tuple[int, int]]]:
    """(index, offset) pairs dealt to `parts` workers in turn: each worker paces its own share of
    one schedule, and the index keeps each request's identity across processes."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    return [[(i, offsets[i]) for i in range(p, len(offsets), parts)] for p in range(parts)]
