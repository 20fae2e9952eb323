"""The spec of one run: target, workload, load profile and (when no URL is given) the embedded
simulated target. Every run stores its resolved spec and the spec's hash in run.json.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmbench.config.slo import SloSpec


class _Spec(BaseModel):
    # No inf/nan: no setting means anything at infinity, and run.json is strict JSON.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


EngineName = Literal["vllm", "sglang", "tgi", "llamacpp", "transformers", "ollama", "openai"]
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)


class TargetSpec(_Spec):
    """Where to send. `base_url=None` means: start the embedded simulated server."""

    base_url: str | None = None
    model: str | None = Field(None, description="default: the first model of /v1/models")
    endpoint: Literal["chat", "completions"] = "chat"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the variable holding the key")
    extra_headers: dict[str, str] = Field(default_factory=dict)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    stream: bool = True
    request_timeout_s: float = Field(600.0, gt=0)
    connection_limit: int | None = Field(None, ge=0, description="None: sized to the concurrency")
    retry_429: bool = Field(False, description="resend after HTTP 429, honouring Retry-After")
    retry_429_attempts: int = Field(3, ge=2, description="attempts in all, when retry_429")
    retry_429_max_wait_s: float = Field(30.0, gt=0, description="a longer Retry-After: give up")
    engine: EngineName | None = Field(
        None, description="the serving engine (docs/engines.md); None: detected when needed"
    )

    server_metrics_url: str | None = Field(
        None,
        description="Prometheus endpoint scraped during the run; 'off'; None: <root>/metrics "
        "when it answers",
    )

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must start with http:// or https://")
        return url

    @field_validator("server_metrics_url")
    @classmethod
    def _check_metrics_url(cls, url: str | None) -> str | None:
        if url is not None and url != "off" and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must be 'off' or start with http:// or https://")
        return url


class MonitorSpec(_Spec):
    """What is watched beside the requests: server metrics, processes, host and GPUs."""

    server_metrics_interval_s: float = Field(1.0, gt=0, description="seconds between scrapes")
    server_metrics_timeout_s: float = Field(1.0, gt=0, description="a scrape gives up after")
    processes: bool = Field(True, description="sample client, target, host and GPU")
    sample_interval_s: float = Field(1.0, gt=0, description="seconds between process samples")


LengthMix = tuple[tuple[int, float], ...]


def parse_mix(text: str) -> tuple[tuple[int, float], ...]:
    """`128:0.9,4096:0.1` → ((128, 0.9), (4096, 0.1)); ValueError saying what is wrong."""
    pairs = []
    for part in text.split(","):
        tokens, _, weight = part.strip().partition(":")
        try:
            pairs.append((int(tokens), float(weight)))
        except ValueError:
            example = "e.g. 128:0.9,4096:0.1"
            raise ValueError(f"{part.strip()!r} is not TOKENS:WEIGHT, {example}") from None
    return tuple(pairs)


class WorkloadSpec(_Spec):
    """Synthetic prompts of a fixed length, seeded: identical bytes for every target. The first
    `prefix_tokens` words are the same in every prompt (a prefix-caching server can reuse them);
    `input_lengths` is the list an input-sweep study runs one step per length of. `prompt_set`
    k > 0 draws other prompts of the same lengths: no study step resends another's prompts.
    Per-request lengths: a normal around the length (`*_stddev`, rounded, clipped to >= 1 and
    to >= prefix_tokens) or a mix of (tokens, weight) pairs whose weights sum to 1."""

    kind: Literal["synthetic"] = "synthetic"
    input_tokens: int = Field(128, ge=1)
    output_tokens: int = Field(64, ge=1)
    prefix_tokens: int = Field(0, ge=0, description="leading tokens shared by every prompt")
    input_lengths: tuple[int, ...] | None = Field(None, description="input-sweep: the lengths")
    seed: int = 0
    prompt_set: int = Field(
        0, ge=0, description="which of the seed's prompt sets; a study's step k sends set k"
    )
    input_tokens_stddev: float = Field(0.0, ge=0, description="normal prompt lengths' sd")
    output_tokens_stddev: float = Field(0.0, ge=0, description="normal output lengths' sd")
    input_mix: LengthMix | None = Field(None, description="prompt lengths: (tokens, weight)s")
    output_mix: LengthMix | None = Field(None, description="output lengths: (tokens, weight)s")
    force_length: bool = Field(
        False, description="send the engine's fields that make it generate exactly max_tokens"
    )

    @field_validator("input_mix", "output_mix", mode="before")
    @classmethod
    def _mix_from_text(cls, value: Any) -> Any:
        """A spec file may write a mix as the flag does: `128:0.9,4096:0.1`."""
        return parse_mix(value) if isinstance(value, str) else value

    @field_validator("input_mix", "output_mix")
    @classmethod
    def _check_mix(cls, mix: LengthMix | None, info: ValidationInfo) -> LengthMix | None:
        if mix is None:
            return mix
        side = str(info.field_name).removesuffix("_mix")
        if not mix or min(t for t, _ in mix) < 1 or min(w for _, w in mix) <= 0:
            raise ValueError("give TOKENS:WEIGHT pairs, tokens >= 1, weights > 0")
        total = sum(w for _, w in mix)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the weights must sum to 1, got {total:g}")
        if info.data.get(f"{side}_tokens_stddev"):
            raise ValueError(f"a mix or --{side}-tokens-stddev, not both")
        if side == "input" and info.data.get("input_lengths"):
            raise ValueError("an input-sweep steps fixed lengths: no mix with it")
        prefix = info.data.get("prefix_tokens") or 0
        if side == "input" and prefix > min(t for t, _ in mix):
            raise ValueError(f"--prefix-tokens {prefix} exceeds the shortest prompt of the mix")
        return mix

    @model_validator(mode="after")
    def _check_lengths(self) -> WorkloadSpec:
        mix = tuple(t for t, _ in self.input_mix) if self.input_mix else None
        lengths = mix or self.input_lengths or (self.input_tokens,)
        if min(lengths) < 1:
            raise ValueError("every input length must be >= 1")
        if self.prefix_tokens > min(lengths):
            raise ValueError(
                f"prefix_tokens {self.prefix_tokens} exceeds the input length {min(lengths)}: "
                "the shared prefix is part of the prompt"
            )
        return self


Profile = Literal[
    "synchronous",
    "concurrency",
    "constant",
    "poisson",
    "gamma",
    "ramp",
    "sweep",
    "concurrency-sweep",
    "input-sweep",
    "slo-search",
    "replay",
]
CLOSED_LOOP_PROFILES = frozenset({"synchronous", "concurrency"})
OPEN_LOOP_PROFILES = frozenset({"constant", "poisson", "gamma", "ramp", "replay"})
_RATE_PROFILES = frozenset({"constant", "poisson", "gamma"})
# Profiles that run several steps (each its own run directory) under one study directory.
STUDY_PROFILES = frozenset({"sweep", "concurrency-sweep", "input-sweep", "slo-search"})
# Closed-loop studies: every step runs `concurrency` (or each of `concurrencies`) streams.
_CLOSED_STUDIES = frozenset({"concurrency-sweep", "input-sweep"})


class ValiditySpec(_Spec):
    """When a run's delivered load is too far from the requested load to trust its numbers."""

    rate_tolerance: float = Field(0.1, gt=0, lt=1, description="achieved/planned rate ≥ 1 − this")
    late_after_ms: float = Field(10.0, gt=0, description="a send later than this is late")
    max_late_fraction: float = Field(0.05, ge=0, le=1)
    concurrency_tolerance: float = Field(0.1, gt=0, lt=1, description="closed loop, same rule")


