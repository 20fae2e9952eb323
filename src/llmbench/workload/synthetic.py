"""Synthetic fixed-length prompts: `input_tokens` words drawn from a fixed vocabulary with a
seeded generator, so every target receives the same bytes. One word is one token for the
simulated target and the whitespace tokenizer; real tokenizers count differently (measured).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from llmbench.records import RequestSpec

# Common short English words: most BPE tokenizers also map each to about one token.
_VOCABULARY = (  # noqa: SIM905 -- a word list reads better as prose
    "the of and to in is was for on are with as his they be at one have this from or had by "
    "hot word but what some we can out other were all there when up use your how said an each "
    "she which do their time if will way about many then them write would like so these her "
    "long make thing see him two has look more day could go come did number sound no most "
    "people my over know water than call first who may down side been now find any new work "
    "part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form sentence great think say help "
    "low line differ turn cause much mean before move right boy old too same tell does set"
).split()


def synthetic_prompt(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_VOCABULARY, k=words))


def synthetic_requests(
    *, input_tokens: int, output_tokens: int, seed: int, prefix: str = "req"
) -> Iterator[RequestSpec]:
    """An endless stream of distinct prompts; item ids are `{prefix}-{index}`."""
    rng = random.Random(seed)
    index = 0
    while True:
        yield RequestSpec(
            item_id=f"{prefix}-{index}",
            prompt=synthetic_prompt(rng, input_tokens),
            max_tokens=output_tokens,
            input_tokens=input_tokens,
        )
        index += 1
