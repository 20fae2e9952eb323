"""Time of one engine step from a roofline over the batch actually scheduled, plus overheads and
seeded noise. Float seconds throughout; equations in docs/simulator.md.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from llmbench.sim.twin.params import Preset


class StepCost:
    """`seconds(...)`: max(compute, memory) + per-step and per-sequence overheads, then noise."""

    def __init__(self, preset: Preset, rng: random.Random) -> None:
        model, hw, engine = preset.model, preset.hardware, preset.engine
        self._poly = preset.polynomial if preset.timing == "polynomial" else None
        self._flops_per_token = 2.0 * model.n_params
        # 4·L·W per (query token × context token): QKᵀ and AV, 2 FLOPs per multiply-add each.
        self._attn_flops = 4.0 * model.layers * model.attention_width
        self._flop_rate = hw.peak_flops * hw.compute_efficiency
        self._byte_rate = hw.mem_bandwidth_bytes_per_s * hw.memory_efficiency
        self._weight_bytes = model.weight_bytes
        self._kv_bytes = model.kv_bytes_per_token
        self._step_s = engine.step_overhead_s
        self._seq_s = engine.seq_overhead_s
        self._mixed = engine.mixed_length_factor
        noise = preset.noise
        self._sigma = noise.jitter_sigma
        self._mu = -0.5 * noise.jitter_sigma**2  # keeps the jitter's mean at exactly 1
        self._stall_p = noise.stall_probability
        self._stall_s = noise.stall_s
        self._rng = rng

    def base_seconds(
        self,
        n_decode: int,
        sum_ctx: float,
        sum_ctx_sq: float,
        prefills: Sequence[tuple[int, int]],
    ) -> float:
        """Noise-free step time.

        `n_decode` sequences decode one token each over contexts summing to `sum_ctx` (squares
        `sum_ctx_sq`, for the spread); `prefills` are (new tokens, tokens already computed).
        """
        if self._poly is not None:
            return self._polynomial(n_decode, sum_ctx, prefills)
        tokens = n_decode
        attn_tokens = 0.0  # query × context products, in tokens²
        kv_read = 0.0
        if n_decode:
            # Unequal contexts: the longest sequences set the pace of the attention kernels.
            mean_sq = sum_ctx * sum_ctx
            spread = math.sqrt(max(0.0, n_decode * sum_ctx_sq / mean_sq - 1.0)) if mean_sq else 0.0
            factor = 1.0 + self._mixed * spread
            attn_tokens = sum_ctx * factor
            kv_read = sum_ctx * factor
        for new, done in prefills:  # usually none: most steps only decode
            tokens += new
            attn_tokens += new * (done + (new + 1) / 2)
            kv_read += done
        compute_s = (self._flops_per_token * tokens + self._attn_flops * attn_tokens) / (
            self._flop_rate
        )
        memory_s = (self._weight_bytes + self._kv_bytes * (kv_read + tokens)) / self._byte_rate
        n_seqs = n_decode + len(prefills)
        return max(compute_s, memory_s) + self._step_s + self._seq_s * n_seqs

    def _polynomial(
        self, n_decode: int, sum_ctx: float, prefills: Sequence[tuple[int, int]]
    ) -> float:
        """Fitted coefficients instead of the roofline (model shape unknown)."""
        poly = self._poly
        assert poly is not None
        seconds = 0.0
        base_s = 0.0
        if n_decode:
            base_s = poly.decode_base_s
            seconds += poly.decode_per_context_token_s * sum_ctx + poly.decode_per_seq_s * n_decode
        if prefills:
            base_s = max(base_s, poly.prefill_base_s)
            new = [n for n, _ in prefills]
            seconds += poly.prefill_per_token_s * sum(new)
            seconds += poly.prefill_per_token_sq_s * sum(n * n for n in new)
        return base_s + seconds

    def noisy(self, base_s: float) -> float:
        """Mean-one log-normal jitter and, rarely, a stall on top."""
        rng = self._rng
        seconds = base_s
        if self._sigma:
            seconds *= math.exp(rng.gauss(self._mu, self._sigma))
        if self._stall_p and rng.random() < self._stall_p:
            seconds += self._stall_s
        return seconds
