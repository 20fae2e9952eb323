"""Replays of per-request lengths (virtual clock): each request decodes its own output length,
and a long prefill sent among short decoding requests stalls their next token (the mixed run's
effect, bounded by the engine's chunked prefill)."""

from __future__ import annotations

import numpy as np
import pytest

from llmbench.sim.twin.presets import builtin, override
from llmbench.sim.twin.replay import replay_arrivals, replay_closed_loop

QUIET = {"noise.jitter_sigma": 0.0, "noise.stall_probability": 0.0}


def test_each_request_decodes_its_own_output_length() -> None:
    preset = override(builtin("cloud-warm"), QUIET)
    prompts, outputs = [128, 2048, 64, 512], [3, 7, 1, 12]
    closed = replay_closed_loop(preset, streams=2, prompts=prompts, output_tokens=outputs)
    assert [(t.prompt_tokens, t.output_tokens) for t in closed.requests] == list(
        zip(prompts, outputs, strict=True)
    )
    opened = replay_arrivals(preset, [0.0, 0.1, 0.2, 0.3], prompts=prompts, output_tokens=outputs)
    assert [len(t.token_s) for t in opened.requests] == outputs
    with pytest.raises(ValueError, match="one output length per prompt"):
        replay_closed_loop(preset, streams=1, prompts=prompts, output_tokens=[1, 2])


def _worst_gap_s(chunked: bool, long_prompt: int, budget: int = 8192) -> float:
    """The longest inter-token gap of three 128-token decoders when `long_prompt` arrives."""
    settings = {**QUIET, "engine.chunked_prefill": chunked, "engine.max_batched_tokens": budget}
    preset = override(builtin("cloud-warm"), settings)
    prompts = [128, 128, 128] + ([long_prompt] if long_prompt else [])
    arrivals = [0.0, 0.0, 0.0, 0.15][: len(prompts)]
    out = replay_arrivals(preset, arrivals, prompts=prompts, output_tokens=40).requests
    assert all(t.error is None for t in out)
    return max(float(np.max(np.diff(t.token_s))) for t in out[:3])


def test_a_long_prefill_stalls_the_decoders_and_chunking_bounds_it() -> None:
    calm = _worst_gap_s(True, 0)
    whole = _worst_gap_s(False, 4096)  # the prompt's whole prefill in one step
    chunked = _worst_gap_s(True, 4096, budget=512)  # at most 512 tokens of it per step
    assert whole > 5 * calm
    assert calm < chunked < whole / 3


def test_sends_spaced_like_a_client_let_an_idle_engine_start_with_the_first() -> None:
    # A closed loop's first sends are microseconds apart; an idle engine starts a step with the
    # first and the others wait for the next (what the served twin does). Sent all at once,
    # the four would share one prefill step and see the same, longer TTFT.
    preset = override(builtin("cloud-warm"), QUIET)

    def first_round_ttfts_ms(spacing_s: float) -> list[float]:
        out = replay_closed_loop(
            preset, streams=4, prompts=[512] * 4, output_tokens=8, send_spacing_s=spacing_s
        )
        return [(t.token_s[0] - t.arrival_s) * 1e3 for t in out.requests]

    together, spaced = first_round_ttfts_ms(0.0), first_round_ttfts_ms(40e-6)
    assert max(together) - min(together) < 1e-6
    assert spaced[0] < min(together) / 2  # alone in its prefill
    assert min(spaced[1:]) > spaced[0] + 10  # they waited for that step to end
    with pytest.raises(ValueError, match="send_spacing_s"):
        first_round_ttfts_ms(-1.0)
