"""What a multi-turn session sends: its plan (each turn's new user message, output length and
the think time before it; seeded, so every target gets the same bytes) and each turn's message
list, made of the history (earlier user messages and the replies actually received) plus the
new user message, with an optional cache-busting first word.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmbench.records import RequestSpec
from llmbench.workload.exact import TokenCodec, fit_to_tokens
from llmbench.workload.lengths import Lengths
from llmbench.workload.synthetic import synthetic_prompt

CacheBust = Literal["off", "session", "turn"]


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """One turn: the new user message, its planned length, the reply's length, and the wait
    after the previous turn's reply before it is sent (0 for the first turn)."""

    user: str
    input_tokens: int
    max_tokens: int
    think_before_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ThinkTimes:
    """Seconds between a reply and the next turn: fixed, or normal(mean, stddev) clipped at 0."""

    mean_s: float = 0.0
    stddev_s: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.stddev_s <= 0:
            return self.mean_s
        return max(0.0, rng.gauss(self.mean_s, self.stddev_s))


@dataclass(frozen=True, slots=True)
class SessionPlan:
    session_id: str
    turns: tuple[TurnPlan, ...]
    system: str | None = None  # a system message that opens every turn's history
    # A replayed trace: each turn's user message is its whole prompt (the trace's hash ids say
    # what it shares with earlier prompts), sent without the history.
    replay: bool = False


def synthetic_sessions(
    *,
    count: int,
    turns: int,
    seed: int,
    think: ThinkTimes,
    inputs: Lengths,
    outputs: Lengths,
    system_tokens: int = 0,
    exact: TokenCodec | None = None,
    id_prefix: str = "session",
) -> Iterator[SessionPlan]:
    """`count` sessions of `turns` turns; user messages of `inputs` words (or exact tokens)
    drawn from generators of each session's own, so session i is the same whatever the count.
    `system_tokens` > 0: one system message shared by every session (an agent's instructions)."""
    system = None
    if system_tokens:
        system = _fit(synthetic_prompt(random.Random(f"system/{seed}"), system_tokens),
                      system_tokens, exact, random.Random(f"system-more/{seed}"))  # fmt: skip
    for index in range(count):
        key = f"{id_prefix}/{seed}/{index}"
        words = random.Random(f"words/{key}")
        in_lengths = inputs.draws(random.Random(f"input-lengths/{key}"))
        out_lengths = outputs.draws(random.Random(f"output-lengths/{key}"))
        thinks = random.Random(f"think/{key}")  # its own: a fixed think time draws nothing
        plans = []
        for turn, (length, max_tokens) in enumerate(zip(in_lengths, out_lengths, strict=True)):
            if turn == turns:
                break
            user = _fit(synthetic_prompt(words, length), length, exact, words)
            wait = think.draw(thinks) if turn else 0.0
            plans.append(TurnPlan(user, length, max_tokens, wait))
        yield SessionPlan(f"{id_prefix}-{index}", tuple(plans), system)


def _fit(text: str, length: int, exact: TokenCodec | None, rng: random.Random) -> str:
    if exact is None:
        return text
    return fit_to_tokens(exact, text, length, lambda k: synthetic_prompt(rng, k))


def bust_word(mode: CacheBust, nonce: str, session_id: str, turn: int) -> str | None:
    """The first word of every request of a session (`session`) or of one turn (`turn`): unique
    to this run (`nonce`), so no prefix cache can serve a block that contains it."""
    if mode == "off":
        return None
    return f"nocache-{nonce}-{session_id}" + (f"-t{turn}" if mode == "turn" else "")


def turn_request(
    plan: SessionPlan, turn: int, replies: Sequence[str], *, bust: str | None, planned_tokens: int
) -> RequestSpec:
    """Turn `turn`'s request: the system message, every earlier user message and its reply
    (`replies`, as received), then the new user message; `bust` goes first in the first message.
    `planned_tokens`: the prompt's planned length (the server's usage count replaces it)."""
    messages: list[dict[str, Any]] = []
    if plan.system is not None:
        messages.append({"role": "system", "content": plan.system})
    history = () if plan.replay else zip(plan.turns[:turn], replies, strict=True)
    for earlier, reply in history:
        messages.append({"role": "user", "content": earlier.user})
        messages.append({"role": "assistant", "content": reply})
    current = plan.turns[turn]
    messages.append({"role": "user", "content": current.user})
    if bust is not None:
        messages[0] = {**messages[0], "content": f"{bust} {messages[0]['content']}"}
    return RequestSpec(
        item_id=f"{plan.session_id}/{turn}",
        prompt=current.user,
        max_tokens=current.max_tokens,
        input_tokens=planned_tokens,
        messages=tuple(messages),
        session_id=plan.session_id,
        turn=turn,
    )
