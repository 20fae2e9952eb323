"""Session plans and turn requests: seeded content, history as received, cache-busting words."""

from __future__ import annotations

from typing import Any

from llmbench.workload.lengths import Lengths
from llmbench.workload.sessions import (
    SessionPlan,
    ThinkTimes,
    bust_word,
    synthetic_sessions,
    turn_request,
)


def plans(count: int, seed: int = 0, **kw: Any) -> list[SessionPlan]:
    args: dict[str, Any] = {"turns": 3, "seed": seed, "think": ThinkTimes(2.0),
                            "inputs": Lengths(5), "outputs": Lengths(7)}  # fmt: skip
    return list(synthetic_sessions(count=count, **(args | kw)))


def test_a_session_is_the_same_whatever_the_count_and_differs_by_seed() -> None:
    three, five = plans(3), plans(5)
    assert five[:3] == three
    assert plans(3, seed=1) != three
    assert three[0] != three[1]
    first = three[0]
    assert first.session_id == "session-0"
    assert [len(t.user.split()) for t in first.turns] == [5, 5, 5]
    assert [t.max_tokens for t in first.turns] == [7, 7, 7]
    assert [t.think_before_s for t in first.turns] == [0.0, 2.0, 2.0]  # none before turn 0
    assert first.system is None


def test_varying_lengths_are_drawn_per_session_and_a_system_prompt_is_shared() -> None:
    sessions = plans(2, inputs=Lengths(50, 20.0), system_tokens=4)
    lengths = [len(t.user.split()) for s in sessions for t in s.turns]
    assert lengths == [t.input_tokens for s in sessions for t in s.turns]
    assert len(set(lengths)) > 1
    assert sessions[0].system == sessions[1].system
    assert sessions[0].system is not None
    assert len(sessions[0].system.split()) == 4


def test_a_turn_sends_the_history_as_received_and_the_bust_word_first() -> None:
    plan = plans(1, system_tokens=3)[0]
    spec = turn_request(plan, 2, ["reply one", "reply two"], bust=None, planned_tokens=42)
    contents = [(m["role"], m["content"]) for m in spec.messages or ()]
    assert contents == [
        ("system", plan.system),
        ("user", plan.turns[0].user),
        ("assistant", "reply one"),
        ("user", plan.turns[1].user),
        ("assistant", "reply two"),
        ("user", plan.turns[2].user),
    ]
    assert (spec.session_id, spec.turn, spec.input_tokens) == ("session-0", 2, 42)
    busted = turn_request(plan, 0, [], bust="nocache-x", planned_tokens=8)
    assert busted.messages is not None
    assert busted.messages[0]["content"] == f"nocache-x {plan.system}"
    assert bust_word("off", "n", "s", 1) is None
    assert bust_word("session", "n", "s", 1) == bust_word("session", "n", "s", 2) == "nocache-n-s"
    assert bust_word("turn", "n", "s", 1) != bust_word("turn", "n", "s", 2)


def test_think_times_vary_when_asked_seeded_and_never_negative() -> None:
    fixed = plans(2, think=ThinkTimes(0.5))
    assert {t.think_before_s for s in fixed for t in s.turns[1:]} == {0.5}
    drawn = plans(20, turns=4, think=ThinkTimes(0.5, 0.4))
    waits = [t.think_before_s for s in drawn for t in s.turns[1:]]
    assert len(set(waits)) > 30
    assert min(waits) >= 0.0
    assert 0.3 < sum(waits) / len(waits) < 0.7  # 60 draws around 0.5 (clipped at 0)
    assert all(s.turns[0].think_before_s == 0.0 for s in drawn)
    assert drawn == plans(20, turns=4, think=ThinkTimes(0.5, 0.4))
    # the words do not depend on the think times: the same prompts, other waits
    assert [t.user for t in drawn[0].turns] == [t.user for t in plans(1, turns=4)[0].turns]
