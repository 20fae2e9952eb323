"""`llmbench run`'s flags, derived from the spec models: each flag names the field it sets, and
its type, range, default and help come from that field (config/paths.py). A new setting is a
field in config/, reachable at once by `--set section.field=value`; a flag for it is one line
in RUN_FLAGS. A few flags read a richer text (`--concurrency 1,2,4`, `--slo ttft_ms:500`) or
select a load kind (`--profile`); `apply_flags` turns them into fields.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from llmbench.config import RunSpec
from llmbench.config.paths import Setting, nearest, settings
from llmbench.config.slo import parse_slo
from llmbench.config.upgrade import PROFILES
from llmbench.errors import ConfigError

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Flag:
    """A `run` flag and the field it sets (help: the field's description unless given)."""

    name: str
    path: str
    help: str | None = None
    switch: Any = None  # a switch (no value) sets the field to this
    multiple: bool = False
    metavar: str | None = None

    @property
    def param(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    @property
    def setting(self) -> Setting | None:
        return settings(RunSpec).get(self.path)


RUN_FLAGS = (
    Flag("--base-url", "target.base_url", "OpenAI-compatible server; default: the simulator"),
    Flag("--target-kind", "target.kind"),
    Flag("--model", "target.model"),
    Flag("--api-key-env", "target.api_key_env"),
    Flag("--endpoint", "target.endpoint"),
    Flag("--header", "target.extra_headers", "extra header 'Name: value' (repeatable)",
         multiple=True),
    Flag("--extra-body", "target.extra_body",
         "extra JSON body fields, e.g. '{\"ignore_eos\": true}'"),
    Flag("--no-stream", "target.stream", "non-streaming requests", switch=False),
    Flag("--request-timeout", "target.request_timeout_s"),
    Flag("--connection-limit", "target.connection_limit"),
    Flag("--retry-429", "target.retry_429", switch=True),
    Flag("--retry-429-attempts", "target.retry_429_attempts"),
    Flag("--retry-429-max-wait", "target.retry_429_max_wait_s"),
    Flag("--engine", "target.engine", "the serving engine; default: detected when needed"),
    Flag("--task-api-config", "task_api.config", metavar="FILE"),
    Flag("--poll-interval-ms", "task_api.poll_interval_ms"),
    Flag("--task-timeout", "task_api.task_timeout_s"),
    Flag("--answer-after-ms", "task_api.answer_after_ms"),
    Flag("--webhook-listen", "task_api.webhook_listen", metavar="HOST:PORT"),
    Flag("--webhook-public-url", "task_api.webhook_public_url", metavar="URL"),
    Flag("--force-length", "workload.force_length",
         "send the engine's fields that force --output-tokens exactly", switch=True),
    Flag("--exact-tokens", "workload.exact_tokens",
         "cut each prompt to exactly --input-tokens under --tokenizer hf:PATH", switch=True),
    Flag("--server-metrics", "target.server_metrics_url",
         "Prometheus URL scraped during the run, or 'off'; default: <base-url root>/metrics "
         "when it answers"),
    Flag("--server-metrics-interval", "monitor.server_metrics_interval_s"),
    Flag("--no-monitors", "monitor.processes",
         "do not sample client, target, host and GPU CPU/memory", switch=False),
    Flag("--profile", "load.kind", "load profile: picks load.kind and the study (spec-files.md)",
         metavar="[" + "|".join(PROFILES) + "]"),
    Flag("--concurrency", "load.concurrency", "parallel streams; concurrency-sweep: 1,2,4,..."),
    Flag("--rate", "load.rate", "requests/s (constant, poisson, gamma; ramp: the end)"),
    Flag("--ramp-start-rate", "load.start_rate"),
    Flag("--burstiness", "load.burstiness"),
    Flag("--max-concurrency", "load.max_concurrency"),
    Flag("--trace", "load.trace"),
    Flag("--time-scale", "load.time_scale"),
    Flag("--sweep-steps", "study.steps"),
    Flag("--search", "load.kind", "slo-search: what to search over",
         metavar="[rate|concurrency]"),
    Flag("--slo", "slo", "objectives, e.g. ttft_ms:500,tpot_ms:50,e2e_ms:10000"),
    Flag("--slo-attainment", "slo.attainment", "fraction of requests that must meet --slo"),
    Flag("--repeat", "study.count", "run the same seeded workload K times"),
    Flag("--cooldown", "study.cooldown_s"),
    Flag("--requests", "load.requests"),
    Flag("--duration", "load.duration_s"),
    Flag("--warmup", "load.warmup"),
    Flag("--workers", "load.workers"),
    Flag("--ray", "ray.address", metavar="ADDRESS|local"),
    Flag("--ray-workers", "ray.workers"),
    Flag("--input-tokens", "workload.input_tokens", "prompt tokens; input-sweep: 128,512,..."),
    Flag("--prefix-tokens", "workload.prefix_tokens"),
    Flag("--output-tokens", "workload.output_tokens"),
    Flag("--input-tokens-stddev", "workload.input_tokens_stddev"),
    Flag("--output-tokens-stddev", "workload.output_tokens_stddev"),
    Flag("--input-mix", "workload.input_mix", "prompt lengths from a mix, e.g. 128:0.9,4096:0.1"),
    Flag("--output-mix", "workload.output_mix", "output lengths from a mix, e.g. 16:0.5,256:0.5"),
    Flag("--dataset", "workload.dataset", metavar="FILE"),
    Flag("--sessions", "workload.sessions"),
    Flag("--turns", "workload.turns"),
    Flag("--think-time-s", "workload.think_time_s"),
    Flag("--think-time-stddev-s", "workload.think_time_stddev_s"),
    Flag("--system-tokens", "workload.system_tokens"),
    Flag("--session-trace", "workload.session_trace", metavar="FILE"),
    Flag("--trace-block-tokens", "workload.trace_block_tokens"),
    Flag("--cache-bust", "workload.cache_bust"),
    Flag("--seed", "seed", "seeds the workload and the statistics"),
    Flag("--tasks", "tasks.file", "DAG tasks from a YAML task file (docs/tasks.md)"),
    Flag("--task-mode", "tasks.mode", "sequential (one step at a time) | concurrent"),
    Flag("--task-concurrency", "tasks.concurrency", "concurrent mode: steps in flight at most"),
    Flag("--task-repeat", "tasks.repeat", "run the task list this many times"),
    Flag("--images", "workload.images.count"),
    Flag("--image-size", "workload.images.size"),
    Flag("--image-format", "workload.images.format"),
    Flag("--agent-loop", "agent_loop.file", "phone-agent loop: its YAML file (agent-loop.md)"),
    Flag("--tokenizer", "tokenizer"),
    Flag("--name", "name"),
    Flag("--sim-ttft-ms", "sim.ttft_ms", "embedded simulator: time to first token"),
    Flag("--sim-itl-ms", "sim.itl_ms", "embedded simulator: inter-token latency"),
    Flag("--sim-jitter-ms", "sim.jitter_ms", "embedded simulator: per-token jitter (sd)"),
    Flag("--sim-tokens-per-chunk", "sim.tokens_per_chunk", "embedded simulator: tokens per chunk"),
    Flag("--sim-preset", "sim.preset", "embedded simulator: a serving-engine twin preset"),
)  # fmt: skip
BY_PARAM = {flag.param: flag for flag in RUN_FLAGS}
# The field a flag sets, for messages: `load.rate` is shown as `load.rate (--rate)`.
FLAG_OF_PATH = {f.path: f.name for f in RUN_FLAGS if f.name not in ("--profile", "--search")}
FLAG_OF_PATH |= {
    "study.concurrencies": "--concurrency",
    "study.input_lengths": "--input-tokens",
    "workload.seed": "--seed",
    "study.max_concurrency": "--max-concurrency",
    **{f"slo.{name}": "--slo" for name in ("ttft_ms", "tpot_ms", "e2e_ms", "itl_ms")},
}
# --profile → (load kind, arrival, study kind)
_PROFILE_KINDS: dict[str, tuple[str, str | None, str | None]] = {
    "synchronous": ("closed", None, None),
    "concurrency": ("closed", None, None),
    "constant": ("open", "constant", None),
    "poisson": ("open", "poisson", None),
    "gamma": ("open", "gamma", None),
    "ramp": ("ramp", None, None),
    "replay": ("replay", None, None),
    "sweep": ("closed", None, "sweep"),
    "concurrency-sweep": ("closed", None, "concurrency-sweep"),
    "input-sweep": ("closed", None, "input-sweep"),
    "slo-search": ("open", "poisson", "slo-search"),
}


def _option(flag: Flag, setting: Setting | None = None) -> inspect.Parameter:
    setting = setting or flag.setting
    help_text = flag.help or (setting.help if setting else "")
    if flag.switch is not None:
        annotation: Any = Annotated[bool, typer.Option(flag.name, help=help_text)]
        return inspect.Parameter(flag.param, inspect.Parameter.KEYWORD_ONLY, default=False,
                                 annotation=annotation)  # fmt: skip
    metavar = flag.metavar or (setting.metavar if setting else "TEXT")
    if flag.help and "," in flag.help:  # a richer text than the field's type (lists, pairs)
        metavar = "TEXT"
    kind: Any = list[str] | None if flag.multiple else str | None
    option = typer.Option(flag.name, help=help_text, metavar=metavar, show_default=False)
    return inspect.Parameter(flag.param, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[kind, option])  # fmt: skip


def with_run_flags(
    extra: list[inspect.Parameter],
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Gives a command function the signature typer reads: `extra` then every RUN_FLAGS option
    (the function takes them as **kwargs)."""

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        parameters = [*extra, *(_option(flag) for flag in RUN_FLAGS)]
        function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        function.__annotations__ = {p.name: p.annotation for p in parameters}
        return function

    return decorate


def with_model_flags(
    model: type[BaseModel], extra: list[inspect.Parameter]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Like with_run_flags for a flat model: one `--field-name` option per field (help, type
    and default from the field), the function takes them as **kwargs (raw text or None)."""
    flags = [Flag("--" + name.replace("_", "-"), name) for name in model.model_fields]

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        parameters = [*extra, *(_option(flag, settings(model)[flag.path]) for flag in flags)]
        function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        function.__annotations__ = {p.name: p.annotation for p in parameters}
        return function

    return decorate


def _int_list(text: str, flag: str, example: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise ConfigError(f"{text!r} is not a number or a list like {example}", where=flag)
    return values


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"{value!r} is not 'Name: value'", where="--header")
        headers[name.strip()] = content.strip()
    return headers


def _json_object(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ConfigError(
            f"not valid JSON ({exc})", where="--extra-body", hint="e.g. '{\"ignore_eos\": true}'"
        ) from exc
    if not isinstance(body, dict):
        raise ConfigError("must be a JSON object", where="--extra-body")
    return body


class FlagApplier:
    """Writes the typed flags' fields into the resolved data (file and environment already in
    it) and remembers which flag set each field, for messages."""

    def __init__(self, data: dict[str, Any], origins: dict[Loc, str]) -> None:
        self.data, self.origins = data, origins

    def set(self, path: str, value: Any, flag: str) -> None:
        parts = path.split(".")
        node = self.data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
        self.origins[tuple(parts)] = flag

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def study_kind(self) -> str | None:
        return self.section("study").get("kind")

    def profile(self, profile: str, search: str | None, rate_given: bool) -> None:
        kind, arrival, study = _PROFILE_KINDS[profile]
        if profile == "slo-search" and search == "concurrency":
            kind, arrival = "closed", None
        load = self.section("load")
        load.pop("arrival", None)
        self.data["load"] = load
        self.set("load.kind", kind, "--profile")
        if arrival is not None:
            self.set("load.arrival", arrival, "--profile")
        if profile == "synchronous":
            self.set("load.concurrency", 1, "--profile")
        if kind == "open" and study == "slo-search" and not rate_given and "rate" not in load:
            self.set("load.rate", 1.0, "--profile")  # the search starts at 1 request/s
        if study is not None:
            cooldown = {k: v for k, v in self.section("study").items() if k == "cooldown_s"}
            self.data["study"] = {**cooldown, "kind": study}
            self.origins[("study",)] = "--profile"
        elif self.study_kind not in (None, "repeat"):
            self.data["study"] = None

    def concurrency(self, text: str, synchronous: bool) -> None:
        values = _int_list(text, "--concurrency", "1,2,4")
        if self.study_kind == "concurrency-sweep":
            self.set("study.concurrencies", values, "--concurrency")
        elif len(values) > 1:
            raise ConfigError("a list of concurrencies is for --profile concurrency-sweep",
                              where="--concurrency")  # fmt: skip
        elif synchronous and values[0] != 1:
            raise ConfigError("the synchronous profile sends one request at a time: "
                              "concurrency 1", where="--concurrency")  # fmt: skip
        else:
            self.set("load.concurrency", values[0], "--concurrency")

    def input_tokens(self, text: str) -> None:
        values = _int_list(text, "--input-tokens", "128,512,2048")
        if self.study_kind == "input-sweep":
            self.set("study.input_lengths", values, "--input-tokens")
        elif len(values) > 1:
            raise ConfigError(
                "--profile input-sweep and a list of input lengths go together",
                where="--input-tokens",
                hint="e.g. --profile input-sweep --input-tokens 128,512,2048",
            )
        self.set("workload.input_tokens", values[0], "--input-tokens")

    def repeat(self, text: str) -> None:
        count = _int_list(text, "--repeat", "3")[0]
        if count < 1:
            raise ConfigError(f"{count} is not a number of runs", where="--repeat",
                              hint="give K >= 1")  # fmt: skip
        kind = self.study_kind
        if count > 1 and kind not in (None, "repeat"):
            raise ConfigError(f"applies to single-run profiles, not {kind}", where="--repeat")
        if count > 1:
            self.data["study"] = {**self.section("study"), "kind": "repeat"}
            self.set("study.count", count, "--repeat")
        elif kind == "repeat":
            self.data["study"] = None

    def slo(self, text: str | None, attainment: str | None) -> None:
        """--slo replaces the objectives as a whole; --slo-attainment applies to objectives."""
        if text is not None:
            self.data["slo"] = parse_slo(text).model_dump(exclude_none=True)
            self.origins[("slo",)] = "--slo"
        if attainment is not None and self.section("slo"):
            self.set("slo.attainment", _parsed("slo.attainment", attainment), "--slo-attainment")


def _parsed(path: str, text: str) -> Any:
    return settings(RunSpec)[path].parse(text)


_SPECIAL = frozenset({"profile", "search", "concurrency", "input_tokens", "repeat", "slo",
                      "slo_attainment", "header", "extra_body", "seed", "max_concurrency",
                      "sweep_steps", "cooldown"})  # fmt: skip


def apply_flags(applier: FlagApplier, typed: Mapping[str, Any]) -> None:
    """The typed flags (param → raw value) into the data, in a fixed order: the profile first
    (it picks the kinds the other flags fill)."""
    profile = typed.get("profile")
    if profile is not None:
        if profile not in _PROFILE_KINDS:
            raise ConfigError(f"{profile!r} is not a profile", where="--profile",
                              hint="one of: " + ", ".join(PROFILES))  # fmt: skip
        applier.profile(profile, typed.get("search"), "rate" in typed)
    elif typed.get("search") is not None and applier.study_kind == "slo-search":
        closed = typed["search"] == "concurrency"
        applier.set("load.kind", "closed" if closed else "open", "--search")
    if typed.get("repeat") is not None:
        applier.repeat(typed["repeat"])
    if typed.get("concurrency") is not None:
        applier.concurrency(typed["concurrency"], profile == "synchronous")
    if typed.get("input_tokens") is not None:
        applier.input_tokens(typed["input_tokens"])
    _apply_study_flags(applier, typed)
    applier.slo(typed.get("slo"), typed.get("slo_attainment"))
    if typed.get("header"):
        headers = {
            **applier.section("target").get("extra_headers", {}),
            **_headers(typed["header"]),
        }
        applier.set("target.extra_headers", headers, "--header")
    if typed.get("extra_body") is not None:
        applier.set("target.extra_body", _json_object(typed["extra_body"]), "--extra-body")
    if typed.get("seed") is not None:
        seed = _parsed("seed", typed["seed"])
        applier.set("seed", seed, "--seed")
        applier.set("workload.seed", seed, "--seed")
    for param, raw in typed.items():
        flag = BY_PARAM.get(param)
        if flag is None or param in _SPECIAL or raw is None:
            continue
        value = flag.switch if flag.switch is not None else flag.setting.parse(raw)  # type: ignore[union-attr]
        applier.set(flag.path, value, flag.name)


def _apply_study_flags(applier: FlagApplier, typed: Mapping[str, Any]) -> None:
    """Flags of a study's steps; outside a study, as before, a cooldown or step count is moot."""
    kind = applier.study_kind
    if typed.get("max_concurrency") is not None:
        path = "study.max_concurrency" if kind == "sweep" else "load.max_concurrency"
        applier.set(path, _parsed(path, typed["max_concurrency"]), "--max-concurrency")
    if typed.get("sweep_steps") is not None and kind == "sweep":
        applier.set("study.steps", _parsed("study.steps", typed["sweep_steps"]),
                    "--sweep-steps")  # fmt: skip
    if typed.get("cooldown") is not None and kind is not None:
        applier.set("study.cooldown_s", _parsed("study.cooldown_s", typed["cooldown"]),
                    "--cooldown")  # fmt: skip


def apply_set(applier: FlagApplier, assignments: list[str]) -> None:
    """`--set section.field=value`, in order; the value is read by the field's type."""
    known = settings(RunSpec)
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(f"{assignment!r} is not section.field=value", where="--set",
                              hint="e.g. --set load.rate=5")  # fmt: skip
        setting = known.get(path)
        if setting is None:
            close = nearest(RunSpec, path)
            hint = f"did you mean {' or '.join(close)}?" if close else "see docs/spec-files.md"
            raise ConfigError(f"{path!r} is not a setting", where="--set", hint=hint)
        applier.set(path, setting.parse(text), f"--set {path}")


def output_dir_param() -> inspect.Parameter:
    option = typer.Option(help="default: results/<timestamp>-<target>", metavar="DIR")
    return inspect.Parameter("output_dir", inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[Path | None, option])  # fmt: skip
