"""Configuration of the simulated target: timing, model name, limits and optional API key.

Durations are configured in milliseconds (the unit people type) and exposed as integer
nanoseconds, the unit the server schedules and logs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmbench.sim.twin.params import Preset

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the deterministic simulator behaves; validated on construction (ValueError)."""

    ttft_ms: float = 200.0
    itl_ms: float = 20.0
    jitter_ms: float = 0.0
    seed: int = 1
    tokens_per_chunk: int = 1
    model: str = "llmbench-sim"
    # repr=False: the key must never show up in logs or tracebacks.
    api_key: str | None = field(default=None, repr=False)
    max_tokens_limit: int = 32768
    max_body_bytes: int = 8 * 1024 * 1024
    log_capacity: int = 100_000
    # ((fault header value, probability), ...) drawn per request; see sim/faults.py.
    fault_rates: tuple[tuple[str, float], ...] = ()
    fault_seed: int = 1
    # The serving-engine twin: when set, it times every response instead of ttft/itl/jitter.
    twin: Preset | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "itl_ms", "jitter_ms"):
            value = getattr(self, name)
            if not value >= 0.0:  # also rejects NaN
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        for name in ("tokens_per_chunk", "max_tokens_limit", "max_body_bytes", "log_capacity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.model:
            raise ValueError("model must be a non-empty string")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be None or a non-empty string")

    @property
    def ttft_ns(self) -> int:
        return round(self.ttft_ms * _NS_PER_MS)

    @property
    def itl_ns(self) -> int:
        return round(self.itl_ms * _NS_PER_MS)

    @property
    def jitter_ns(self) -> float:
        return self.jitter_ms * _NS_PER_MS
