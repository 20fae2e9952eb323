"""Emission schedule: pure functions from arrival time and config to absolute deadlines.

Token i is due at `start + ttft + i·itl`, each gap perturbed by Normal(0, jitter) from an
injected `random.Random`; chunks of k tokens are due at the deadline of their last token.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator


def token_deadlines_ns(
    start_ns: int,
    n_tokens: int,
    ttft_ns: int,
    itl_ns: int,
    jitter_ns: float = 0.0,
    rng: random.Random | None = None,
) -> Iterator[int]:
    """Absolute deadline of each output token, never earlier than the one before.

    Lazy, so a request for 32k tokens costs no up-front list. Without jitter the rng is not
    touched, which keeps the no-jitter schedule exact and independent of any seed.
    """
    if jitter_ns > 0.0 and rng is None:
        raise ValueError("jitter needs an rng")
    deadline_ns = start_ns
    for i in range(n_tokens):
        gap_ns = ttft_ns if i == 0 else itl_ns
        if jitter_ns > 0.0:
            assert rng is not None
            gap_ns += round(rng.gauss(0.0, jitter_ns))
        deadline_ns += max(0, gap_ns)
        yield deadline_ns


def chunk_deadlines_ns(
    token_deadlines: Iterable[int], tokens_per_chunk: int
) -> Iterator[tuple[int, int]]:
    """Group token deadlines k at a time: (deadline of the chunk's last token, tokens in it)."""
    if tokens_per_chunk < 1:
        raise ValueError(f"tokens_per_chunk must be >= 1, got {tokens_per_chunk}")
    count = 0
    deadline_ns = 0
    for deadline_ns in token_deadlines:
        count += 1
        if count == tokens_per_chunk:
            yield deadline_ns, count
            count = 0
    if count:
        yield deadline_ns, count


def request_rng(seed: int, request_seq: int) -> random.Random:
    """A per-request generator, so one request's jitter never depends on another's timing."""
    return random.Random(f"{seed}/{request_seq}")
