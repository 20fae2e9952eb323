"""Where a run's settings come from, in precedence order: defaults < spec file (`--spec`) <
`LLMBENCH_*` environment < flags typed on the command line. Merges them, validates the result
once, and names the source of every problem (`FILE:LINE:COL`, the variable, or the flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel

from llmbench.config import RunSpec
from llmbench.config.problems import validate_run_spec
from llmbench.config.specfile import (
    SECRET_HINT,
    SECRET_VALUE,
    Loc,
    SpecDocument,
    read_spec_file,
)
from llmbench.errors import ConfigError
from llmbench.store.run_schema import SpecSource

ENV_PREFIX = "LLMBENCH_"
# `run` parameter → the spec fields it sets (seed seeds the workload and the statistics).
PARAM_PATHS: dict[str, tuple[Loc, ...]] = {
    "base_url": (("target", "base_url"),),
    "model": (("target", "model"),),
    "api_key_env": (("target", "api_key_env"),),
    "endpoint": (("target", "endpoint"),),
    "header": (("target", "extra_headers"),),
    "extra_body": (("target", "extra_body"),),
    "no_stream": (("target", "stream"),),
    "request_timeout": (("target", "request_timeout_s"),),
    "connection_limit": (("target", "connection_limit"),),
    "retry_429": (("target", "retry_429"),),
    "retry_429_attempts": (("target", "retry_429_attempts"),),
    "retry_429_max_wait": (("target", "retry_429_max_wait_s"),),
    "engine": (("target", "engine"),),
    "force_length": (("workload", "force_length"),),
    "server_metrics": (("target", "server_metrics_url"),),
    "server_metrics_interval": (("monitor", "server_metrics_interval_s"),),
    "monitors": (("monitor", "processes"),),
    "input_tokens": (("workload", "input_tokens"), ("workload", "input_lengths")),
    "prefix_tokens": (("workload", "prefix_tokens"),),
    "output_tokens": (("workload", "output_tokens"),),
    "input_tokens_stddev": (("workload", "input_tokens_stddev"),),
    "output_tokens_stddev": (("workload", "output_tokens_stddev"),),
    "input_mix": (("workload", "input_mix"),),
    "output_mix": (("workload", "output_mix"),),
    "seed": (("workload", "seed"), ("seed",)),
    "profile": (("load", "profile"),),
    "concurrency": (("load", "concurrency"), ("load", "concurrencies")),
    "rate": (("load", "rate"),),
    "ramp_start_rate": (("load", "ramp_start_rate"),),
    "burstiness": (("load", "burstiness"),),
    "max_concurrency": (("load", "max_concurrency"),),
    "trace": (("load", "trace"),),
    "time_scale": (("load", "trace_time_scale"),),
    "sweep_steps": (("load", "sweep_rates"),),
    "search": (("load", "search"),),
    "requests": (("load", "requests"),),
    "duration": (("load", "duration_s"),),
    "warmup": (("load", "warmup"),),
    "repeat": (("load", "repeat"),),
    "cooldown": (("load", "cooldown_s"),),
    "workers": (("load", "workers"),),
    "slo": (("slo",),),
    "slo_attainment": (("slo", "attainment"),),
    "sim_ttft_ms": (("sim", "ttft_ms"),),
    "sim_itl_ms": (("sim", "itl_ms"),),
    "sim_jitter_ms": (("sim", "jitter_ms"),),
    "sim_tokens_per_chunk": (("sim", "tokens_per_chunk"),),
    "sim_preset": (("sim", "preset"),),
    "tokenizer": (("tokenizer",),),
    "name": (("name",),),
}
NOT_SPEC_PARAMS = frozenset({"ctx", "spec", "output_dir"})  # `run` parameters outside the spec


def _get(data: Mapping[str, Any], loc: Loc) -> Any:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _set(data: dict[str, Any], loc: Loc, value: Any) -> None:
    """Sets a leaf; a mapping set over a mapping merges into it (headers, body fields)."""
    node = data
    for part in loc[:-1]:
        child = node.get(str(part))
        if not isinstance(child, dict):
            child = {}
            node[str(part)] = child
        node = child
    last = str(loc[-1])
    old = node.get(last)
    node[last] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    return data


def environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`LLMBENCH_LOAD__CONCURRENCY=8` → {"LLMBENCH_LOAD__CONCURRENCY": 8}: `__` separates levels,
    values are YAML scalars or flow lists/mappings. Variables without `__` count only when they
    name a top-level field (LLMBENCH_SEED); other LLMBENCH_* names are left to other uses. A
    key-like name or key-shaped value is refused without echoing it."""
    out: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if "__" not in rest and rest not in RunSpec.model_fields:
            continue
        text = environ[name]
        if "api_key" in rest.replace("-", "_") or SECRET_VALUE.search(text):
            raise ConfigError("an API key has no place in a spec", where=name, hint=SECRET_HINT)
        try:
            out[name] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError(
                f"not a YAML value ({problem})",
                where=name,
                hint="write a number, true/false, text, [a, b] or {key: value}",
            ) from None
    return out


