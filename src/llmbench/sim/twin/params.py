"""Parameters of the serving-engine twin: model shape, hardware, engine policy and noise.

Frozen dataclasses validated on construction (ValueError); durations in float seconds, rates
per second, sizes in bytes. A `Preset` bundles one of each; `sim/presets.py` names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Batching = Literal["continuous", "static"]
TimingKind = Literal["roofline", "fixed", "polynomial"]


def _positive(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not value > 0 or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be > 0, got {value!r}")


def _non_negative(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not value >= 0 or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class ModelParams:
    """The served model's shape; weights and KV cache sizes follow from it."""

    n_params: float = 8.0e9
    layers: int = 32
    heads: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    weight_bytes_per_param: float = 2.0
    kv_bytes_per_value: float = 2.0
    max_model_len: int = 32768

    def __post_init__(self) -> None:
        _positive(self, *self.__dataclass_fields__)

    @property
    def weight_bytes(self) -> float:
        return self.n_params * self.weight_bytes_per_param

    @property
    def kv_bytes_per_token(self) -> float:
        """K and V, every layer, every KV head: 2·L·H_kv·d·bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.kv_bytes_per_value

    @property
    def attention_width(self) -> int:
        """Query heads × head dim: the width of the attention products."""
        return self.heads * self.head_dim


@dataclass(frozen=True, slots=True)
class HardwareParams:
    """One accelerator (or one tensor-parallel group seen as one): peaks and efficiencies."""

    peak_flops: float = 989e12
    mem_bandwidth_bytes_per_s: float = 3.35e12
    compute_efficiency: float = 0.5
    memory_efficiency: float = 0.8
    memory_bytes: float = 80e9
    memory_utilization: float = 0.9
    activation_reserve_bytes: float = 2e9

    def __post_init__(self) -> None:
        _positive(self, *self.__dataclass_fields__)
        for name in ("compute_efficiency", "memory_efficiency", "memory_utilization"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be <= 1, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Scheduling policy, KV cache layout and fixed overheads of the serving engine."""

    batching: Batching = "continuous"
    max_seqs: int = 256
    max_batched_tokens: int = 8192
    chunked_prefill: bool = True
    block_tokens: int = 16
    kv_blocks: int = 0  # 0: as many as the memory left after weights holds
    watermark: float = 0.01
    prefix_cache: bool = True
    min_cacheable_tokens: int = 0
    cache_ttl_s: float = 0.0  # 0: cached blocks never expire (only LRU eviction)
    step_overhead_s: float = 0.002
    seq_overhead_s: float = 0.00005
    request_overhead_s: float = 0.005
    mixed_length_factor: float = 0.1
    cold_start_s: float = 0.0
    idle_timeout_s: float = 0.0  # 0: never goes cold
    start_cold: bool = False  # cold when the server starts: its first step waits cold_start_s

    def __post_init__(self) -> None:
        if self.batching not in ("continuous", "static"):
            raise ValueError(f"batching must be 'continuous' or 'static', got {self.batching!r}")
        _positive(self, "max_seqs", "max_batched_tokens", "block_tokens")
        _non_negative(
            self,
            "kv_blocks",
            "watermark",
            "min_cacheable_tokens",
            "cache_ttl_s",
            "step_overhead_s",
            "seq_overhead_s",
            "request_overhead_s",
            "mixed_length_factor",
            "cold_start_s",
            "idle_timeout_s",
        )
        if self.watermark >= 1:
            raise ValueError(f"watermark must be < 1, got {self.watermark!r}")


@dataclass(frozen=True, slots=True)
class NoiseParams:
    """Seeded step-time noise: mean-one log-normal jitter and rare heavy-tail stalls."""

    jitter_sigma: float = 0.0
    stall_probability: float = 0.0
    stall_s: float = 0.0

    def __post_init__(self) -> None:
        _non_negative(self, *self.__dataclass_fields__)
        if self.stall_probability > 1:
            raise ValueError(f"stall_probability must be <= 1, got {self.stall_probability!r}")


@dataclass(frozen=True, slots=True)
class FixedTiming:
    """The `deterministic` timing: every request alone, TTFT then one token every ITL."""

    ttft_s: float = 0.2
    itl_s: float = 0.02

    def __post_init__(self) -> None:
        _non_negative(self, "ttft_s", "itl_s")


@dataclass(frozen=True, slots=True)
class PolynomialTiming:
    """Step time from fitted coefficients when the model shape is unknown (`sim calibrate
    --shape unknown`): prefill a + b·Σl + c·Σl² over the chunks' new tokens l, decode
    a + b·Σcontext + c·B over the B decoding sequences; a mixed step pays the larger constant."""

    prefill_base_s: float = 0.0
    prefill_per_token_s: float = 0.0
    prefill_per_token_sq_s: float = 0.0
    decode_base_s: float = 0.0
    decode_per_context_token_s: float = 0.0
    decode_per_seq_s: float = 0.0

    def __post_init__(self) -> None:
        _non_negative(self, *self.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Preset:
    """Everything the twin needs; `timing='fixed'` ignores all but `fixed` and overheads;
    `timing='polynomial'` times steps by `polynomial` (the model sizes only the KV cache)."""

    name: str
    description: str = ""
    timing: TimingKind = "roofline"
    model: ModelParams = field(default_factory=ModelParams)
    hardware: HardwareParams = field(default_factory=HardwareParams)
    engine: EngineParams = field(default_factory=EngineParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    fixed: FixedTiming = field(default_factory=FixedTiming)
    polynomial: PolynomialTiming = field(default_factory=PolynomialTiming)

    def __post_init__(self) -> None:
        if self.timing not in ("roofline", "fixed", "polynomial"):
            raise ValueError(
                f"timing must be 'roofline', 'fixed' or 'polynomial', got {self.timing!r}"
            )
        if self.timing != "fixed" and self.total_kv_blocks() < 1:
            raise ValueError(
                "the model's weights leave no memory for the KV cache: "
                "raise hardware.memory_bytes or set engine.kv_blocks"
            )

    def total_kv_blocks(self) -> int:
        """KV blocks available: configured, or what the memory left after weights holds."""
        if self.engine.kv_blocks:
            return self.engine.kv_blocks
        hw = self.hardware
        free_bytes = (
            hw.memory_bytes * hw.memory_utilization
            - self.model.weight_bytes
            - hw.activation_reserve_bytes
        )
        block_bytes = self.model.kv_bytes_per_token * self.engine.block_tokens
        return max(0, int(free_bytes // block_bytes))
