"""The spec of one run: target, workload, load profile and (when no URL is given) the embedded
simulated target. Every run stores its resolved spec and the spec's hash in run.json.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.config.images import ImageSpec
from llmbench.config.load import (
    INT64_MAX,
    INT64_MIN,
    MAX_CONCURRENCY,
    MAX_TOKENS,
    WEEK_S,
    ClosedLoad,
    ConcurrencySweepStudy,
    InputSweepStudy,
    LoadSpec,
    OpenLoad,
    RampLoad,
    ReplayLoad,
    SloSearchStudy,
    StudySpec,
    SweepStudy,
    ValiditySpec,
)
from llmbench.config.load import Spec as _Spec
from llmbench.config.slo import SloSpec
from llmbench.config.upgrade import is_v1_load, upgrade_load_v1, upgrade_spec_v1
from llmbench.sim.server.settings import SimSettings as SimSpec  # the one definition

__all__ = ["LoadSpec", "SimSpec", "StudySpec", "ValiditySpec", "parse_load", "upgrade_spec_v1"]


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
    request_timeout_s: float = Field(600.0, gt=0, le=WEEK_S, description="seconds per request")
    connection_limit: int | None = Field(
        None, ge=0, le=MAX_CONCURRENCY, description="HTTP connections; None: the concurrency"
    )
    retry_429: bool = Field(False, description="resend after HTTP 429, honouring Retry-After")
    retry_429_attempts: int = Field(3, ge=2, le=100, description="attempts in all, when retry_429")
    retry_429_max_wait_s: float = Field(
        30.0, gt=0, le=WEEK_S, description="with retry_429: a longer Retry-After is not retried"
    )
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
    `prompt_set` k > 0 draws other prompts of the same lengths: no study step resends another's
    prompts.
    Per-request lengths: a normal around the length (`*_stddev`, rounded, clipped to >= 1 and
    to >= prefix_tokens) or a mix of (tokens, weight) pairs whose weights sum to 1."""

    kind: Literal["synthetic"] = "synthetic"
    input_tokens: int = Field(128, ge=1, le=MAX_TOKENS, description="prompt tokens")
    output_tokens: int = Field(64, ge=1, le=MAX_TOKENS, description="output tokens")
    seed: int = Field(
        0, ge=INT64_MIN, le=INT64_MAX, description="seeds the prompts and their lengths"
    )
    prompt_set: int = Field(
        0, ge=0, le=2**31, description="which of the seed's prompt sets; a study's step k sends k"
    )
    input_tokens_stddev: float = Field(
        0.0, ge=0, le=MAX_TOKENS, description="per-request prompt lengths: normal, this sd"
    )
    output_tokens_stddev: float = Field(
        0.0, ge=0, le=MAX_TOKENS, description="per-request output lengths: normal, this sd"
    )
    input_mix: LengthMix | None = Field(None, description="prompt lengths: (tokens, weight)s")
    output_mix: LengthMix | None = Field(None, description="output lengths: (tokens, weight)s")
    prefix_tokens: int = Field(
        0, ge=0, le=MAX_TOKENS, description="leading prompt tokens shared by every request"
    )
    force_length: bool = Field(
        False, description="send the engine's fields that make it generate exactly max_tokens"
    )
    exact_tokens: bool = Field(
        False, description="cut each prompt to exactly its length in --tokenizer's tokens"
    )
    images: ImageSpec = Field(default_factory=ImageSpec, description="images per request")

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
        tokens = [t for t, _ in mix]
        if not mix or min(tokens) < 1 or max(tokens) > MAX_TOKENS or min(w for _, w in mix) <= 0:
            raise ValueError(f"give TOKENS:WEIGHT pairs, tokens 1..{MAX_TOKENS}, weights > 0")
        total = sum(w for _, w in mix)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the weights must sum to 1, got {total:g}")
        if info.data.get(f"{side}_tokens_stddev"):
            raise ValueError(f"a mix or {side}_tokens_stddev, not both")
        return mix

    @field_validator("prefix_tokens")
    @classmethod
    def _check_prefix(cls, prefix: int, info: ValidationInfo) -> int:
        mix = info.data.get("input_mix")
        shortest = min(t for t, _ in mix) if mix else info.data.get("input_tokens", prefix)
        if prefix > shortest:
            raise ValueError(
                f"{prefix} exceeds the input length {shortest}: the shared prefix is part of "
                "the prompt"
            )
        return prefix


