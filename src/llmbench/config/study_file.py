"""The spec of a comparison study (`llmbench study SPEC.yaml`): targets, scenarios, and how the
runs are ordered. Every scenario runs against every target that supports it with the same
workload bytes (one seed); the order is interleaved or seeded-random, with repeats, so that drift
on a shared machine does not read as a difference between targets.

Targets and scenarios are unions discriminated by `kind`. A new scenario kind is one model here
(added to `Scenario`) and one planner in llmbench.study.scenarios; a new target kind is one model
here (added to `StudyTarget`) and its start-up in llmbench.study.targets.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import (
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails

from llmbench.config.agent_loop import AgentLoopSpec
from llmbench.config.beside import STUDY_SPEC_FILES, beside, files_beside
from llmbench.config.load import (
    INT64_MAX,
    INT64_MIN,
    MAX_CONCURRENCY,
    MAX_RATE_PER_S,
    MAX_REQUESTS,
    MAX_TOKENS,
    WEEK_S,
    Spec,
)
from llmbench.config.problems import DOCS_HINT, problem_line, problems_error
from llmbench.config.run import EngineName, MonitorSpec, SimSpec, WorkloadSpec, at_default
from llmbench.config.specfile import Loc, read_spec_file
from llmbench.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
NAME_RULE = "1-64 letters, digits, '_', '.', '-' (it names run directories)"
SIM_PREFIX = "sim:"
MAX_STEPS = 1000
STUDY_DOCS = "see docs/studies.md"


class OpenAITarget(Spec):
    """An OpenAI-compatible endpoint (chat or completions, streamed)."""

    kind: Literal["openai"] = "openai"
    base_url: str = Field(description="http(s)://host[:port]/v1")
    model: str | None = Field(None, description="default: the first model of /v1/models")
    endpoint: Literal["chat", "completions"] = "chat"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the variable holding the key")
    request_timeout_s: float = Field(600.0, gt=0, le=WEEK_S, description="seconds per request")
    engine: EngineName | None = Field(
        None, description="the serving engine (docs/engines.md); None: detected when needed"
    )

    @model_serializer(mode="wrap")
    def _newer_at_default(self, handler: SerializerFunctionWrapHandler) -> Any:
        """`engine` is newer than study.json files: left out when None, so earlier studies
        dump, hash and resume as they did."""
        data = handler(self)
        if isinstance(data, dict) and data.get("engine", "") is None:
            del data["engine"]
        return data

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must start with http:// or https://")
        return url


class SimTarget(Spec):
    """An embedded simulator started for the study, timed by a twin preset
    (`llmbench sim presets`); shorthand `sim:<preset>`."""

    kind: Literal["sim"] = "sim"
    preset: str = Field(
        description="twin preset (`llmbench sim presets`; checked when the study is loaded)"
    )
    seed: int = Field(1, ge=INT64_MIN, le=INT64_MAX, description="seeds the twin's noise")
    preset_overrides: tuple[str, ...] = Field(
        (),
        description="the preset's fields replaced, section.field=value each (a what-if), e.g. "
        "[engine.start_cold=true, engine.cold_start_s=3]",
    )
    agent: Literal["loop", "manus"] = Field(
        "loop",
        description="how it meets an agent-loop scenario: loop (a second simulator plays the "
        "phone agent's model) or manus (an agent service: its Manus-shaped task face)",
    )
    task_options: str | None = Field(
        None, description="agent manus: the task face's plan, e.g. 'steps:3,tool_ms:200'"
    )
    poll_interval_ms: float = Field(
        50.0, gt=0, le=3_600_000, description="agent manus: time between two polls of one task"
    )

    @model_serializer(mode="wrap")
    def _newer_at_default(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Fields newer than study.json files: left out at their defaults, so earlier studies
        dump, hash and resume as they did."""
        data = handler(self)
        if isinstance(data, dict):
            for name in ("agent", "task_options", "poll_interval_ms", "preset_overrides"):
                default = type(self).model_fields[name].default
                if name in data and at_default(data[name], default):
                    del data[name]
        return data

    @field_validator("preset_overrides")
    @classmethod
    def _check_overrides(cls, items: tuple[str, ...]) -> tuple[str, ...]:
        try:
            SimSpec(preset="deterministic", preset_overrides=items)  # the simulator's check
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return items

    @field_validator("task_options")
    @classmethod
    def _check_task_options(cls, text: str | None) -> str | None:
        try:
            SimSpec(task_options=text)  # the simulator's own check
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return text


