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
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.config.digest import by_contents, with_digests, without_unknown
from llmbench.config.images import ImageSpec
from llmbench.config.load import (
    INT64_MAX,
    INT64_MIN,
    MAX_CONCURRENCY,
    MAX_REQUESTS,
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
from llmbench.config.ray import RaySettings
from llmbench.config.slo import SloSpec
from llmbench.config.task_api import TaskApiSettings
from llmbench.config.tasks import TasksSpec
from llmbench.config.upgrade import is_v1_load, upgrade_load_v1, upgrade_spec_v1
from llmbench.sim.server.settings import SimSettings as SimSpec  # the one definition

__all__ = ["LoadSpec", "SimSpec", "StudySpec", "ValiditySpec", "parse_load", "upgrade_spec_v1"]


EngineName = Literal["vllm", "sglang", "tgi", "llamacpp", "transformers", "ollama", "openai"]
ENGINE_NAMES: tuple[str, ...] = get_args(EngineName)
# What speaks at the base URL (docs/agent-services.md): a token stream (openai, anthropic) or a
# task protocol (a2a, manus, task-api). Only `openai` has the model list and engine probes.
TargetKind = Literal["openai", "anthropic", "a2a", "manus", "task-api"]
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
# The variable a kind's key is read from unless `api_key_env` names another one.
DEFAULT_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "a2a": "A2A_API_KEY",
    "manus": "MANUS_API_KEY",
}


