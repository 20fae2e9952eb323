"""Physics of the serving-engine twin on a virtual clock: prefill cost, batching, prefix cache,
cold start, preemption. Noise is switched off wherever an exact comparison is made.
"""

from __future__ import annotations

import numpy as np
import pytest

from llmbench.sim.server.protocol import VOCABULARY
from llmbench.sim.twin.engine import AdmissionError, Engine
from llmbench.sim.twin.offline import RequestTiming, poisson_arrivals, predict
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.presets import builtin, override
from llmbench.sim.twin.sequence import Seq

QUIET = {"noise.jitter_sigma": 0.0, "noise.stall_probability": 0.0}


def quiet(name: str, **changes: object) -> Preset:
    return override(
        builtin(name), {**QUIET, **{k.replace("__", "."): v for k, v in changes.items()}}
    )


def ttft_s(timing: RequestTiming) -> float:
    assert timing.first_token_s is not None
    return timing.first_token_s - timing.arrival_s


def run_alone(preset: Preset, input_tokens: int, output_tokens: int = 8) -> RequestTiming:
    out = predict(preset, [0.0], input_tokens=input_tokens, output_tokens=output_tokens)
    return out.requests[0]


def test_ttft_grows_linearly_with_uncached_input_tokens() -> None:
    preset = quiet("cloud-warm")
    sizes = np.array([512, 1024, 2048, 3072, 4096])
    ttfts = np.array([ttft_s(run_alone(preset, int(n))) for n in sizes])
    slope, intercept = np.polyfit(sizes, ttfts, 1)
    residual = ttfts - (slope * sizes + intercept)
    assert slope > 0
    assert np.max(np.abs(residual)) < 0.03 * ttfts.max()  # attention's n² term is small here
    # The intercept is the fixed part: API overhead plus one step's overheads (and weights).
    assert 0.01 < intercept < 0.05


def test_deterministic_preset_is_exact() -> None:
    out = predict(builtin("deterministic"), [0.0, 0.001], input_tokens=10, output_tokens=4)
    for timing in out.requests:
        assert ttft_s(timing) == pytest.approx(0.2, abs=1e-12)
        assert np.diff(timing.token_s) == pytest.approx([0.02] * 3, abs=1e-12)


def test_continuous_batching_raises_throughput_with_concurrency() -> None:
    preset = quiet("cloud-warm")

    def tokens_per_s(burst: int) -> float:
        out = predict(preset, [0.0] * burst, input_tokens=256, output_tokens=128)
        end = max(t.end_s or 0.0 for t in out.requests)
        return burst * 128 / end

    assert tokens_per_s(16) > 8 * tokens_per_s(1)


def test_static_batching_makes_later_arrivals_wait_for_the_whole_batch() -> None:
    arrivals = [0.0, 0.05]
    static = predict(quiet("self-hosted-cold"), arrivals, input_tokens=128, output_tokens=64)
    first, second = static.requests
    assert first.end_s is not None
    # The second request starts only when the first batch is done: its TTFT spans that batch.
    assert second.first_token_s is not None
    assert second.first_token_s > first.end_s
    continuous = quiet("self-hosted-cold", engine__batching="continuous")
    second_c = predict(continuous, arrivals, input_tokens=128, output_tokens=64).requests[1]
    assert ttft_s(second_c) < ttft_s(second) / 5


def session_seq(seq_id: int, words: tuple[str, ...], arrival_s: float) -> Seq:
    return Seq(seq_id, arrival_s, arrival_s, len(words), 16, words=words)


def drive(engine: Engine, seq: Seq) -> None:
    engine.submit(seq)
    now_s = seq.eligible_s
    while (step := engine.plan(now_s)) is not None:
        now_s = step.end_s


def first_token_delay(engine: Engine, seq: Seq) -> float:
    return engine.step_end_s[seq.token_steps[0].start] - seq.arrival_s


def test_a_reused_session_is_faster_by_the_cached_prefill() -> None:
    preset = quiet("cloud-warm")
    engine = Engine(preset)
    history = tuple(f"w{i}" for i in range(2048))
    turn1 = session_seq(1, history, 0.0)
    drive(engine, turn1)
    answer = tuple(VOCABULARY[i % len(VOCABULARY)] for i in range(16))
    turn2_words = history + answer + tuple(f"q{i}" for i in range(64))
    turn2 = session_seq(2, turn2_words, 10.0)
    drive(engine, turn2)
    fresh = session_seq(3, tuple(f"x{i}" for i in range(len(turn2_words))), 20.0)
    drive(engine, fresh)
    assert turn2.cached_tokens is not None
    assert turn2.cached_tokens >= 2048
    assert fresh.cached_tokens == 0
    saved_s = first_token_delay(engine, fresh) - first_token_delay(engine, turn2)
    # What the cached tokens would have cost: prefill of 2048+ tokens on this hardware.
    prefill_s = first_token_delay(engine, turn1) - preset.engine.request_overhead_s
    assert saved_s > 0.7 * prefill_s


