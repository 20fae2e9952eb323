"""Multi-turn sessions on the virtual clock: a later turn reuses its history's KV blocks while
they are resident, saving about their prefill; under memory pressure the history is evicted
between turns and the advantage shrinks.
"""

from __future__ import annotations

import numpy as np

from llmbench.prediction.predict import session_facts
from llmbench.sim.twin.offline import Prediction, RequestTiming, poisson_arrivals, predict
from llmbench.sim.twin.presets import builtin, override
from llmbench.sim.twin.sessions import SessionLoad, predict_sessions

QUIET = {"noise.jitter_sigma": 0.0, "noise.stall_probability": 0.0}


def ttft_s(t: RequestTiming) -> float:
    return float(t.token_s[0]) - t.arrival_s


def later_ttft_s(prediction: Prediction) -> float:
    return float(np.mean([ttft_s(t) for t in prediction.requests if t.turn > 0]))


def sessions(changes: dict[str, object], load: SessionLoad) -> Prediction:
    return predict_sessions(override(builtin("cloud-warm"), {**QUIET, **changes}), load)


def test_each_turn_carries_the_history_and_hits_the_cache() -> None:
    load = SessionLoad([0.0, 100.0], turns=3, think_time_s=1.0, input_tokens=1024, output_tokens=64)
    out = sessions({}, load)
    assert [(t.session, t.turn) for t in out.requests] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    prompts = [t.prompt_tokens for t in out.requests[:3]]
    assert prompts == [1024, 1024 + 64 + 1024, 2 * (1024 + 64) + 1024]  # history + new message
    first, second, third = out.requests[:3]
    assert first.cached_tokens == 0
    # The history's full blocks of computed KV (the last answer token is never fed back):
    # 1024 + 63 = 1087 → 67 blocks of 16 = 1072; 2112 + 63 = 2175 → 135 blocks = 2160.
    assert second.cached_tokens == 1072
    assert third.cached_tokens == 2160
    # The next turn is sent think time after the previous answer ended.
    assert second.arrival_s == float(first.token_s[-1]) + 1.0
    facts = session_facts(out.requests)
    assert facts["sessions"] == 2
    assert facts["reused_turns"]["n"] == 4
    assert facts["missed_turns"]["n"] == 0


def test_a_reused_turn_is_faster_by_about_the_cached_prefill() -> None:
    load = SessionLoad([0.0, 60.0, 120.0], turns=2, think_time_s=1.0, input_tokens=2048,
                       output_tokens=64)  # fmt: skip
    cached = sessions({}, load)
    uncached = sessions({"engine.prefix_cache": False}, load)
    saved_s = later_ttft_s(uncached) - later_ttft_s(cached)
    # What the cached tokens cost to prefill alone (2048 + 64 → 2112 tokens, 132 blocks).
    preset = override(builtin("cloud-warm"), QUIET)
    alone = predict(preset, [0.0], input_tokens=2112, output_tokens=2).requests[0]
    prefill_s = ttft_s(alone) - preset.engine.request_overhead_s
    # Not exact: the uncached part still attends over the cached prefix either way.
    assert 0.7 * prefill_s < saved_s < 1.3 * prefill_s


def test_under_memory_pressure_the_history_is_evicted_and_the_advantage_shrinks() -> None:
    starts = poisson_arrivals(2.0, 60.0, seed=1)
    load = SessionLoad(starts, turns=2, think_time_s=20.0, input_tokens=1024, output_tokens=128)
    advantage: dict[int, float] = {}
    fraction: dict[int, float] = {}
    missed: dict[int, int] = {}
    # 0: the whole GPU (~300k tokens); 8,000 blocks: 128k tokens, less than ~40 thinking
    # sessions' histories plus the finished ones' that LRU keeps. (Before the fix in _admit,
    # admitting a hit here could evict the hit's own blocks: a KeyError.)
    for blocks in (0, 8_000):
        kv = {"engine.kv_blocks": blocks}
        cached = sessions(kv, load)
        uncached = sessions({**kv, "engine.prefix_cache": False}, load)
        advantage[blocks] = later_ttft_s(uncached) - later_ttft_s(cached)
        facts = session_facts(cached.requests)
        fraction[blocks] = facts["later_turns_cached_token_fraction"]
        missed[blocks] = facts["missed_turns"]["n"]
    assert missed[0] == 0
    assert missed[8_000] > 0.2 * len(starts)
    assert fraction[8_000] < 0.8 * fraction[0]
    assert 0 < advantage[8_000] < 0.8 * advantage[0]