class ManusTarget(Spec):
    """An agent service speaking the Manus v2 task API (docs/agent-services.md): it runs the
    agent-loop scenario's tasks as service tasks, and nothing that needs a token stream."""

    kind: Literal["manus"] = "manus"
    base_url: str = Field(description="the service root, http(s)://host[:port]")
    api_key_env: str = Field("MANUS_API_KEY", description="name of the variable holding the key")
    poll_interval_ms: float = Field(
        1000.0, gt=0, le=3_600_000, description="time between two polls of one task"
    )
    task_timeout_s: float = Field(
        600.0, gt=0, le=WEEK_S, description="a task still running this long is cancelled"
    )

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        return OpenAITarget._check_url(url)


StudyTarget = Annotated[OpenAITarget | SimTarget | ManusTarget, Discriminator("kind")]


class _Scenario(Spec):
    """What every scenario has: the load bound of each of its runs."""

    kind: str
    requests: int = Field(16, ge=1, le=MAX_REQUESTS, description="measured requests per run")
    warmup: int = Field(0, ge=0, le=MAX_REQUESTS, description="warm-up requests per run")


class BaselineScenario(_Scenario):
    """The fixed workload, one request at a time, `rounds` requests: the seed's main table."""

    kind: Literal["baseline"] = "baseline"
    requests: int = Field(20, ge=1, le=MAX_REQUESTS, description="rounds: requests, one at a time")


class ConcurrencyScenario(_Scenario):
    """A closed loop at each concurrency: throughput and latency vs concurrency."""

    kind: Literal["concurrency"] = "concurrency"
    levels: list[int] = Field(
        [1, 4, 16], min_length=1, max_length=MAX_STEPS, description="concurrencies"
    )
    per_stream: int | None = Field(
        None, ge=1, le=MAX_REQUESTS, description="requests = max(requests, per_stream × level)"
    )

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, levels: list[int]) -> list[int]:
        if min(levels) < 1 or max(levels) > MAX_CONCURRENCY or len(set(levels)) != len(levels):
            raise ValueError(f"give distinct concurrencies 1..{MAX_CONCURRENCY}")
        return levels


class InputLengthScenario(_Scenario):
    """One closed-loop run per prompt length: latency vs input length."""

    kind: Literal["input-length"] = "input-length"
    lengths: list[int] = Field(
        [128, 512, 2048], min_length=1, max_length=MAX_STEPS, description="prompt tokens"
    )
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY)

    @field_validator("lengths")
    @classmethod
    def _check_lengths(cls, lengths: list[int]) -> list[int]:
        if min(lengths) < 1 or max(lengths) > MAX_TOKENS or len(set(lengths)) != len(lengths):
            raise ValueError(f"give distinct lengths 1..{MAX_TOKENS}")
        return lengths


class RateScenario(_Scenario):
    """Open-loop Poisson arrivals at each rate: latency under offered load."""

    kind: Literal["rate"] = "rate"
    rates: list[float] = Field(
        [1.0, 2.0, 4.0], min_length=1, max_length=MAX_STEPS, description="requests per second"
    )
    arrival: Literal["poisson", "constant"] = "poisson"
    max_concurrency: int | None = Field(None, ge=1, le=MAX_CONCURRENCY)

    @field_validator("rates")
    @classmethod
    def _check_rates(cls, rates: list[float]) -> list[float]:
        if min(rates) <= 0 or max(rates) > MAX_RATE_PER_S or len(set(rates)) != len(rates):
            raise ValueError(f"give distinct rates > 0 and <= {MAX_RATE_PER_S:g}")
        return rates


