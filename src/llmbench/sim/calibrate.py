"""Calibration of a preset from request-level measurements: non-negative least squares on the
roofline's terms (TTFT = a + b·n + c·n² at low load; decode gap = d + e·B + f·B·context), the
coefficients mapped back to efficiencies and overheads. Plain samples in, a `Fit` out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from llmbench.sim.params import Preset

_MIN_TTFT_SAMPLES = 3
_MIN_ITL_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class TtftSample:
    """One request at low load (nothing else running): its uncached prompt tokens and TTFT."""

    uncached_tokens: int
    ttft_s: float


@dataclass(frozen=True, slots=True)
class ItlSample:
    """A decode step time (e.g. a run's median gap) at batch size `batch`, mean context."""

    batch: int
    context_tokens: float
    itl_s: float


@dataclass(frozen=True, slots=True)
class Fit:
    preset: Preset
    coefficients: dict[str, float]
    errors: dict[str, float]  # mean |relative error| of the fitted preset on its own samples


def _nnls(columns: list[list[float]], target: list[float]) -> np.ndarray:
    matrix = np.array(columns, dtype=np.float64).T
    # Scale columns to unit norm: NNLS on raw n² (≈ 1e7) next to 1 is badly conditioned.
    norms = np.linalg.norm(matrix, axis=0)
    norms[norms == 0] = 1.0
    solution, _ = nnls(matrix / norms, np.array(target, dtype=np.float64))
    return solution / norms  # type: ignore[no-any-return]


def fit(base: Preset, ttft: Sequence[TtftSample], itl: Sequence[ItlSample]) -> Fit:
    """Efficiencies and overheads of `base` refitted to the samples; its model shape is kept."""
    if len(ttft) < _MIN_TTFT_SAMPLES or len(itl) < _MIN_ITL_SAMPLES:
        raise ValueError(
            f"need >= {_MIN_TTFT_SAMPLES} low-load TTFT samples (an input-length sweep at "
            f"concurrency 1) and >= {_MIN_ITL_SAMPLES} decode samples (a concurrency sweep)"
        )
    n = [float(s.uncached_tokens) for s in ttft]
    a, b, c = _nnls([[1.0] * len(n), n, [x * x for x in n]], [s.ttft_s for s in ttft])
    batch = [float(s.batch) for s in itl]
    load = [s.batch * s.context_tokens for s in itl]
    d, e, f = _nnls([[1.0] * len(batch), batch, load], [s.itl_s for s in itl])
    preset = _map(base, a, b, d, e, f)
    coefficients = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}
    return Fit(preset, coefficients, _errors(preset, ttft, itl))


def _map(base: Preset, a: float, b: float, d: float, e: float, f: float) -> Preset:
    model, hw, engine = base.model, base.hardware, base.engine
    flops_per_token = 2 * model.n_params + 2 * model.layers * model.attention_width
    compute_eff = _clamp(flops_per_token / (hw.peak_flops * b)) if b > 0 else hw.compute_efficiency
    if f > 0:
        memory_eff = _clamp(model.kv_bytes_per_token / (hw.mem_bandwidth_bytes_per_s * f))
    else:  # no visible context cost: attribute the constant to the weights, keep the overhead
        weights_s = max(d - engine.step_overhead_s, 1e-6)
        memory_eff = _clamp(model.weight_bytes / (hw.mem_bandwidth_bytes_per_s * weights_s))
    byte_rate = hw.mem_bandwidth_bytes_per_s * memory_eff
    step_s = max(0.0, d - model.weight_bytes / byte_rate)
    seq_s = max(0.0, e - model.kv_bytes_per_token / byte_rate)
    request_s = max(0.0, a - step_s - seq_s)
    return dataclasses.replace(
        base,
        hardware=dataclasses.replace(
            hw, compute_efficiency=compute_eff, memory_efficiency=memory_eff
        ),
        engine=dataclasses.replace(
            engine, step_overhead_s=step_s, seq_overhead_s=seq_s, request_overhead_s=request_s
        ),
    )


def _clamp(efficiency: float) -> float:
    return min(1.0, max(1e-3, efficiency))


def _errors(
    preset: Preset, ttft: Sequence[TtftSample], itl: Sequence[ItlSample]
) -> dict[str, float]:
    import random

    from llmbench.sim.steptime import StepCost

    cost = StepCost(preset, random.Random(0))
    overhead_s = preset.engine.request_overhead_s
    ttft_err = [
        abs(overhead_s + cost.base_seconds(0, 0.0, 0.0, [(s.uncached_tokens, 0)]) - s.ttft_s)
        / s.ttft_s
        for s in ttft
    ]
    itl_err = []
    for s in itl:
        total = s.batch * s.context_tokens
        modelled_s = cost.base_seconds(s.batch, total, total * s.context_tokens, [])
        itl_err.append(abs(modelled_s - s.itl_s) / s.itl_s)
    return {"ttft": float(np.mean(ttft_err)), "itl": float(np.mean(itl_err))}