class RunSpec(_Spec):
    """One run (or, with `study`, the steps of one study): where, what, when, and checks."""

    name: str | None = Field(None, max_length=200, description="target name in results")
    target: TargetSpec = Field(default_factory=TargetSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    load: LoadSpec = Field(default_factory=lambda: ClosedLoad(requests=100))
    sim: SimSpec = Field(default_factory=SimSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    slo: SloSpec | None = None
    tokenizer: str | None = Field(
        None,
        description="count output tokens (and with workload.exact_tokens, cut prompts): "
        "whitespace | hf:PATH",
    )
    seed: int = Field(0, ge=INT64_MIN, le=INT64_MAX, description="seeds the statistics (bootstrap)")
    agent_loop: AgentLoopSpec | None = Field(
        None, description="a phone-agent loop instead of independent requests (agent-loop.md)"
    )
    # Last: its checks read the load, workload and objectives validated before it.
    study: StudySpec | None = Field(None, description="several runs made of the load")

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """The version-1 form (`load.profile`) is still read: rewritten into load + study."""
        if isinstance(data, dict) and is_v1_load(data.get("load")):
            return upgrade_spec_v1(data)
        return data

    @field_validator("workload", "agent_loop")
    @classmethod
    def _check_chat(cls, value: Any, info: ValidationInfo) -> Any:
        """Images (and the agent loop's screenshots) are chat content parts."""
        target = info.data.get("target")
        images = isinstance(value, WorkloadSpec) and value.images.wanted
        if (images or isinstance(value, AgentLoopSpec)) and getattr(
            target, "endpoint", "chat"
        ) != "chat":
            what = "images" if images else "an agent loop"
            raise ValueError(f"{what} need the chat endpoint: target.endpoint chat")
        return value

    @field_validator("study")
    @classmethod
    def _check_study(cls, study: Any, info: ValidationInfo) -> Any:
        load, workload = info.data.get("load"), info.data.get("workload")
        closed_only = (SweepStudy, ConcurrencySweepStudy, InputSweepStudy)
        if isinstance(study, closed_only) and not isinstance(load, ClosedLoad):
            raise ValueError(f"a {study.kind} study steps a closed loop: load.kind closed")
        if isinstance(study, SweepStudy) and isinstance(load, ClosedLoad) and load.concurrency < 2:
            raise ValueError(
                "a sweep measures max throughput with N streams: load.concurrency >= 2"
            )
        if isinstance(study, SloSearchStudy):
            if load is not None and not isinstance(load, ClosedLoad | OpenLoad):
                raise ValueError("slo-search searches a closed loop's concurrency or an open rate")
            if info.data.get("slo") is None:
                raise ValueError("slo-search needs objectives: set one, e.g. slo.ttft_ms")
        if isinstance(study, InputSweepStudy) and isinstance(workload, WorkloadSpec):
            if workload.input_mix is not None:
                raise ValueError("an input-sweep steps fixed lengths: no workload.input_mix")
            if workload.prefix_tokens > min(study.input_lengths):
                raise ValueError(
                    f"workload.prefix_tokens {workload.prefix_tokens} exceeds the input length "
                    f"{min(study.input_lengths)}: the shared prefix is part of the prompt"
                )
        return study

    def spec_hash(self) -> str:
        """Stable hash of the resolved spec: runs with equal hashes ran the same workload."""
        # What is watched does not change the workload: monitor settings stay out of the hash.
        dumped = self.model_dump(mode="json", exclude={"monitor": True})
        dumped["target"].pop("server_metrics_url", None)
        # Word prompts hash as they did before exact lengths existed: earlier runs stay comparable.
        if not dumped["workload"].get("exact_tokens"):
            dumped["workload"].pop("exact_tokens", None)
        # Nor do runs without images or an agent loop hash differently now that these exist.
        if dumped["workload"].get("images") == ImageSpec().model_dump(mode="json"):
            dumped["workload"].pop("images", None)
        if dumped.get("agent_loop") is None:
            dumped.pop("agent_loop", None)
        dumped["sim"] = sim_settings_dump(self.sim)
        canonical = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Simulator settings newer than the spec hash and the results files: left out of both at their
# defaults, so earlier runs hash and read back as they did.
NEWER_SIM_FIELDS = (
    "prefill_us_per_token", "image_patch_px", "image_max_tokens", "reply", "agent_think_tokens",
    "agent_finish_after",
)  # fmt: skip


def sim_settings_dump(sim: SimSpec) -> dict[str, Any]:
    """The simulator's settings as stored: the newer fields only where not at their defaults."""
    dumped = sim.model_dump(mode="json")
    for name in NEWER_SIM_FIELDS:
        if dumped.get(name) == SimSpec.model_fields[name].default:
            dumped.pop(name, None)
    return dumped


def _single_load(data: Any) -> Any:
    if not is_v1_load(data):
        return data
    load, study = upgrade_load_v1(data)
    if study is not None:
        raise ValueError(f"profile {data['profile']} is a study: give a whole RunSpec")
    return load


_LOAD = TypeAdapter(Annotated[LoadSpec, BeforeValidator(_single_load)])


def parse_load(data: Any) -> ClosedLoad | OpenLoad | RampLoad | ReplayLoad:
    """A load from either form (version-1 `profile` too); pydantic.ValidationError if bad."""
    return _LOAD.validate_python(data)
