"""Schedules in virtual time: pure offsets, checked for rate, burstiness, ramps, replay scaling
and reproducibility. Nothing sleeps."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from llmbench.engine.schedules import (
    constant_offsets,
    gamma_offsets,
    poisson_offsets,
    ramp_offsets,
    ramp_stream_starts,
    scaled_offsets,
    split_round_robin,
)

N = 20_000


def gaps_s(offsets: list[int]) -> list[float]:
    return [(b - a) / 1e9 for a, b in itertools.pairwise(offsets)]


def test_constant_rate_is_evenly_spaced_and_bounded() -> None:
    offsets = constant_offsets(4.0, max_requests=5)
    assert offsets == [0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]
    # 2 s at 4/s: sends at 0, 0.25, ..., 1.75 (2.0 is not before the end)
    assert len(constant_offsets(4.0, duration_s=2.0)) == 8
    assert len(constant_offsets(4.0, max_requests=3, duration_s=2.0)) == 3


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_gaps_match_rate_and_burstiness(burstiness: float) -> None:
    rate = 50.0
    gaps = gaps_s(gamma_offsets(rate, random.Random(7), burstiness=burstiness, max_requests=N))
    mean = statistics.fmean(gaps)
    cv = statistics.stdev(gaps) / mean
    expected_cv = 1 / math.sqrt(burstiness)
    # the sample mean's relative sd is cv/sqrt(n) ≈ 1.4 % at cv 2, n 20k: 5 sd margins
    assert mean == pytest.approx(1 / rate, rel=5 * expected_cv / math.sqrt(N))
    assert cv == pytest.approx(expected_cv, rel=0.08)


def test_poisson_is_gamma_with_burstiness_one_and_seeded() -> None:
    a = poisson_offsets(10.0, random.Random(3), max_requests=100)
    assert a == gamma_offsets(10.0, random.Random(3), burstiness=1.0, max_requests=100)
    assert a == poisson_offsets(10.0, random.Random(3), max_requests=100)
    assert a != poisson_offsets(10.0, random.Random(4), max_requests=100)
    # duration bound: about rate·duration arrivals (Poisson sd √200 ≈ 14)
    assert 140 < len(poisson_offsets(10.0, random.Random(3), duration_s=20.0)) < 260


def test_rate_ramp_counts_and_local_rate() -> None:
    # 0 → 10/s over 10 s: Λ(10) = 10·10/2 = 50 requests
    offsets = ramp_offsets(0.0, 10.0, 10.0)
    assert len(offsets) == 50
    assert offsets[0] == 0
    assert all(b >= a for a, b in itertools.pairwise(offsets))
    # Λ(t) = t²/2: the 8th request (k = 8) goes at t = 4 s
    assert offsets[8] == 4_000_000_000
    gaps = gaps_s(offsets)
    assert gaps[-1] < gaps[5]  # the rate rises
    # a flat ramp is the constant rate
    assert ramp_offsets(5.0, 5.0, 2.0) == constant_offsets(5.0, duration_s=2.0)
    # falling: 10 → 0 over 10 s, also 50 requests, gaps growing
    falling = gaps_s(ramp_offsets(10.0, 0.0, 10.0))
    assert len(falling) == 49
    assert falling[-1] > falling[0]


def test_concurrency_ramp_starts_streams_linearly() -> None:
    assert ramp_stream_starts(4, 2.0) == [0, 500_000_000, 1_000_000_000, 1_500_000_000]


def test_trace_offsets_scale_with_the_factor() -> None:
    stamps = [1000.0, 1000.5, 1002.0, 1010.0]
    assert scaled_offsets(stamps, 1.0) == [0, 500_000, 2_000_000, 10_000_000]
    assert scaled_offsets(stamps, 0.5) == [0, 250_000, 1_000_000, 5_000_000]
    assert scaled_offsets([], 2.0) == []


def test_split_keeps_every_request_once() -> None:
    offsets = constant_offsets(100.0, max_requests=10)
    parts = split_round_robin(offsets, 3)
    flat = sorted(i for part in parts for i, _ in part)
    assert flat == list(range(10))
    assert all(offsets[i] == off for part in parts for i, off in part)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: constant_offsets(0.0, max_requests=1), "rate"),
        (lambda: constant_offsets(1.0), "needs"),
        (lambda: gamma_offsets(1.0, random.Random(), burstiness=0, max_requests=1), "burstiness"),
        (lambda: ramp_offsets(0.0, 0.0, 1.0), "ramp"),
        (lambda: scaled_offsets([1.0], 0.0), "time_scale"),
    ],
)
def test_bad_parameters_raise(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
