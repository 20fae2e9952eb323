"""The simulated target's settings, defined once: what `llmbench sim serve` takes as flags or as
`--config-json`, and what a run stores for its embedded simulator (`RunSpec.sim`). A pydantic
model importing only the fault-rate, task-option and preset checks, so that llmbench's config
may hold it without the server (the one, narrow exception to "only prediction/ and cli/ import
sim"; pyproject.toml).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmbench.sim.server.faults import FaultError, parse_fault_rates
from llmbench.sim.server.task_state import TaskOptionError, TaskOptions
from llmbench.sim.twin import presets

_MAX_MS = 7 * 24 * 3600 * 1000.0  # a week


class SimSettings(BaseModel):
    """Timing, identity and faults of the simulated target; `preset` names a serving-engine twin
    (`llmbench sim presets`) that times responses instead of the fixed ttft/itl/jitter."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ttft_ms: float = Field(200.0, ge=0, le=_MAX_MS, description="time to first token")
    itl_ms: float = Field(20.0, ge=0, le=_MAX_MS, description="time between tokens")
    jitter_ms: float = Field(0.0, ge=0, le=_MAX_MS, description="normal noise (sd) on each gap")
    tokens_per_chunk: int = Field(1, ge=1, le=1_000_000, description="tokens per streamed chunk")
    seed: int = Field(1, ge=-(2**63), le=2**63 - 1, description="seeds the jitter")
    preset: str | None = Field(
        None, description="serving-engine twin preset: deterministic, self-hosted-cold, cloud-warm"
    )
    preset_overrides: tuple[str, ...] = Field(
        (),
        description="the preset's fields replaced, section.field=value each, e.g. "
        "engine.start_cold=true (`llmbench sim presets` lists them)",
    )
    model: str = Field("llmbench-sim", min_length=1, description="the one model id served")
    fault_rate: str | None = Field(
        None, description="inject faults at rates, e.g. '429:0.1,500:0.05,cut_after:3:0.02'"
    )
    fault_seed: int = Field(1, ge=-(2**63), le=2**63 - 1, description="seeds the fault draws")
    log_capacity: int = Field(
        100_000, ge=1, le=100_000_000, description="requests kept in the emission log"
    )
    prefill_us_per_token: float = Field(
        0.0, ge=0, le=1e6, description="fixed timing: TTFT grows by this per prompt token"
    )
    image_patch_px: int = Field(
        28, ge=1, le=65536, description="an image costs ceil(w/px)*ceil(h/px) prompt tokens"
    )
    image_max_tokens: int = Field(
        16384, ge=1, le=10_000_000, description="most prompt tokens one image costs"
    )
    reply: Literal["words", "agent"] = Field(
        "words", description="agent: thinking words then a do(...) or finish(...) action"
    )
    agent_think_tokens: int = Field(
        32, ge=1, le=100_000, description="reply agent: the action at a seeded token in [n/2, n]"
    )
    agent_finish_after: int = Field(
        3, ge=1, le=100_000, description="reply agent: the reply to step n (1-based) finishes"
    )

    task_options: str | None = Field(
        None,
        description="task face plan and faults, e.g. 'steps:3,tool_ms:50,wait:0.1,poll_429:0.2'",
    )

    @field_validator("task_options")
    @classmethod
    def _check_task_options(cls, text: str | None) -> str | None:
        try:
            TaskOptions().merged(text)
        except TaskOptionError as exc:
            raise ValueError(str(exc)) from None
        return text

    @field_validator("preset_overrides")
    @classmethod
    def _check_overrides(cls, items: tuple[str, ...]) -> tuple[str, ...]:
        try:  # every preset has the same fields: any one checks names and types
            presets.override(presets.DETERMINISTIC, presets.parse_assignments(list(items)))
        except (ValueError, TypeError) as exc:
            raise ValueError(str(exc)) from None
        return items

    @model_validator(mode="after")
    def _overrides_need_a_preset(self) -> SimSettings:
        if self.preset_overrides and self.preset is None:  # else a preset nobody named runs
            raise ValueError(
                "preset_overrides change a preset: name it too (preset, e.g. --sim-preset "
                "self-hosted-cold; `llmbench sim presets` lists them)"
            )
        return self

    @field_validator("fault_rate")
    @classmethod
    def _check_faults(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                parse_fault_rates(text)
            except FaultError as exc:
                raise ValueError(str(exc)) from None
        return text

    def fault_rates(self) -> tuple[tuple[str, float], ...]:
        return tuple(parse_fault_rates(self.fault_rate or ""))
