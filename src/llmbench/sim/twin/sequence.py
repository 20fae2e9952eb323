"""One request inside the engine: its sizes, where it is (waiting, running, finished), what the
prefix cache gave it, and the steps at which it produced tokens (ranges, so a long decode costs
one entry, not one per token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, eq=False)
class Seq:
    """Mutable engine state of one request; `eq=False`: identity, so queues can remove it."""

    id: int
    arrival_s: float
    eligible_s: float
    prompt_tokens: int
    max_tokens: int
    words: tuple[str, ...] | None = None  # the prompt's tokens, for the prefix cache
    # The reply's tokens when scripted (an agent reply), else vocabulary words from the first
    reply_words: tuple[str, ...] | None = None
    tag: Any = None  # the caller's handle (served mode: the stream that waits for tokens)
    hashes: list[int] | None = None
    held: list[int] = field(default_factory=list)
    state: str = "waiting"  # waiting | running | finished | aborted
    computed: int = 0
    generated: int = 0
    cached_tokens: int | None = None
    admitted_s: float | None = None
    end_s: float | None = None
    preemptions: int = 0
    # Decoding since step s0 with c0 tokens computed and g0 generated; version voids stale
    # entries of the finish heap after a preemption.
    s0: int = 0
    c0: int = 0
    g0: int = 0
    finish_step: int = -1
    version: int = 0
    token_steps: list[range] = field(default_factory=list)

    @property
    def target(self) -> int:
        """Tokens to compute before the next token comes out: prompt plus what it generated."""
        return self.prompt_tokens + self.generated
