"""The simulator playing a phone agent (`reply: agent`): each reply is thinking text, then an
action in Open-AutoGLM's call syntax, and the reply ends there.

The step is the number of assistant messages already in the request's history. A reply to
step `finish_after - 1` or later is `finish(message="...")`, any earlier one is
`do(action="Tap", element=[x,y])`. The action is one token, at an index drawn (seeded by the
seed and the step) between `think_tokens // 2` and `think_tokens`; the thinking before it is
vocabulary words, as in every reply. The action has no space inside, so each token is one
whitespace word when the client sends the reply back in its history (a prefix cache then finds
the reply's blocks). The request log records when the action's chunk went out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmbench.sim.server.protocol import token_text


@dataclass(frozen=True, slots=True)
class AgentScript:
    """The tokens of one agent reply: `texts[i]` is token i (what the client's text shows)."""

    texts: tuple[str, ...]
    action_index: int


def agent_script(seed: int, step: int, think_tokens: int, finish_after: int) -> AgentScript:
    """The reply to step `step` (0-based); its length is the action's index + 1."""
    rng = random.Random(f"agent/{seed}/{step}")
    index = rng.randint(max(1, think_tokens // 2), max(1, think_tokens))
    if step + 1 >= finish_after:
        action = f' finish(message="done_after_{step + 1}_steps")'
    else:
        action = f' do(action="Tap",element=[{rng.randint(0, 999)},{rng.randint(0, 999)}])'
    thinking = token_text(0, index).decode("ascii").split(" ")[1:]
    return AgentScript((*(f" {word}" for word in thinking), action), index)