def env_loc(name: str) -> Loc:
    return tuple(name[len(ENV_PREFIX) :].lower().split("__"))


@dataclass
class SpecSources:
    """The spec file (if any), the environment overrides and which flags were typed."""

    document: SpecDocument | None
    environment: dict[str, Any]
    passed: frozenset[str]
    origins: dict[Loc, str] = field(default_factory=dict)  # field → the variable or flag

    @classmethod
    def gather(
        cls, ctx: typer.Context, spec_file: Path | None, environ: Mapping[str, str]
    ) -> SpecSources:
        document = None if spec_file is None else read_spec_file(spec_file)
        # typer vendors click: its ParameterSource enum is compared by name, not imported.
        sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
        passed = frozenset(
            n for n, s in sources.items() if s is not None and s.name == "COMMANDLINE"
        )
        return cls(document, environment_overrides(environ), passed)

    @property
    def layered(self) -> bool:
        """A file or environment is involved: flags then override only what they set."""
        return self.document is not None or bool(self.environment)

    def base(self) -> dict[str, Any]:
        """File data with the environment over it."""
        data: dict[str, Any] = _copy(self.document.data) if self.document else {}
        for name, value in self.environment.items():
            _set(data, env_loc(name), value)
            self.origins[env_loc(name)] = name
        return data

    def base_value(self, loc: Loc, default: Any) -> Any:
        value = _get(self.base(), loc)
        return default if value is None else value

    def resolve(
        self, flag_fields: dict[str, Any], params: Mapping[str, Any], flags: Mapping[str, str]
    ) -> RunSpec:
        """Merges file, environment and the typed flags' fields, and validates once.

        `flag_fields` is the spec the flags alone describe; only the fields of typed flags are
        taken from it. `flags` names the flag of a field path, for messages."""
        data = self.base()
        for param in sorted(self.passed - NOT_SPEC_PARAMS):
            if param == "slo":  # --slo replaces the file's objectives as a whole
                data.pop("slo", None)
            for loc in PARAM_PATHS[param]:
                if loc == ("slo", "attainment"):
                    value = params["slo_attainment"]
                else:
                    parent = _get(flag_fields, loc[:-1]) if len(loc) > 1 else flag_fields
                    if not isinstance(parent, Mapping) or str(loc[-1]) not in parent:
                        # --concurrency gave the other of concurrency / concurrencies: the
                        # file's value of this one would contradict it
                        section = data.get(str(loc[0]))
                        if isinstance(section, dict):
                            section.pop(str(loc[-1]), None)
                        continue
                    value = parent[str(loc[-1])]
                if isinstance(value, BaseModel):
                    value = value.model_dump(exclude_none=True)
                _set(data, loc, value)
                self.origins[loc] = flags.get(".".join(map(str, loc)), _flag(param))
        return validate_run_spec(data, self.where)

    def where(self, loc: Loc) -> str:
        for end in range(len(loc), 0, -1):
            origin = self.origins.get(loc[:end])
            if origin is not None:
                return origin
        if self.document is not None:
            return self.document.where(loc)
        return "spec"

    def provenance(self) -> SpecSource:
        """What run.json keeps about the sources (never values: the resolved spec has them)."""
        return SpecSource(
            file=None if self.document is None else self.document.name,
            file_sha256=None if self.document is None else self.document.sha256,
            environment=sorted(self.environment),
            flags=sorted(_flag(p) for p in self.passed - NOT_SPEC_PARAMS),
        )


def _flag(param: str) -> str:
    return "--" + param.replace("_", "-")


def unknown_param_check(params: list[str]) -> list[str]:
    """`run` parameters this module does not map (a new flag needs a PARAM_PATHS entry)."""
    return [p for p in params if p not in PARAM_PATHS and p not in NOT_SPEC_PARAMS]
