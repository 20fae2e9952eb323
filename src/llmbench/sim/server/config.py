"""Configuration of the simulated target: timing, model name, limits and optional API key.

Durations are configured in milliseconds (the unit people type) and exposed as integer
nanoseconds, the unit the server schedules and logs in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmbench.sim.server.settings import SimSettings
from llmbench.sim.twin.params import Preset

_NS_PER_MS = 1_000_000
_DEFAULT = SimSettings()  # the chosen settings' defaults are defined there, once


@dataclass(frozen=True, slots=True)
class SimConfig:
    """How the deterministic simulator behaves; validated on construction (ValueError)."""

    ttft_ms: float = _DEFAULT.ttft_ms
    itl_ms: float = _DEFAULT.itl_ms
    jitter_ms: float = _DEFAULT.jitter_ms
    seed: int = _DEFAULT.seed
    tokens_per_chunk: int = _DEFAULT.tokens_per_chunk
    model: str = _DEFAULT.model
    # repr=False: the key must never show up in logs or tracebacks.
    api_key: str | None = field(default=None, repr=False)
    max_tokens_limit: int = 32768
    max_body_bytes: int = 8 * 1024 * 1024
    log_capacity: int = _DEFAULT.log_capacity
    # ((fault header value, probability), ...) drawn per request; see sim/faults.py.
    fault_rates: tuple[tuple[str, float], ...] = ()
    fault_seed: int = _DEFAULT.fault_seed
    # The serving-engine twin: when set, it times every response instead of ttft/itl/jitter.
    twin: Preset | None = None
    # The task face's plan shape and faults (sim/server/task_state.py), `key:value,...`.
    task_options: str | None = None
    prefill_us_per_token: float = _DEFAULT.prefill_us_per_token
    image_patch_px: int = _DEFAULT.image_patch_px
    image_max_tokens: int = _DEFAULT.image_max_tokens
    reply: str = _DEFAULT.reply
    agent_think_tokens: int = _DEFAULT.agent_think_tokens
    agent_finish_after: int = _DEFAULT.agent_finish_after

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "itl_ms", "jitter_ms", "prefill_us_per_token"):
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

    @classmethod
    def from_settings(
        cls, settings: SimSettings, *, api_key: str | None = None, twin: Preset | None = None
    ) -> SimConfig:
        """The running server's configuration: the chosen settings plus what is resolved at
        start (the key from its variable, the twin from its preset)."""
        if twin is not None and twin.timing == "fixed":  # deterministic: the exact fixed path
            ttft_ms, itl_ms, twin = twin.fixed.ttft_s * 1000, twin.fixed.itl_s * 1000, None
        else:
            ttft_ms, itl_ms = settings.ttft_ms, settings.itl_ms
        return cls(
            ttft_ms=ttft_ms, itl_ms=itl_ms, jitter_ms=settings.jitter_ms, seed=settings.seed,
            tokens_per_chunk=settings.tokens_per_chunk, model=settings.model, api_key=api_key,
            log_capacity=settings.log_capacity, fault_rates=settings.fault_rates(),
            fault_seed=settings.fault_seed, twin=twin,
            prefill_us_per_token=settings.prefill_us_per_token,
            image_patch_px=settings.image_patch_px, image_max_tokens=settings.image_max_tokens,
            reply=settings.reply, agent_think_tokens=settings.agent_think_tokens,
            agent_finish_after=settings.agent_finish_after, task_options=settings.task_options,
        )  # fmt: skip

    @property
    def ttft_ns(self) -> int:
        return round(self.ttft_ms * _NS_PER_MS)

    def prefill_ns(self, prompt_tokens: int) -> int:
        """Fixed timing: what a prompt adds to TTFT (`prefill_us_per_token` per token)."""
        return round(prompt_tokens * self.prefill_us_per_token * 1000)

    @property
    def itl_ns(self) -> int:
        return round(self.itl_ms * _NS_PER_MS)

    @property
    def jitter_ns(self) -> float:
        return self.jitter_ms * _NS_PER_MS
