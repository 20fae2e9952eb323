"""The fallback fit (model shape unknown): polynomial step times recovered from exact samples,
used by the engine offline; replays of measured loads (closed loop, arrivals, shared prefix);
NNLS never returns a negative coefficient; too few samples name the sweep that is missing."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmbench.sim.twin.calibrate import ItlSample, TtftSample, _nnls, fit
from llmbench.sim.twin.offline import poisson_arrivals, predict
from llmbench.sim.twin.params import PolynomialTiming
from llmbench.sim.twin.presets import builtin, from_dict, override, to_dict
from llmbench.sim.twin.replay import replay_arrivals, replay_closed_loop
from llmbench.sim.twin.steptime import StepCost

# prefill = a + b·Σl + c·Σl², decode = d + f·Σcontext + e·B (seconds)
A, B, C = 0.006, 2.0e-5, 3.0e-9
D, E, F = 0.008, 1.5e-4, 2.0e-8
OVERHEAD_S = 0.01
LENGTHS = (128, 512, 1024, 2048, 4096)
POINTS = [(b, ctx) for b in (1, 4, 16, 32) for ctx in (256.0, 2048.0)]


def exact_samples() -> tuple[list[TtftSample], list[ItlSample]]:
    ttft = [TtftSample(n, OVERHEAD_S + A + B * n + C * n * n) for n in LENGTHS]
    itl = [ItlSample(b, ctx, D + F * b * ctx + E * b) for b, ctx in POINTS]
    return ttft, itl


def test_polynomial_fit_recovers_known_coefficients() -> None:
    result = fit(builtin("cloud-warm"), *exact_samples(), shape="polynomial")
    k = result.coefficients
    assert [k["a"], k["b"], k["c"]] == pytest.approx([OVERHEAD_S + A, B, C], rel=1e-6)
    assert [k["d"], k["e"], k["f"]] == pytest.approx([D, E, F], rel=1e-6)
    poly = result.preset.polynomial
    assert result.preset.timing == "polynomial"
    # TTFT's constant beyond the decode step's is waiting outside the engine (request overhead)
    assert poly.prefill_base_s == pytest.approx(D)
    assert result.preset.engine.request_overhead_s == pytest.approx(OVERHEAD_S + A - D)
    assert result.errors["ttft"] < 1e-6
    assert result.errors["itl"] < 1e-6


def test_the_engine_times_steps_by_the_polynomial_offline() -> None:
    poly = PolynomialTiming(A, B, C, D, F, E)
    preset = override(
        builtin("cloud-warm"),
        {
            "timing": "polynomial",
            "noise.jitter_sigma": 0.0,
            "noise.stall_probability": 0.0,
            "engine.request_overhead_s": 0.0,
            **{f"polynomial.{k}": v for k, v in _fields(poly).items()},
        },
    )
    assert from_dict(to_dict(preset)) == preset  # a preset file keeps the polynomial
    timing = predict(preset, [0.0], input_tokens=1000, output_tokens=3).requests[0]
    assert timing.first_token_s == pytest.approx(A + B * 1000 + C * 1000**2)
    gaps = np.diff(timing.token_s)
    # decode steps over 1000 then 1001 tokens in the KV cache (the prompt, then one generated)
    assert gaps == pytest.approx([D + F * 1000 + E, D + F * 1001 + E])
    # A mixed step pays the larger constant once, then both variable parts.
    cost = StepCost(preset, random.Random(0))
    mixed = cost.base_seconds(2, 600.0, 180_000.0, [(100, 0), (50, 0)])
    assert mixed == pytest.approx(D + F * 600 + E * 2 + B * 150 + C * (100**2 + 50**2))


def _fields(poly: PolynomialTiming) -> dict[str, float]:
    return {name: getattr(poly, name) for name in poly.__dataclass_fields__}


def test_closed_loop_sends_each_next_request_after_the_previous_ends() -> None:
    preset = override(
        builtin("cloud-warm"), {"noise.jitter_sigma": 0.0, "noise.stall_probability": 0.0}
    )
    out = replay_closed_loop(
        preset, streams=2, prompts=[256] * 6, output_tokens=8, think_s=0.001
    ).requests
    assert len(out) == 6
    assert [t.arrival_s for t in out[:2]] == [0.0, 0.0]
    ends = sorted(t.end_s or 0.0 for t in out)
    # each later send is 1 ms after one of the earlier requests ended
    for timing in out[2:]:
        assert any(timing.arrival_s == pytest.approx(end + 0.001) for end in ends)
    assert all(len(t.token_s) == 8 for t in out)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 8192), st.floats(-1.0, 1.0, allow_nan=False)),
        min_size=3,
        max_size=20,
    )
)
def test_nnls_never_returns_a_negative_coefficient(points: list[tuple[int, float]]) -> None:
    n = [float(x) for x, _ in points]
    target = [y for _, y in points]  # any sign: a decreasing trend cannot give b < 0
    solution = _nnls([[1.0] * len(n), n, [x * x for x in n]], target)
    assert all(value >= 0 for value in solution)


def test_too_few_decode_points_name_the_concurrency_sweep() -> None:
    ttft, _ = exact_samples()
    with pytest.raises(ValueError, match="concurrency sweep"):
        fit(builtin("cloud-warm"), ttft, [ItlSample(1, 256.0, 0.01)], shape="polynomial")
    with pytest.raises(ValueError, match="input-length sweep"):
        fit(builtin("cloud-warm"), ttft[:2], exact_samples()[1])


def test_closed_loop_replays_a_shared_prefix_through_the_prefix_cache() -> None:
    preset = override(builtin("cloud-warm"), {"engine.min_cacheable_tokens": 0})
    out = replay_closed_loop(
        preset, streams=1, prompts=[256] * 3, output_tokens=4, prefix_tokens=128
    ).requests
    # 128 shared tokens = 8 whole blocks of 16: cached once the first request has ended
    assert [t.cached_tokens for t in out] == [0, 128, 128]
    assert (out[1].first_token_s or 0) - out[1].arrival_s < (out[0].first_token_s or 0)


def test_replayed_arrivals_match_the_offline_prediction_token_for_token() -> None:
    preset = builtin("cloud-warm")  # with its noise: both draw it in step order from one seed
    arrivals = poisson_arrivals(12.0, 20.0, seed=3)
    ours = replay_arrivals(preset, arrivals, prompts=[700] * len(arrivals), output_tokens=40)
    theirs = predict(preset, arrivals, input_tokens=700, output_tokens=40)
    assert ours.steps == theirs.steps
    for a, b in zip(ours.requests, theirs.requests, strict=True):
        assert a.token_s == pytest.approx(b.token_s, abs=1e-12)
