"""Synthetic prompts: `input_tokens` words (or per-request lengths drawn from a seeded
distribution, `workload/lengths.py`) from a fixed vocabulary with a seeded generator, so every
target receives the same bytes; optionally the first `prefix_tokens` words are one shared prefix.
One word is one token for the simulated target and the whitespace tokenizer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from llmbench.records import RequestSpec
from llmbench.workload.exact import TokenCodec, fit_to_tokens
from llmbench.workload.lengths import Lengths

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


def _shared_prefix(seed: int, tokens: int, exact: TokenCodec | None) -> str:
    """Its own generator: a prefix leaves the distinct words' draws as they were without one.
    Under `exact`, K tokens rather than K words (a word can be several tokens)."""
    rng = random.Random(f"prefix/{seed}")
    shared = synthetic_prompt(rng, tokens)
    if exact is None or not shared:
        return shared
    return fit_to_tokens(exact, shared, tokens, lambda k: synthetic_prompt(rng, k))


def synthetic_requests(
    *,
    input_tokens: int,
    output_tokens: int,
    seed: int,
    prefix: str = "req",
    prefix_tokens: int = 0,
    prompt_set: int = 0,
    inputs: Lengths | None = None,
    outputs: Lengths | None = None,
    exact: TokenCodec | None = None,
) -> Iterator[RequestSpec]:
    """An endless stream of prompts, distinct after their first `prefix_tokens` words (the same
    in every prompt of this seed); item ids are `{prefix}-{index}`. Each `prompt_set` of a seed
    is another stream (set 0 keeps the bytes it always had). `inputs` / `outputs`: per-request
    lengths (default: `input_tokens` / `output_tokens` each), drawn in stream order. `exact`:
    each prompt is cut or extended (more words of the same stream) to exactly its length in
    that tokenizer's tokens; without it a prompt is that many words."""
    inputs = inputs or Lengths(input_tokens)
    outputs = outputs or Lengths(output_tokens)
    # Drawn lengths are clipped to the prefix (`Lengths.floor`); a fixed one must hold it.
    if prefix_tokens < 0 or (not inputs.varies and prefix_tokens > input_tokens):
        raise ValueError(f"prefix_tokens must be in [0, {input_tokens}], got {prefix_tokens}")
    # Seeded by the length too: else an input sweep's 2048-token prompt 0 would be its
    # 1024-token prompts 0 and 1 end to end, and a prefix cache would serve half of it.
    key = f"synthetic/{seed}/{input_tokens}" + (f"/{inputs.tag()}" if inputs.varies else "")
    key += f"/{prompt_set}" if prompt_set else ""
    rng = random.Random(key)
    # Lengths from generators of their own: fixed lengths leave the words' draws unchanged.
    input_lengths = inputs.draws(random.Random(f"input-lengths/{key}"))
    output_lengths = outputs.draws(random.Random(f"output-lengths/{key}/{outputs.tag()}"))
    shared = _shared_prefix(seed, prefix_tokens, exact)
    for index, (length, max_tokens) in enumerate(zip(input_lengths, output_lengths, strict=True)):
        # The shared prefix is part of every prompt: a shorter draw is raised to it.
        length = max(length, prefix_tokens)
        distinct = synthetic_prompt(rng, length - prefix_tokens)
        prompt = f"{shared} {distinct}" if shared and distinct else shared or distinct
        if exact is not None:
            prompt = fit_to_tokens(exact, prompt, length, lambda k: synthetic_prompt(rng, k))
        yield RequestSpec(
            item_id=f"{prefix}-{index}",
            prompt=prompt,
            max_tokens=max_tokens,
            input_tokens=length,
        )
