"""Per-request prompt and output lengths: fixed, a normal with a standard deviation (rounded,
clipped to at least the floor), or a discrete mixture (`128:0.9,4096:0.1`). Each draw is a
pure function of its seeded generator, so the same seed gives the same lengths in stream order.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lengths:
    """One side's distribution: `mix` if given, else normal(mean, stddev) (fixed if 0),
    rounded to whole tokens and clipped to >= `floor`."""

    mean: int
    stddev: float = 0.0
    mix: tuple[tuple[int, float], ...] | None = None
    floor: int = 1

    @property
    def varies(self) -> bool:
        return self.mix is not None or self.stddev > 0

    def tag(self) -> str:
        """Names the distribution (seeds the prompt words: another distribution, other words)."""
        if self.mix is not None:
            return "mix" + ",".join(f"{t}:{w:g}" for t, w in self.mix)
        return f"sd{self.stddev:g}" if self.stddev > 0 else ""

    def draws(self, rng: random.Random) -> Iterator[int]:
        """An endless stream of lengths from `rng` (fixed: no draws taken from it)."""
        if self.mix is not None:
            values = [tokens for tokens, _ in self.mix]
            cumulative = list(itertools.accumulate(weight for _, weight in self.mix))
            top = cumulative[-1]
            while True:
                index = bisect.bisect_right(cumulative, rng.random() * top)
                yield max(self.floor, values[min(index, len(values) - 1)])
        while True:
            if self.stddev <= 0:
                yield self.mean
            else:
                yield max(self.floor, round(rng.gauss(self.mean, self.stddev)))