def _profile(info: ValidationInfo) -> str:
    return str(info.data.get("profile", "concurrency"))


class LoadSpec(_Spec):
    """When to send. Closed loop: `concurrency` streams (synchronous is 1). Open loop: sends at
    planned times (constant/poisson/gamma at `rate`, ramp, trace replay), at most
    `max_concurrency` in flight. Sweeps and slo-search run several such steps.
    """

    profile: Profile = "concurrency"
    concurrency: int = Field(1, ge=1, validate_default=True)
    concurrencies: tuple[int, ...] | None = Field(None, validate_default=True)
    rate: float | None = Field(None, gt=0, validate_default=True, description="requests/s")
    ramp_start_rate: float = Field(0.0, ge=0, description="ramp: rate at the start, requests/s")
    burstiness: float = Field(1.0, gt=0, validate_default=True, description="gamma shape")
    max_concurrency: int | None = Field(None, ge=1, validate_default=True)
    trace: str | None = Field(None, validate_default=True, description="replay: JSONL trace")
    trace_time_scale: float = Field(1.0, gt=0, description="replay: gaps × this (0.5: 2× faster)")
    sweep_rates: int = Field(5, ge=1, description="sweep: rates between synchronous and max")
    search: Literal["rate", "concurrency"] = "rate"
    requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0, validate_default=True)
    warmup: int = Field(0, ge=0)
    repeat: int = Field(1, ge=1)
    cooldown_s: float = Field(0.0, ge=0, description="pause between repeats and sweep steps")
    validity: ValiditySpec = Field(default_factory=ValiditySpec)
    workers: int | None = Field(
        None, ge=1, description="client processes; None: chosen from the CPUs and the load"
    )

    @field_validator("concurrency")
    @classmethod
    def _check_concurrency(cls, value: int, info: ValidationInfo) -> int:
        if _profile(info) == "synchronous" and value != 1:
            raise ValueError("the synchronous profile sends one request at a time: concurrency 1")
        if _profile(info) == "sweep" and value < 2:
            raise ValueError("sweep measures max throughput with N streams: give N >= 2")
        return value

    @field_validator("concurrencies")
    @classmethod
    def _check_list(
        cls, value: tuple[int, ...] | None, info: ValidationInfo
    ) -> tuple[int, ...] | None:
        if _profile(info) == "concurrency-sweep" and not value:
            raise ValueError("concurrency-sweep needs a list, e.g. --concurrency 1,2,4,8")
        if value is not None and _profile(info) != "concurrency-sweep":
            raise ValueError("a list of concurrencies is for --profile concurrency-sweep")
        if value is not None and min(value) < 1:
            raise ValueError("every concurrency must be >= 1")
        return value

    @field_validator("rate")
    @classmethod
    def _check_rate(cls, value: float | None, info: ValidationInfo) -> float | None:
        profile = _profile(info)
        if value is None and profile in _RATE_PROFILES:
            raise ValueError(f"the {profile} profile needs a rate in requests/s")
        if value is not None and profile in CLOSED_LOOP_PROFILES | {"replay"} | _CLOSED_STUDIES:
            raise ValueError(f"a rate does not apply to the {profile} profile")
        return value

    @field_validator("ramp_start_rate", "trace_time_scale")
    @classmethod
    def _check_only_for(cls, value: float, info: ValidationInfo) -> float:
        owner = {"ramp_start_rate": ("ramp", 0.0), "trace_time_scale": ("replay", 1.0)}
        profile, default = owner[str(info.field_name)]
        if value != default and _profile(info) != profile:
            raise ValueError(f"applies to --profile {profile} only")
        return value

    @field_validator("burstiness")
    @classmethod
    def _check_burstiness(cls, value: float, info: ValidationInfo) -> float:
        if value != 1.0 and _profile(info) != "gamma":
            raise ValueError("burstiness applies to --profile gamma only")
        return value

    @field_validator("max_concurrency")
    @classmethod
    def _check_cap(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and _profile(info) in CLOSED_LOOP_PROFILES | _CLOSED_STUDIES:
            raise ValueError("a closed loop is capped by --concurrency itself")
        return value

    @field_validator("trace")
    @classmethod
    def _check_trace(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (value is None) == (_profile(info) == "replay"):
            raise ValueError("--profile replay and --trace FILE go together")
        return value

    @field_validator("repeat")
    @classmethod
    def _check_repeat(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and _profile(info) in STUDY_PROFILES:
            raise ValueError(f"--repeat applies to single-run profiles, not {_profile(info)}")
        return value

    @field_validator("duration_s")
    @classmethod
    def _check_ramp(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and _profile(info) == "ramp":
            raise ValueError("a ramp rises over a duration: give one")
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> LoadSpec:
        if self.requests is None and self.duration_s is None and self.profile != "replay":
            raise ValueError("give a bound: requests, duration_s, or both")
        return self

    @property
    def open_loop(self) -> bool:
        """Sends at planned times; a ramp without a rate ramps closed-loop streams instead."""
        if self.profile == "ramp":
            return self.rate is not None
        return self.profile in OPEN_LOOP_PROFILES


class SimSpec(_Spec):
    """Settings of the embedded simulated target (used only when target.base_url is None)."""

    ttft_ms: float = Field(200.0, ge=0)
    itl_ms: float = Field(20.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    tokens_per_chunk: int = Field(1, ge=1)
    seed: int = 1
    preset: str | None = Field(
        None,
        description="a serving-engine twin preset (`llmbench sim presets`) instead of fixed times",
    )


class RunSpec(_Spec):
    name: str | None = None
    target: TargetSpec = Field(default_factory=TargetSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    load: LoadSpec = Field(default_factory=lambda: LoadSpec(requests=100))
    sim: SimSpec = Field(default_factory=SimSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    slo: SloSpec | None = Field(None, validate_default=True)
    tokenizer: str | None = Field(None, description="'whitespace' or 'hf:PATH'")
    seed: int = Field(0, description="seeds the statistics (bootstrap)")

    @field_validator("slo")
    @classmethod
    def _check_slo(cls, value: SloSpec | None, info: ValidationInfo) -> SloSpec | None:
        load = info.data.get("load")
        if value is None and load is not None and load.profile == "slo-search":
            raise ValueError("slo-search needs objectives, e.g. --slo ttft_ms:500,tpot_ms:50")
        return value

    @model_validator(mode="after")
    def _check_input_sweep(self) -> RunSpec:
        sweep = self.load.profile == "input-sweep"
        if sweep != (self.workload.input_lengths is not None):
            raise ValueError(
                "--profile input-sweep and a list of input lengths go together, "
                "e.g. --profile input-sweep --input-tokens 128,512,2048"
            )
        return self

    def spec_hash(self) -> str:
        """Stable hash of the resolved spec: runs with equal hashes ran the same workload."""
        # What is watched does not change the workload: monitor settings stay out of the hash.
        dumped = self.model_dump(mode="json", exclude={"monitor": True})
        dumped["target"].pop("server_metrics_url", None)
        canonical = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
