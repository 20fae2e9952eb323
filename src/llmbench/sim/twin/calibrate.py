"""Calibration of a preset from request-level measurements. Known model shape: non-negative
least squares on the roofline's terms (decode gap = step + seq·B + bytes / byte rate; low-load
TTFT = a + FLOPs / compute rate over the compute-bound prompts), read as efficiencies and
overheads. Unknown shape: the polynomials of `PolynomialTiming`. Plain samples in, a `Fit` out.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import nnls

from llmbench.sim.twin.params import PolynomialTiming, Preset
from llmbench.sim.twin.steptime import StepCost

Shape = Literal["roofline", "polynomial"]
_MIN_TTFT_LENGTHS = 3  # a + b·n + c·n² needs three distinct prompt lengths
_MIN_ITL_POINTS = 3  # d + e·B + f·B·context needs three distinct (B, context) points
_REFITS = 8

TTFT_HINT = (
    "an input-length sweep at concurrency 1, e.g. llmbench run --profile input-sweep "
    "--input-tokens 256,1024,2048 --concurrency 1"
)
ITL_HINT = (
    "a concurrency sweep, e.g. llmbench run --profile concurrency-sweep --concurrency 1,4,16 "
    "(and the input-length sweep at concurrency 1 for a second context length)"
)


@dataclass(frozen=True, slots=True)
class TtftSample:
    """One request at low load (nothing else running): its prompt tokens not served from the
    prefix cache, the cached ones, and its TTFT."""

    uncached_tokens: int
    ttft_s: float
    cached_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ItlSample:
    """A decode step time (e.g. a run's median gap) at batch size `batch`, mean context."""

    batch: int
    context_tokens: float
    itl_s: float


@dataclass(frozen=True, slots=True)
class Fit:
    preset: Preset
    shape: Shape
    coefficients: dict[str, float]
    errors: dict[str, float]  # mean |relative error| of the fitted preset on its own samples
    notes: tuple[str, ...] = ()


def _nnls(columns: list[list[float]], target: list[float]) -> list[float]:
    matrix = np.array(columns, dtype=np.float64).T
    # Scale columns to unit norm: NNLS on raw n² (≈ 1e7) next to 1 is badly conditioned.
    norms = np.linalg.norm(matrix, axis=0)
    norms[norms == 0] = 1.0
    solution, _ = nnls(matrix / norms, np.array(target, dtype=np.float64))
    return [float(x) for x in solution / norms]


def check_samples(ttft: Sequence[TtftSample], itl: Sequence[ItlSample]) -> None:
    """ValueError naming the sweep that is missing when the samples cannot determine a fit."""
    lengths = {s.uncached_tokens for s in ttft}
    if len(lengths) < _MIN_TTFT_LENGTHS:
        raise ValueError(
            f"low-load TTFT samples at {len(lengths)} prompt length(s), need >= "
            f"{_MIN_TTFT_LENGTHS}: measure {TTFT_HINT}"
        )
    points = {(s.batch, round(s.context_tokens)) for s in itl}
    batches = {s.batch for s in itl}
    if len(points) < _MIN_ITL_POINTS or len(batches) < 2:
        raise ValueError(
            f"decode samples at {len(points)} (batch, context) point(s) and {len(batches)} "
            f"batch size(s), need >= {_MIN_ITL_POINTS} and >= 2: measure {ITL_HINT}"
        )


def fit(
    base: Preset,
    ttft: Sequence[TtftSample],
    itl: Sequence[ItlSample],
    *,
    shape: Shape = "roofline",
) -> Fit:
    """`base` refitted to the samples: efficiencies and overheads on its model shape
    (`roofline`), or polynomial step times when the shape is unknown (`polynomial`)."""
    check_samples(ttft, itl)
    max_seqs = base.engine.max_seqs
    batch = [float(min(s.batch, max_seqs)) for s in itl]  # the engine never batches more
    if shape == "polynomial":
        load = [b * s.context_tokens for b, s in zip(batch, itl, strict=True)]
        d, e, f = _nnls([[1.0] * len(batch), batch, load], [s.itl_s for s in itl])
        preset, coefficients = _polynomial(base, ttft, d, e, f)
        notes: tuple[str, ...] = ()
    else:
        preset, coefficients, notes = _roofline(base, ttft, itl, batch)
    return Fit(preset, shape, coefficients, _errors(preset, ttft, itl), notes)


def _polynomial(
    base: Preset, ttft: Sequence[TtftSample], d: float, e: float, f: float
) -> tuple[Preset, dict[str, float]]:
    n = [float(s.uncached_tokens) for s in ttft]
    a, b, c = _nnls([[1.0] * len(n), n, [x * x for x in n]], [s.ttft_s for s in ttft])
    # TTFT's constant is the prefill step's plus the request's own (gateway, network) part;
    # the step is taken as the decode step's constant, the rest waits outside the engine.
    prefill_base_s = min(a, d)
    poly = PolynomialTiming(
        prefill_base_s=prefill_base_s,
        prefill_per_token_s=b,
        prefill_per_token_sq_s=c,
        decode_base_s=d,
        decode_per_context_token_s=f,
        decode_per_seq_s=e,
    )
    engine = dataclasses.replace(
        base.engine, step_overhead_s=0.0, seq_overhead_s=0.0, request_overhead_s=a - prefill_base_s
    )
    preset = dataclasses.replace(base, timing="polynomial", polynomial=poly, engine=engine)
    return preset, {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def _roofline(
    base: Preset, ttft: Sequence[TtftSample], itl: Sequence[ItlSample], batch: list[float]
) -> tuple[Preset, dict[str, float], tuple[str, ...]]:
    """Decode (memory-bound): gap = step + seq·B + (weights + kv·B·(1 + context)) / byte rate,
    NNLS in (step, seq, 1/byte rate); then the prefill's compute rate on the TTFT samples."""
    model, hw = base.model, base.hardware
    notes: list[str] = []
    moved = [
        model.weight_bytes + model.kv_bytes_per_token * b * (1.0 + s.context_tokens)
        for b, s in zip(batch, itl, strict=True)
    ]
    gaps = [s.itl_s for s in itl]
    step_s, seq_s, per_byte = _nnls([[1.0] * len(batch), batch, moved], gaps)
    memory_eff = hw.memory_efficiency
    refit = True
    if per_byte > 0:
        raw = 1.0 / (hw.mem_bandwidth_bytes_per_s * per_byte)
        memory_eff = _clamp(raw)
        refit = memory_eff != raw
    else:
        notes.append("no bytes cost visible in the decode samples: memory efficiency kept")
    if refit:  # clamped or kept: the overheads refitted with that byte rate
        byte_s = [m / (hw.mem_bandwidth_bytes_per_s * memory_eff) for m in moved]
        step_s, seq_s = _nnls(
            [[1.0] * len(batch), batch], [g - t for g, t in zip(gaps, byte_s, strict=True)]
        )
    decoded = dataclasses.replace(
        base,
        hardware=dataclasses.replace(hw, memory_efficiency=memory_eff),
        engine=dataclasses.replace(base.engine, step_overhead_s=step_s, seq_overhead_s=seq_s),
    )
    compute_eff, a, fitted_on = _compute_efficiency(decoded, ttft)
    if fitted_on == 0:
        notes.append("every prompt was memory-bound: compute efficiency kept from the base")
    preset = dataclasses.replace(
        decoded, hardware=dataclasses.replace(decoded.hardware, compute_efficiency=compute_eff)
    )
    request_s = max(0.0, _mean_residual(preset, ttft))
    preset = dataclasses.replace(
        preset, engine=dataclasses.replace(preset.engine, request_overhead_s=request_s)
    )
    coefficients = {
        "ttft_base_s": a,
        "step_s": step_s,
        "seq_s": seq_s,
        "s_per_byte": per_byte,
        "compute_bound_samples": float(fitted_on),
    }
    return preset, coefficients, tuple(notes)


def _prefill_flops(preset: Preset, sample: TtftSample) -> float:
    """FLOPs of one prefill of the sample's uncached tokens over its cached ones (steptime)."""
    model = preset.model
    n, p = sample.uncached_tokens, sample.cached_tokens
    return 2.0 * model.n_params * n + 4.0 * model.layers * model.attention_width * n * (
        p + (n + 1) / 2
    )


def _compute_efficiency(preset: Preset, ttft: Sequence[TtftSample]) -> tuple[float, float, int]:
    """TTFT = a + FLOPs / rate, fitted on the prompts that are compute-bound at that rate:
    starts from all, drops those whose compute time falls under their memory time, refits."""
    hw = preset.hardware
    flops = [_prefill_flops(preset, s) for s in ttft]
    memory_s = [_memory_s(preset, s) for s in ttft]
    chosen = list(range(len(ttft)))
    compute_eff, a = hw.compute_efficiency, 0.0
    for _ in range(_REFITS):
        if len({ttft[i].uncached_tokens for i in chosen}) < 2:
            return hw.compute_efficiency, a, 0
        a, per_flop = _nnls(
            [[1.0] * len(chosen), [flops[i] for i in chosen]], [ttft[i].ttft_s for i in chosen]
        )
        if per_flop <= 0:
            return hw.compute_efficiency, a, 0
        compute_eff = _clamp(1.0 / (hw.peak_flops * per_flop))
        rate = hw.peak_flops * compute_eff
        bound = [i for i in range(len(ttft)) if flops[i] / rate >= memory_s[i]]
        if bound == chosen:
            break
        chosen = bound
    return compute_eff, a, len(chosen)


def _memory_s(preset: Preset, sample: TtftSample) -> float:
    model, hw = preset.model, preset.hardware
    tokens = sample.uncached_tokens + sample.cached_tokens
    return (model.weight_bytes + model.kv_bytes_per_token * tokens) / (
        hw.mem_bandwidth_bytes_per_s * hw.memory_efficiency
    )


def _prefill_s(cost: StepCost, sample: TtftSample) -> float:
    return cost.base_seconds(0, 0.0, 0.0, [(sample.uncached_tokens, sample.cached_tokens)])


def _mean_residual(preset: Preset, ttft: Sequence[TtftSample]) -> float:
    """The request overhead that makes the model's mean TTFT the samples' mean."""
    cost = StepCost(preset, random.Random(0))
    return float(np.mean([s.ttft_s - _prefill_s(cost, s) for s in ttft]))


def _clamp(efficiency: float) -> float:
    return min(1.0, max(1e-3, efficiency))


def _errors(
    preset: Preset, ttft: Sequence[TtftSample], itl: Sequence[ItlSample]
) -> dict[str, float]:
    cost = StepCost(preset, random.Random(0))
    overhead_s = preset.engine.request_overhead_s
    ttft_err = [abs(overhead_s + _prefill_s(cost, s) - s.ttft_s) / s.ttft_s for s in ttft]
    itl_err = []
    for s in itl:
        batch = min(s.batch, preset.engine.max_seqs)
        total = batch * s.context_tokens
        modelled_s = cost.base_seconds(batch, total, total * s.context_tokens, [])
        itl_err.append(abs(modelled_s - s.itl_s) / s.itl_s)
    return {"ttft": float(np.mean(ttft_err)), "itl": float(np.mean(itl_err))}
