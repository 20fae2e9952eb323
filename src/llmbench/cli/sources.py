"""Where a run's settings come from, in precedence order: defaults < spec file (`--spec`) <
`LLMBENCH_*` environment < flags typed on the command line. Merges them, validates the result
once, and names the source of every problem (`FILE:LINE:COL`, the variable, or the flag).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml

from llmbench.cli.flags import BY_PARAM, FlagApplier, apply_flags, apply_set
from llmbench.config import RunSpec, upgrade_spec_v1
from llmbench.config.beside import RUN_SPEC_FILES, files_beside
from llmbench.config.problems import validate_run_spec
from llmbench.config.specfile import (
    SECRET_HINT,
    SECRET_VALUE,
    Loc,
    SpecDocument,
    first_secret,
    read_spec_file,
    secret_problem,
)
from llmbench.errors import ConfigError
from llmbench.store.run_schema import SpecSource

ENV_PREFIX = "LLMBENCH_"
NOT_SPEC_PARAMS = frozenset({"ctx", "spec", "output_dir", "set_", "store", "label"})  # not spec


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


def _refuse_secrets(data: dict[str, Any], where: Callable[[Loc], str]) -> None:
    """A key given by a flag or `--set` (`--header 'Authorization: Bearer ...'`) would be
    written to run.json with the spec: refused as in spec files and variables, never echoed."""
    found = first_secret(data)
    if found is not None:
        here = found[1]
        raise ConfigError(secret_problem(here), where=where(here), hint=SECRET_HINT)


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
        data: dict[str, Any] = {}
        if self.document is not None:  # its relative paths name files beside it
            folder = Path(self.document.name).parent
            data = files_beside(_copy(self.document.data), folder, RUN_SPEC_FILES)
        for name, value in self.environment.items():
            _set(data, env_loc(name), value)
            self.origins[env_loc(name)] = name
        return data

    def base_value(self, loc: Loc, default: Any) -> Any:
        value = _get(self.base(), loc)
        return default if value is None else value

    def resolve(self, typed: Mapping[str, Any], assignments: list[str]) -> RunSpec:
        """Merges file, environment, the typed flags (param → raw text) and `--set`
        assignments, and validates once; every problem names its source."""
        base = self.base()
        try:
            data = upgrade_spec_v1(base)
        except ValueError as exc:  # a version-1 load the upgrade cannot read
            raise ConfigError(str(exc), where=self.where(("load", "profile"))) from None
        applier = FlagApplier(data, self.origins)
        apply_flags(applier, typed)
        apply_set(applier, assignments)
        _refuse_secrets(data, self.where)
        return validate_run_spec(data, self.where)

    def where(self, loc: Loc) -> str:
        for end in range(len(loc), 0, -1):
            origin = self.origins.get(loc[:end])
            if origin is not None:
                return origin
        # A problem of a whole section (slo without objectives): the flag that set a field in it.
        inside = [o for at, o in self.origins.items() if loc and at[: len(loc)] == loc]
        if inside:
            return inside[-1]
        if self.document is not None:
            return self.document.where(loc)
        return "spec"

    def provenance(self) -> SpecSource:
        """What run.json keeps about the sources (never values: the resolved spec has them)."""
        return SpecSource(
            file=None if self.document is None else self.document.name,
            file_sha256=None if self.document is None else self.document.sha256,
            environment=sorted(self.environment),
            flags=sorted(BY_PARAM[p].name for p in self.passed - NOT_SPEC_PARAMS)
            + (["--set"] if "set_" in self.passed else []),
        )
