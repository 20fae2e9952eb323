"""Turns a pydantic ValidationError about a RunSpec into one ConfigError that lists every
problem as `WHERE: field.path: problem (allowed: ...; fix: ...)`; WHERE comes from the caller
(a spec file's `FILE:LINE:COL`, a flag, an environment variable).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from llmbench.config.beside import RUN_SPEC_FILES, files_beside
from llmbench.config.load import MAX_REQUESTS
from llmbench.config.paths import models_of, settings
from llmbench.config.run import RunSpec, WorkloadSpec
from llmbench.config.specfile import Loc, read_spec_file
from llmbench.config.upgrade import MOVED
from llmbench.errors import ConfigError

DOCS_HINT = "see docs/spec-files.md"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
_BOUNDS = {
    "greater_than": ("gt", "> {}"),
    "greater_than_equal": ("ge", ">= {}"),
    "less_than": ("lt", "< {}"),
    "less_than_equal": ("le", "<= {}"),
}
_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "dict": "a mapping (key: value)",
    "model": "a mapping (key: value)",
    "tuple": "a list, e.g. [1, 2, 4]",
    "list": "a list",
}


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The spec model that holds the field at `loc` (RunSpec → OpenLoad → ...), if any; a
    union's member is picked by the tag pydantic puts in the location (`load.open.rate`)."""
    current: type[BaseModel] = model
    parts = list(loc)
    while parts:
        field = current.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        nested = models_of(field.annotation)
        if not nested:
            return None
        current = nested[0]
        if len(nested) > 1 and parts:
            tag = str(parts.pop(0))
            current = next((m for m in nested if _tag(m) == tag), current)
    return current


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    return None if field is None else str(field.default)


def untagged(model: type[BaseModel], loc: Loc) -> Loc:
    """`load.open.rate` → `load.rate`: the union member's tag is not part of the field's path."""
    out: list[str | int] = []
    current: type[BaseModel] | None = model
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        out.append(part)
        field = current.model_fields.get(str(part)) if current is not None else None
        nested = models_of(field.annotation) if field is not None else []
        current = nested[0] if nested else None
        if len(nested) > 1 and parts:
            tag = str(parts[0])
            member = next((m for m in nested if _tag(m) == tag), None)
            if member is not None:
                parts.pop(0)
                current = member
    return tuple(out)


def _unknown_key(model: type[BaseModel], loc: Loc) -> tuple[str, str | None, str]:
    holder = model_at(model, loc[:-1])
    names = sorted(holder.model_fields) if holder is not None else []
    allowed = ", ".join(names) if names else None
    path = ".".join(map(str, untagged(model, loc)))
    other = settings(model).get(path)
    if holder is not None and other is not None and other.kinds:
        kind = _tag(holder)
        fix = f"it applies to kind {' or '.join(other.kinds)}: set the kind, or remove it"
        return f"not a setting of kind {kind}", allowed, fix
    if model is RunSpec and str(loc[-1]) in MOVED:  # version-1 run specs only
        return "a version-1 field", allowed, f"it is now {MOVED[str(loc[-1])]} (docs/spec-files.md)"
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    fix = f"did you mean {close[0]!r}?" if close else "remove it"
    return "unknown key", allowed, fix


def _explain(model: type[BaseModel], error: ErrorDetails) -> tuple[str, str | None, str]:
    """(problem, allowed values or None, fix) for one pydantic error entry."""
    kind, ctx = error["type"], error.get("ctx") or {}
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return _unknown_key(model, error["loc"])
    if kind == "literal_error":
        return "not one of the allowed values", str(ctx.get("expected")), "use one of them"
    if kind in _BOUNDS:
        name, template = _BOUNDS[kind]
        allowed = template.format(ctx.get(name))
        return "out of range", allowed, f"use a value {allowed}"
    if kind == "finite_number":
        return "not a finite number", "a finite number", "use a finite number"
    if kind == "missing":
        holder = model_at(model, error["loc"][:-1])
        tag = _tag(holder) if holder is not None else None
        return (f"required for kind {tag}" if tag else "required"), None, "add it"
    if kind == "union_tag_invalid":
        return "not one of the allowed kinds", str(ctx.get("expected_tags")), "use one of them"
    if kind == "string_too_short":
        return "empty", None, "give a value, or leave the setting out"
    if kind == "string_type":  # YAML reads 0x5, 1e3, yes, 12:30 as numbers or booleans
        return "not text", "text", 'write text; quote it where YAML would read a number ("0x5")'
    for prefix, allowed in _KINDS.items():
        if kind.startswith(prefix):
            return f"not {allowed}", allowed, f"write {allowed}"
    return message, None, DOCS_HINT


