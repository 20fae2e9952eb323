"""The simulator's emission schedule: absolute token deadlines, jitter, chunk grouping.

Pure functions, so every expectation is exact integer arithmetic.
"""

from __future__ import annotations

import itertools
import statistics

import pytest

from llmbench.sim.server.schedule import chunk_deadlines_ns, request_rng, token_deadlines_ns


def test_deadlines_without_jitter_are_exact() -> None:
    # start 1000, ttft 200, itl 20: 1000+200, then +20 each
    assert list(token_deadlines_ns(1000, 4, 200, 20)) == [1200, 1220, 1240, 1260]


def test_no_tokens_no_deadlines() -> None:
    assert list(token_deadlines_ns(0, 0, 200, 20)) == []


def test_jitter_is_reproducible_with_a_seed() -> None:
    def plan(seed: int) -> list[int]:
        return list(token_deadlines_ns(0, 50, 200_000, 20_000, 5_000.0, request_rng(seed, 1)))

    assert plan(7) == plan(7)
    assert plan(7) != plan(8)
    assert plan(7) != list(token_deadlines_ns(0, 50, 200_000, 20_000))


def test_jitter_never_moves_a_deadline_before_the_previous_one() -> None:
    # jitter 10x the gap: many gaps would be negative without the clamp
    deadlines = list(token_deadlines_ns(5_000, 2_000, 100, 100, 1_000.0, request_rng(1, 1)))
    assert deadlines[0] >= 5_000
    assert all(b >= a for a, b in itertools.pairwise(deadlines))


def test_jitter_keeps_the_mean_gap() -> None:
    itl_ns = 20_000_000
    deadlines = list(token_deadlines_ns(0, 4_001, 0, itl_ns, 1_000_000.0, request_rng(3, 9)))
    gaps = [b - a for a, b in itertools.pairwise(deadlines)]
    # σ = 1 ms per gap, n = 4000: the mean is within 0.1 ms of 20 ms with overwhelming odds
    assert abs(statistics.mean(gaps) - itl_ns) < 100_000
    assert 800_000 < statistics.stdev(gaps) < 1_200_000


def test_jitter_needs_an_rng() -> None:
    with pytest.raises(ValueError, match="rng"):
        list(token_deadlines_ns(0, 3, 10, 10, 1.0))


def test_request_rngs_differ_per_request_and_repeat_per_seed() -> None:
    assert request_rng(1, 1).random() == request_rng(1, 1).random()
    assert request_rng(1, 1).random() != request_rng(1, 2).random()


@pytest.mark.parametrize(
    ("per_chunk", "expected"),
    [
        (1, [(10, 1), (20, 1), (30, 1), (40, 1), (50, 1), (60, 1), (70, 1)]),
        # a chunk is due when its last token is: tokens 2, 5 and the lone 6th (0-based)
        (3, [(30, 3), (60, 3), (70, 1)]),
        (7, [(70, 7)]),
        (100, [(70, 7)]),
    ],
)
def test_chunks_are_due_at_their_last_token(
    per_chunk: int, expected: list[tuple[int, int]]
) -> None:
    tokens = [10, 20, 30, 40, 50, 60, 70]
    assert list(chunk_deadlines_ns(tokens, per_chunk)) == expected


def test_chunking_nothing_gives_nothing() -> None:
    assert list(chunk_deadlines_ns([], 3)) == []


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tokens_per_chunk"):
        list(chunk_deadlines_ns([1, 2], 0))