class SessionsScenario(Spec):
    """Multi-turn sessions run twice: `continued` (each session reuses its own history, turn 0
    cold: `cache_bust: session`) and `new` (every turn a new conversation of the same length,
    nothing reused: `cache_bust: turn`). Per turn TTFT and cached share, first vs later turns."""

    kind: Literal["sessions"] = "sessions"
    sessions: int = Field(4, ge=1, le=MAX_REQUESTS, description="sessions per run")
    turns: int = Field(4, ge=2, le=100_000, description="turns (requests) of each session")
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="sessions in flight")
    warmup: int = Field(0, ge=0, le=MAX_REQUESTS, description="warm-up sessions per run")
    system_tokens: int = Field(
        0, ge=0, le=MAX_TOKENS, description="a system message of N words opening each session"
    )
    think_time_s: float = Field(0.0, ge=0, le=WEEK_S, description="seconds between turns")


class AgentLoopScenario(AgentLoopSpec):
    """The phone-agent loop (docs/agent-loop.md): its settings inline or from `file` (relative
    to the study spec), one run per target. A `sim` target plays the agent (`reply: agent`)."""

    kind: Literal["agent-loop"] = "agent-loop"


class TasksScenario(Spec):
    """A DAG task file (docs/tasks.md) run twice: `sequential` (one step at a time) and
    `concurrent` (every ready step, up to `concurrency`): completion time vs critical path."""

    kind: Literal["tasks"] = "tasks"
    file: str = Field(description="the task file (YAML), relative to the study spec")
    concurrency: int = Field(
        8, ge=1, le=MAX_CONCURRENCY, description="concurrent step: steps in flight at most"
    )
    repeat: int = Field(1, ge=1, le=1_000_000, description="instances of the task list per run")


Scenario = Annotated[
    BaselineScenario
    | ConcurrencyScenario
    | InputLengthScenario
    | RateScenario
    | SessionsScenario
    | AgentLoopScenario
    | TasksScenario,
    Discriminator("kind"),
]


def _names_ok(names: Any, what: str) -> None:
    for name in names:
        if not NAME.fullmatch(str(name)):
            raise ValueError(f"{what} name {name!r}: {NAME_RULE}")


def _target_entry(value: Any) -> Any:
    """`sim:<preset>` → a sim target; `http(s)://...` → an OpenAI-compatible one; a mapping
    without `kind` is a sim target when it names a preset, else an OpenAI-compatible one."""
    if isinstance(value, str):
        if value.startswith(SIM_PREFIX):
            return {"kind": "sim", "preset": value.removeprefix(SIM_PREFIX)}
        return {"kind": "openai", "base_url": value}
    if isinstance(value, dict) and "kind" not in value:
        return {**value, "kind": "sim" if "preset" in value else "openai"}
    return value


def _scenario_entry(name: str, value: Any) -> Any:
    """A scenario named after its kind needs no `kind` (`baseline: {requests: 20}`)."""
    if value is None:
        value = {}
    if isinstance(value, dict) and "kind" not in value:
        return {**value, "kind": name}
    return value


