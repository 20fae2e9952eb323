"""Exact-length prompts: seeded words trimmed or extended until a tokenizer counts exactly N.

The words come from the synthetic source (`workload/synthetic.py`); the tokenizer is anything
that encodes text to ids and decodes ids back (an `hf:PATH` tokenizer). Trimming decodes a
prefix of the ids; because a decoded prefix can re-encode to a different count (merges across
the cut), the cut moves by the miss until the count is exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from llmbench.errors import WorkloadError

# Each retry moves the cut by the miss; in practice one or two suffice.
_MAX_TRIES = 32


class TokenCodec(Protocol):
    name: str

    def ids(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


def fit_to_tokens(codec: TokenCodec, text: str, tokens: int, more: Callable[[int], str]) -> str:
    """`text` cut or extended (with `more(k)`: k further words) to exactly `tokens` tokens."""
    ids = codec.ids(text)
    cut = tokens
    for _ in range(_MAX_TRIES):
        while len(ids) < cut:  # too short: more seeded words, then cut again
            text = f"{text} {more(cut - len(ids) + 1)}" if text else more(cut - len(ids) + 1)
            ids = codec.ids(text)
        candidate = codec.decode(ids[:cut])
        got = len(codec.ids(candidate))
        if got == tokens:
            return candidate
        cut = max(1, cut + tokens - got)
    raise WorkloadError(
        f"--exact-tokens: no prompt of exactly {tokens} tokens under {codec.name} "
        f"after {_MAX_TRIES} cuts",
        hint="try another --seed or --input-tokens, or drop --exact-tokens",
    )