def test_prompt_cache_entries_expire_after_their_ttl() -> None:
    preset = quiet("cloud-warm", engine__cache_ttl_s=60.0)
    engine = Engine(preset)
    words = tuple(f"w{i}" for i in range(2048))
    drive(engine, session_seq(1, words, 0.0))
    late = session_seq(2, words, 120.0)
    drive(engine, late)
    assert late.cached_tokens == 0


def test_prefix_below_the_minimum_cacheable_length_is_not_a_hit() -> None:
    engine = Engine(quiet("cloud-warm"))  # minimum 1024 tokens
    words = tuple(f"w{i}" for i in range(512))
    drive(engine, session_seq(1, words, 0.0))
    again = session_seq(2, words, 1.0)
    drive(engine, again)
    assert again.cached_tokens == 0


def test_cold_start_appears_only_after_idle() -> None:
    preset = quiet("self-hosted-cold")
    out = predict(preset, [0.0, 10.0, 400.0], input_tokens=64, output_tokens=4)
    warm0, warm1, cold = (ttft_s(t) for t in out.requests)
    assert warm0 < 1.0
    assert warm1 < 1.0
    assert cold > preset.engine.cold_start_s
    assert out.cold_starts == 1


def test_preemption_by_recompute_keeps_every_token() -> None:
    preset = quiet("cloud-warm", engine__kv_blocks=200)  # 3,200 tokens of KV cache
    out = predict(preset, [0.0] * 8, input_tokens=256, output_tokens=256)
    assert out.preemptions > 0
    for timing in out.requests:
        assert timing.output_tokens == 256
        assert len(timing.token_s) == 256
        assert (np.diff(timing.token_s) > 0).all()


def test_a_request_that_can_never_fit_is_refused() -> None:
    preset = quiet("cloud-warm", engine__kv_blocks=10)
    with pytest.raises(AdmissionError, match="never fit"):
        Engine(preset).submit(Seq(1, 0.0, 0.0, 1000, 10))
    out = predict(preset, [0.0], input_tokens=1000, output_tokens=10)
    assert out.requests[0].error is not None


def test_noise_is_seeded() -> None:
    preset = builtin("cloud-warm")
    arrivals = poisson_arrivals(5.0, 5.0, seed=3)

    def ttfts(seed: int) -> list[float]:
        out = predict(preset, arrivals, input_tokens=128, output_tokens=16, seed=seed)
        return [ttft_s(t) for t in out.requests]

    assert ttfts(1) == ttfts(1)
    assert ttfts(1) != ttfts(2)


def test_replicas_share_the_load() -> None:
    preset = quiet("cloud-warm")
    arrivals = poisson_arrivals(40.0, 20.0, seed=1)
    one = predict(preset, arrivals, input_tokens=1024, output_tokens=64)
    four = predict(preset, arrivals, input_tokens=1024, output_tokens=64, replicas=4)
    assert {t.replica for t in four.requests} == {0, 1, 2, 3}
    assert np.mean([ttft_s(t) for t in four.requests]) < np.mean([ttft_s(t) for t in one.requests])


def test_prefills_that_block_each_other_are_resolved_by_recompute() -> None:
    # 16 blocks (256 tokens); two 200-token prompts each hold 8 blocks, half prefilled: neither
    # can take the 5 more it needs. The newest must be recomputed so the oldest can finish.
    preset = quiet("cloud-warm", engine__kv_blocks=16, engine__watermark=0.0)
    engine = Engine(preset)
    first, second = Seq(1, 0.0, 0.0, 200, 4), Seq(2, 0.0, 0.0, 200, 4)
    for seq in (first, second):
        engine.submit(seq)
        engine.waiting.append(engine.pending.popleft())
        engine.waiting.remove(seq)
        engine._start(seq, 0, 0.0)
        assert engine.pool.take(8)
        seq.computed = 128
    now_s = 0.0
    for _ in range(100):
        step = engine.plan(now_s)
        if step is None:
            break
        now_s = step.end_s
    assert (first.state, second.state) == ("finished", "finished")
    assert second.preemptions == 1
    assert first.preemptions == 0


def test_least_loaded_routing_fills_the_emptier_replica() -> None:
    preset = quiet("cloud-warm")
    # Request 0 is still running on replica 0 at 0.3 s; then three at once: the first goes to
    # the idle replica 1, the next two alternate by outstanding count (ties: lowest index).
    arrivals = [0.0, 0.3, 0.3, 0.3]
    ll = predict(preset, arrivals, input_tokens=64, output_tokens=64, replicas=2,
                 routing="least-loaded")  # fmt: skip
    assert [t.replica for t in ll.requests] == [0, 1, 0, 1]
    assert all(len(t.token_s) == 64 for t in ll.requests)
    three = predict(preset, [0.3] * 3, input_tokens=64, output_tokens=8, replicas=3,
                    routing="least-loaded")  # fmt: skip
    assert [t.replica for t in three.requests] == [0, 1, 2]