class StudyFile(Spec):
    """A comparison study: the targets, the scenarios each runs, and the order of the runs."""

    name: str | None = Field(None, max_length=200, description="the study's title")
    targets: dict[str, StudyTarget] = Field(
        min_length=1, description="name → sim:<preset>, a URL, or a mapping with `kind`"
    )
    scenarios: dict[str, Scenario] = Field(
        min_length=1, description="name → settings; `kind` defaults to the name"
    )
    workload: WorkloadSpec = Field(
        default_factory=WorkloadSpec, description="the prompts every run sends (same seed)"
    )
    order: Literal["interleaved", "random"] = Field(
        "interleaved", description="interleaved: targets alternate step by step; random: seeded"
    )
    repeats: int = Field(1, ge=1, le=1000, description="each (target, scenario, step) this often")
    seed: int = Field(0, ge=INT64_MIN, le=INT64_MAX, description="seeds the order and statistics")
    cooldown_s: float = Field(0.0, ge=0, le=3600.0, description="pause between runs")
    monitor: MonitorSpec = Field(default_factory=MonitorSpec)
    tokenizer: str | None = Field(
        None, description="count output tokens with it: whitespace | hf:PATH (as run specs)"
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if isinstance(out.get("targets"), dict):
            out["targets"] = {k: _target_entry(v) for k, v in out["targets"].items()}
        if isinstance(out.get("scenarios"), dict):
            out["scenarios"] = {k: _scenario_entry(k, v) for k, v in out["scenarios"].items()}
        return out

    @field_validator("targets", "scenarios")
    @classmethod
    def _check_names(cls, entries: dict[str, Any], info: Any) -> dict[str, Any]:
        _names_ok(entries, str(info.field_name).removesuffix("s"))
        return entries

    def spec_hash(self) -> str:
        """Stable hash of the resolved spec: a resumed study must have the same."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _check_presets(study: StudyFile, presets: Collection[str], where: Callable[[Loc], str]) -> None:
    for name, target in study.targets.items():
        if isinstance(target, SimTarget) and target.preset not in presets:
            loc: Loc = ("targets", name, "preset")
            raise ConfigError(
                f"{where(loc)}: targets.{name}.preset: unknown twin preset {target.preset!r} "
                f"(allowed: {', '.join(presets)}; fix: use one of them)"
            )


# Scenario kinds whose `file` names a file: read relative to the study spec's directory.
FILE_KINDS = ("agent-loop", "tasks")


def _files_beside(data: Any, base: Path) -> Any:
    """A scenario's relative `file` made relative to the spec's directory (not the cwd)."""
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        return data
    scenarios = {}
    for name, entry in data["scenarios"].items():
        kind = entry.get("kind", name) if isinstance(entry, dict) else None
        file = entry.get("file") if isinstance(entry, dict) else None
        if kind in FILE_KINDS and isinstance(file, str):
            entry = {**entry, "file": beside(file, base)}
        scenarios[name] = entry
    return {**data, "scenarios": scenarios}


def load_study_file(path: Path, presets: Collection[str]) -> StudyFile:
    """Reads and validates a study spec; every problem named `FILE:LINE:COL: field: problem
    (allowed: ...; fix: ...)`. `presets`: the twin presets a `sim` target may name."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such study spec file", hint="check the SPEC path given to llmbench study"
        )
    document = read_spec_file(path)
    try:
        data = files_beside(document.data, path.parent, STUDY_SPEC_FILES)
        study = StudyFile.model_validate(_files_beside(data, path.parent))
    except ValidationError as exc:
        raise study_problems(exc, document.where) from None
    _check_presets(study, presets, document.where)
    return study


# The kinds of each mapping of union members, by tag: an error inside one member is explained
# against that member, its path without the tag (`targets.cloud.modle`, not `...openai.modle`).
MEMBERS: dict[str, dict[str, type[Spec]]] = {
    "targets": {"openai": OpenAITarget, "sim": SimTarget, "manus": ManusTarget},
    "scenarios": {
        "baseline": BaselineScenario,
        "concurrency": ConcurrencyScenario,
        "input-length": InputLengthScenario,
        "rate": RateScenario,
        "sessions": SessionsScenario,
        "agent-loop": AgentLoopScenario,
        "tasks": TasksScenario,
    },
}


def study_problems(exc: ValidationError, where: Callable[[Loc], str]) -> ConfigError:
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = error["loc"]
        members = MEMBERS.get(str(loc[0]), {}) if len(loc) >= 3 else {}
        member = members.get(str(loc[2])) if members else None
        if member is not None:
            inner = cast("ErrorDetails", {**error, "loc": loc[3:]})
            lines.append(problem_line(member, inner, loc[:2], where))
        else:
            lines.append(problem_line(StudyFile, error, (), where))
    return problems_error([line.replace(DOCS_HINT, STUDY_DOCS) for line in lines], "study spec")
