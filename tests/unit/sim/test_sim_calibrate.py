"""Calibration round trip on the virtual clock: samples measured from preset A (an input-length
sweep at concurrency 1, decode bursts at several batch sizes), fitted from another preset's
efficiencies and overheads, predict an unmeasured load within 10% of preset A.
"""

from __future__ import annotations

import numpy as np
import pytest

from llmbench.sim.twin.calibrate import ItlSample, TtftSample, fit
from llmbench.sim.twin.offline import poisson_arrivals, predict
from llmbench.sim.twin.params import Preset
from llmbench.sim.twin.presets import builtin, override

TRUTH = override(
    builtin("cloud-warm"),
    {
        "hardware.compute_efficiency": 0.3,
        "hardware.memory_efficiency": 0.55,
        "engine.step_overhead_s": 0.004,
        "engine.request_overhead_s": 0.03,
        "noise.jitter_sigma": 0.02,
        "noise.stall_probability": 0.0,
    },
)


def measure(preset: Preset) -> tuple[list[TtftSample], list[ItlSample]]:
    ttft = []
    for n in (256, 512, 1024, 2048, 4096):
        for arrival in (0.0, 10.0, 20.0):
            timing = predict(preset, [arrival], input_tokens=n, output_tokens=2).requests[0]
            assert timing.first_token_s is not None
            ttft.append(TtftSample(n, timing.first_token_s - arrival))
    itl = []
    for batch in (1, 8, 32, 96):
        for context in (256, 2048):
            out = predict(preset, [0.0] * batch, input_tokens=context, output_tokens=64)
            gaps = np.concatenate([np.diff(t.token_s) for t in out.requests])
            itl.append(ItlSample(batch, context + 32, float(np.median(gaps))))
    return ttft, itl


def test_a_fitted_preset_predicts_an_unmeasured_load_within_10_percent() -> None:
    ttft, itl = measure(TRUTH)
    fitted = fit(builtin("cloud-warm"), ttft, itl)
    assert fitted.errors["ttft"] < 0.05
    assert fitted.errors["itl"] < 0.05
    arrivals = poisson_arrivals(15.0, 60.0, seed=4)

    def means(preset: Preset) -> tuple[float, float]:
        out = predict(preset, arrivals, input_tokens=1500, output_tokens=96).requests
        ttfts = [(t.first_token_s or 0.0) - t.arrival_s for t in out]
        gaps = np.concatenate([np.diff(t.token_s) for t in out])
        return float(np.mean(ttfts)), float(np.mean(gaps))

    (ttft_true, itl_true), (ttft_fit, itl_fit) = means(TRUTH), means(fitted.preset)
    assert ttft_fit == pytest.approx(ttft_true, rel=0.10)
    assert itl_fit == pytest.approx(itl_true, rel=0.10)


def test_too_few_samples_say_which_sweep_is_missing() -> None:
    with pytest.raises(ValueError, match="input-length sweep"):
        fit(builtin("cloud-warm"), [TtftSample(10, 0.1)], [])