def _field(loc: Loc) -> str:
    """`load.concurrencies[1]`; odd keys (empty, spaces, control characters) quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out or "spec"


def describe_problems(
    exc: ValidationError, where: Callable[[Loc], str], model: type[BaseModel]
) -> ConfigError:
    """One ConfigError listing every entry of `exc`, each located by `where(loc)`."""
    errors = exc.errors(include_input=False, include_url=False)
    lines = [problem_line(model, error, (), where) for error in _without_echoes(errors)]
    return problems_error(lines, "run spec")


def _without_echoes(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drops a list's "too short" when its items failed: it is short only because they did."""
    failed_items = {e["loc"][:-1] for e in errors if e["loc"] and isinstance(e["loc"][-1], int)}
    return [e for e in errors if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)]


def problem_line(
    model: type[BaseModel], error: ErrorDetails, prefix: Loc, where: Callable[[Loc], str]
) -> str:
    """`WHERE: field.path: problem (allowed: ...; fix: ...)` for one error about `model`, which
    sits at `prefix` in the file (a member of a mapping of models: `targets.NAME`)."""
    problem, allowed, fix = _explain(model, error)
    detail = f"allowed: {allowed}; fix: {fix}" if allowed else f"fix: {fix}"
    loc = (*prefix, *untagged(model, error["loc"]))
    if error["type"] == "union_tag_invalid":
        loc = (*loc, "kind")
    field = f"{_field(loc)}: " if loc else ""
    return f"{where(loc)}: {field}{problem} ({detail})"


def problems_error(lines: list[str], what: str) -> ConfigError:
    if len(lines) == 1:  # each line carries its own fix
        return ConfigError(lines[0])
    listed = "\n  ".join(lines)
    return ConfigError(f"{len(lines)} problems in the {what}:\n  {listed}")


def with_default_bound(data: dict[str, Any]) -> dict[str, Any]:
    """As on the command line: a load without requests or duration_s runs 100 requests (a
    replay runs its whole trace)."""
    load = data.get("load", {})
    if not isinstance(load, dict) or "replay" in (load.get("kind"), load.get("profile")):
        return data
    if load.get("requests") is None and load.get("duration_s") is None:
        return {**data, "load": {**load, "requests": _session_requests(data) or 100}}
    return data


def _session_requests(data: dict[str, Any]) -> int | None:
    """A session run's requests: sessions x turns (None when it is not a session run or the
    values are not numbers: validation then says what is wrong)."""
    workload = data.get("workload")
    if not isinstance(workload, dict) or workload.get("sessions") is None:
        return None
    turns = workload.get("turns", WorkloadSpec.model_fields["turns"].default)
    try:  # an environment variable gives text
        sessions, turns = int(workload["sessions"]), int(turns)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (0 < sessions <= MAX_REQUESTS and turns > 0):  # validation names the field
        return None
    return sessions * turns


def validate_run_spec(data: dict[str, Any], where: Callable[[Loc], str]) -> RunSpec:
    """A RunSpec from resolved data; every problem located by `where`."""
    try:
        return RunSpec.model_validate(with_default_bound(data))
    except ValidationError as exc:
        raise describe_problems(exc, where, RunSpec) from None


def load_run_spec(path: Path) -> RunSpec:
    """Reads, parses and validates a spec file alone (no environment, no flags)."""
    document = read_spec_file(path)
    data = files_beside(document.data, path.parent, RUN_SPEC_FILES)
    return validate_run_spec(data, document.where)