class TargetSpec(_Spec):
    """Where to send. `base_url=None` means: start the embedded simulated server."""

    kind: TargetKind = Field(
        "openai", description="the target's protocol: " + " | ".join(TARGET_KINDS)
    )
    base_url: str | None = None
    model: str | None = Field(None, description="default: the first model of /v1/models")
    endpoint: Literal["chat", "completions"] = "chat"
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="name of the variable holding the key; unset: the kind's (ANTHROPIC_API_KEY "
        "for anthropic, ...)",
    )
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
CacheBust = Literal["off", "session", "turn"]
# Workload fields added after runs were stored: left out of the spec hash at their default,
# so that earlier runs' hashes stay comparable.
_LATER_WORKLOAD_DEFAULTS: dict[str, Any] = {
    "exact_tokens": False,
    "sessions": None,
    "turns": 4,
    "think_time_s": 0.0,
    "think_time_stddev_s": 0.0,
    "cache_bust": "off",
    "dataset": None,
    "system_tokens": 0,
    "session_trace": None,
    "trace_block_tokens": 512,
}


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
    dataset: str | None = Field(
        None,
        description="prompts from a JSONL or ShareGPT file (or builtin:prompts, builtin:sharegpt) "
        "instead of synthetic words",
    )
    # Multi-turn sessions (docs/workloads.md): set `sessions` to run them instead of requests.
    sessions: int | None = Field(
        None, ge=1, le=MAX_REQUESTS, description="multi-turn sessions to run (None: requests)"
    )
    turns: int = Field(4, ge=1, le=100_000, description="turns (requests) of each session")
    think_time_s: float = Field(
        0.0, ge=0, le=WEEK_S, description="seconds between a reply and the session's next turn"
    )
    think_time_stddev_s: float = Field(
        0.0, ge=0, le=WEEK_S, description="think times drawn normal(think_time_s, this), >= 0"
    )
    system_tokens: int = Field(
        0, ge=0, le=MAX_TOKENS, description="sessions: a system message of N words opening each"
    )
    session_trace: str | None = Field(
        None, description="sessions replayed from a JSONL trace (session_id, lengths, hash_ids)"
    )
    dataset_sha256: str | None = Field(
        None, description="the dataset's SHA-256 when resolved (the workload's identity)"
    )
    session_trace_sha256: str | None = Field(
        None, description="the session trace's SHA-256 when resolved (the workload's identity)"
    )
    trace_block_tokens: int = Field(
        512, ge=1, le=MAX_TOKENS, description="tokens of one hash id's block (Mooncake: 512)"
    )
    cache_bust: CacheBust = Field(
        "off",
        description="unique first word per session or per turn (off | session | turn): no "
        "prefix cache reuse across sessions and runs, or none at all",
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

    @model_validator(mode="before")
    @classmethod
    def _inputs_by_contents(cls, data: Any) -> Any:
        fields = {"dataset": "dataset_sha256", "session_trace": "session_trace_sha256"}
        return with_digests(data, fields)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_unknown(handler(self), ("dataset_sha256", "session_trace_sha256"))

    @model_validator(mode="after")
    def _session_settings_need_sessions(self) -> WorkloadSpec:
        if self.sessions is None and self.session_trace is not None:
            raise ValueError("a session trace is replayed as sessions: set workload.sessions")
        if self.sessions is None and self.system_tokens:
            raise ValueError("workload.system_tokens opens each session: set workload.sessions")
        return self


class RunSpec(_Spec):
    """One run (or, with `study`, the steps of one study): where, what, when, and checks."""

    name: str | None = Field(None, max_length=200, description="target name in results")
    target: TargetSpec = Field(default_factory=TargetSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    load: LoadSpec = Field(default_factory=lambda: ClosedLoad(requests=100))
    sim: SimSpec = Field(default_factory=SimSpec)
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    task_api: TaskApiSettings = Field(default_factory=TaskApiSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    slo: SloSpec | None = None
    tokenizer: str | None = Field(
        None,
        description="count output tokens (and with workload.exact_tokens, cut prompts): "
        "whitespace | hf:PATH",
    )
    seed: int = Field(0, ge=INT64_MIN, le=INT64_MAX, description="seeds the statistics (bootstrap)")
    tasks: TasksSpec | None = Field(None, description="DAG tasks from a task file (docs/tasks.md)")
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

    @model_validator(mode="after")
    def _check_dataset(self) -> RunSpec:
        if self.workload.dataset is None:
            return self
        if isinstance(self.load, ReplayLoad):
            raise ValueError("a replay sends its trace's requests: no workload.dataset")
        if self.workload.exact_tokens or self.workload.prefix_tokens:
            raise ValueError(
                "a dataset's prompts are sent as written: no workload.exact_tokens or "
                "workload.prefix_tokens with workload.dataset"
            )
        return self

    @model_validator(mode="after")
    def _check_sessions(self) -> RunSpec:
        """A session run is a closed loop of sessions: N x T requests, whole warm-up sessions."""
        sessions, turns = self.workload.sessions, self.workload.turns
        if sessions is None:
            return self
        if self.workload.prefix_tokens:
            raise ValueError(
                "a session's shared opening is a system message: workload.system_tokens, not "
                "workload.prefix_tokens"
            )
        if not isinstance(self.load, ClosedLoad):
            raise ValueError(
                "sessions run as a closed loop (at most load.concurrency sessions in flight): "
                "load.kind closed"
            )
        if self.load.requests is not None and self.load.requests != sessions * turns:
            raise ValueError(
                f"a session run sends workload.sessions x workload.turns = {sessions * turns} "
                f"requests, not load.requests {self.load.requests}: leave load.requests out"
            )
        if self.workload.session_trace is not None and self.workload.dataset is not None:
            raise ValueError("workload.session_trace or workload.dataset, not both")
        if self.workload.session_trace is not None and self.load.warmup:
            raise ValueError("a replayed trace has no warm-up sessions: load.warmup 0")
        if self.load.warmup % turns:
            raise ValueError(
                f"load.warmup {self.load.warmup} is not a multiple of workload.turns {turns}: "
                "warm-up runs whole sessions"
            )
        return self

    def spec_hash(self) -> str:
        """Stable hash of the resolved spec: runs with equal hashes ran the same workload."""
        # What is watched does not change the workload: monitor settings stay out of the hash.
        # Nor does where the load workers run (Ray or this host's processes).
        dumped = self.model_dump(mode="json", exclude={"monitor": True, "ray": True})
        # A trace or dataset counts by its contents, not its path (none set: nothing changes).
        dumped = by_contents(dumped)
        dumped["target"].pop("server_metrics_url", None)
        # Fields at the default they had before they existed: earlier runs stay comparable.
        # OpenAI-compatible targets hash as they did before other kinds existed.
        if dumped["target"].get("kind") == "openai":
            dumped["target"].pop("kind", None)
        workload = dumped["workload"]
        for name, default in _LATER_WORKLOAD_DEFAULTS.items():
            if name in workload and workload[name] == default:
                del workload[name]
        if workload.get("images") == ImageSpec().model_dump(mode="json"):
            workload.pop("images", None)
        dumped["sim"] = sim_settings_dump(self.sim)
        if self.task_api == TaskApiSettings():  # agent-service settings
            dumped.pop("task_api", None)
        for name in ("tasks", "agent_loop"):  # no task file, no agent loop
            if dumped.get(name) is None:
                dumped.pop(name, None)
        canonical = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Simulator settings newer than the spec hash and the results files: left out of both at their
# defaults, so earlier runs hash and read back as they did.
NEWER_SIM_FIELDS = (
    "prefill_us_per_token", "image_patch_px", "image_max_tokens", "reply", "agent_think_tokens",
    "agent_finish_after", "task_options", "preset_overrides",
)  # fmt: skip


def at_default(value: Any, default: Any) -> bool:
    """A dumped value equals the field's default (a tuple default dumps as a list in JSON)."""
    return bool(value == default or (isinstance(default, tuple) and list(value) == list(default)))


def sim_settings_dump(sim: SimSpec) -> dict[str, Any]:
    """The simulator's settings as stored: the newer fields only where not at their defaults."""
    dumped = sim.model_dump(mode="json")
    for name in NEWER_SIM_FIELDS:
        if name in dumped and at_default(dumped[name], SimSpec.model_fields[name].default):
            del dumped[name]
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
