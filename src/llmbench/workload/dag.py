"""DAG task files (docs/tasks.md): tasks of steps, each a model call whose prompt is a Jinja2
template over the task input and the live outputs of earlier steps, or a simulated tool with a
seeded latency distribution. Everything is checked here, before anything is sent: the fields
(pydantic), unique ids, unknown dependencies, cycles, and every template (syntax, names, the
steps it reads being upstream of it, a trial render); each problem names FILE:LINE:COL, the
task and the step.
"""

from __future__ import annotations

import graphlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmbench.config.problems import describe_problems
from llmbench.config.specfile import Loc, parse_spec
from llmbench.errors import ConfigError
from llmbench.workload.dag_templates import StepTemplate, TemplateProblem, compile_template

_ID = r"^[A-Za-z_][A-Za-z0-9_\-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Constant(_Model):
    dist: Literal["constant"]
    value: float = Field(ge=0, description="ms")


class Uniform(_Model):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class Normal(_Model):
    dist: Literal["normal"]
    mean: float = Field(ge=0)
    stddev: float = Field(ge=0, description="draws below 0 are clipped to 0")


class LogNormal(_Model):
    dist: Literal["lognormal"]
    median: float = Field(gt=0, description="ms: exp(μ)")
    sigma: float = Field(ge=0, description="σ of the log")


class Exponential(_Model):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)


LatencyDist = Annotated[
    Constant | Uniform | Normal | LogNormal | Exponential, Field(discriminator="dist")
]


def draw_ms(dist: LatencyDist, rng: random.Random) -> float:
    """One latency (ms) from `dist`."""
    if isinstance(dist, Constant):
        return dist.value
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high)
    if isinstance(dist, Normal):
        return max(0.0, rng.gauss(dist.mean, dist.stddev))
    if isinstance(dist, LogNormal):
        return rng.lognormvariate(math.log(dist.median), dist.sigma)
    return rng.expovariate(1 / dist.mean)


class StepSpec(_Model):
    id: str = Field(pattern=_ID, max_length=100)
    kind: Literal["model", "tool"] = "model"
    prompt: str | None = Field(None, description="model steps: a Jinja2 template")
    system: str | None = Field(None, description="model steps: a system message (template)")
    max_tokens: int = Field(256, ge=1, le=1_000_000)
    latency_ms: LatencyDist | None = Field(None, description="tool steps")
    output: str | None = Field(None, description="tool steps: their output (template)")
    depends_on: tuple[str, ...] = ()
    timeout_s: float | None = Field(None, gt=0, le=7 * 86400)

    @model_validator(mode="after")
    def _kind_fields(self) -> StepSpec:
        if self.kind == "model":
            if self.prompt is None:
                raise ValueError("a model step needs a prompt")
            if self.latency_ms is not None or self.output is not None:
                raise ValueError("latency_ms and output are for kind: tool")
        else:
            if self.latency_ms is None:
                raise ValueError("a tool step needs latency_ms, e.g. {dist: constant, value: 100}")
            if self.prompt is not None or self.system is not None:
                raise ValueError("prompt and system are for kind: model (the default)")
        return self


class TaskSpec(_Model):
    name: str = Field(pattern=_ID, max_length=100)
    priority: int = Field(0, ge=-1_000_000, le=1_000_000, description="higher runs first")
    timeout_s: float | None = Field(None, gt=0, le=7 * 86400)
    input: dict[str, Any] = Field(default_factory=dict)
    steps: tuple[StepSpec, ...] = Field(min_length=1, max_length=10_000)


class TaskFile(_Model):
    tasks: tuple[TaskSpec, ...] = Field(min_length=1, max_length=100_000)


@dataclass(frozen=True, slots=True)
class DagStep:
    spec: StepSpec
    prompt: StepTemplate | None
    system: StepTemplate | None
    output: StepTemplate | None
    children: tuple[str, ...]  # the steps that depend on this one


@dataclass(frozen=True, slots=True)
class DagTask:
    spec: TaskSpec
    steps: dict[str, DagStep]  # in a topological order (file order among equals)
    position: dict[str, int] = field(default_factory=dict)  # each step's place in that order

    def __post_init__(self) -> None:
        self.position.update((sid, n) for n, sid in enumerate(self.steps))

    @property
    def name(self) -> str:
        return self.spec.name


class _Problems:
    def __init__(self, where: Callable[[Loc], str], tasks: tuple[TaskSpec, ...]) -> None:
        self.where = where
        self.tasks = tasks
        self.lines: list[str] = []

    def add(self, loc: Loc, message: str, fix: str) -> None:
        self.lines.append(f"{self.where(loc)}: {naming(self.tasks, loc)}: {message} (fix: {fix})")

    def raise_any(self, name: str) -> None:
        if len(self.lines) == 1:
            raise ConfigError(self.lines[0])
        if self.lines:
            listed = "\n  ".join(self.lines)
            raise ConfigError(f"{len(self.lines)} problems in the task file {name}:\n  {listed}")


def naming(tasks: tuple[TaskSpec, ...] | list[Any], loc: Loc) -> str:
    """`task 'x', step 'y'` for a location under tasks[i].steps[j] (by name where known)."""
    if len(loc) < 2 or loc[0] != "tasks" or not isinstance(loc[1], int):
        return "task file"
    i = loc[1]
    task = tasks[i] if i < len(tasks) else None
    name = _get(task, "name")
    out = f"task {name!r}" if isinstance(name, str) else f"task #{i + 1}"
    if len(loc) >= 4 and loc[2] == "steps" and isinstance(loc[3], int):
        steps = _get(task, "steps") or ()
        step = steps[loc[3]] if loc[3] < len(steps) else None
        sid = _get(step, "id")
        out += f", step {sid!r}" if isinstance(sid, str) else f", step #{loc[3] + 1}"
    return out


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _check_ids(task: TaskSpec, i: int, problems: _Problems) -> bool:
    seen: set[str] = set()
    ids = {step.id for step in task.steps}
    ok = True
    for j, step in enumerate(task.steps):
        if step.id in seen:
            problems.add(("tasks", i, "steps", j, "id"), "a second step with this id", "rename it")
            ok = False
        seen.add(step.id)
        for dep in step.depends_on:
            if dep not in ids:
                listed = ", ".join(s.id for s in task.steps)
                problems.add(
                    ("tasks", i, "steps", j, "depends_on"),
                    f"depends on {dep!r}, which is not a step of this task (steps: {listed})",
                    "name one of its steps",
                )
                ok = False
            elif dep == step.id:
                problems.add(
                    ("tasks", i, "steps", j, "depends_on"), "depends on itself", "remove it"
                )
                ok = False
    return ok


def _order(task: TaskSpec, i: int, problems: _Problems) -> list[str] | None:
    """The step ids in a topological order, or None (a cycle, reported)."""
    sorter = graphlib.TopologicalSorter({s.id: s.depends_on for s in task.steps})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle: list[str] = list(exc.args[1])
        j = next(j for j, s in enumerate(task.steps) if s.id == cycle[0])
        problems.add(
            ("tasks", i, "steps", j, "depends_on"),
            "a dependency cycle: " + " → ".join(cycle),
            "remove one of these dependencies",
        )
        return None
    position = {s.id: n for n, s in enumerate(task.steps)}
    # Kahn's order with file order among the ready ones: stable and easy to read.
    done: set[str] = set()
    out: list[str] = []
    while len(out) < len(order):
        ready = [s.id for s in task.steps if s.id not in done and set(s.depends_on) <= done]
        ready.sort(key=position.__getitem__)
        out.append(ready[0])
        done.add(ready[0])
    return out


def _upstream(task: TaskSpec) -> dict[str, frozenset[str]]:
    """Each step's transitive dependencies (the outputs its templates may read)."""
    deps = {s.id: s.depends_on for s in task.steps}
    memo: dict[str, frozenset[str]] = {}

    def up(sid: str) -> frozenset[str]:
        if sid not in memo:
            found: set[str] = set()
            for dep in deps[sid]:
                found |= {dep, *up(dep)}
            memo[sid] = frozenset(found)
        return memo[sid]

    return {sid: up(sid) for sid in deps}


def _compile_step(
    task: TaskSpec, i: int, j: int, upstream: frozenset[str], problems: _Problems
) -> dict[str, StepTemplate | None]:
    step = task.steps[j]
    out: dict[str, StepTemplate | None] = {}
    for name in ("prompt", "system", "output"):
        source = getattr(step, name)
        if source is None:
            out[name] = None
            continue
        try:
            out[name] = compile_template(source, upstream=upstream, task_input=task.input)
        except TemplateProblem as exc:
            problems.add(("tasks", i, "steps", j, name), f"template: {exc.message}", exc.fix)
            out[name] = None
    return out


def _build_task(task: TaskSpec, i: int, problems: _Problems) -> DagTask | None:
    if not _check_ids(task, i, problems):
        return None
    order = _order(task, i, problems)
    if order is None:
        return None
    upstream = _upstream(task)
    by_id = {s.id: (j, s) for j, s in enumerate(task.steps)}
    children: dict[str, list[str]] = {sid: [] for sid in order}
    for step in task.steps:
        for dep in step.depends_on:
            children[dep].append(step.id)
    steps: dict[str, DagStep] = {}
    for sid in order:
        j, spec = by_id[sid]
        made = _compile_step(task, i, j, upstream[sid], problems)
        steps[sid] = DagStep(spec, made["prompt"], made["system"], made["output"],
                             tuple(children[sid]))  # fmt: skip
    return DagTask(task, steps)


def build_tasks(data: Any, where: Callable[[Loc], str], name: str) -> list[DagTask]:
    """Validated, compiled tasks from parsed task-file data; one ConfigError lists every problem."""
    try:
        parsed = TaskFile.model_validate(data)
    except ValidationError as exc:
        raw_tasks = data.get("tasks") if isinstance(data, dict) else None
        raws = raw_tasks if isinstance(raw_tasks, list) else []
        error = describe_problems(exc, lambda loc: f"{where(loc)}: {naming(raws, loc)}", TaskFile)
        message = error.message.replace("in the run spec", f"in the task file {name}")
        raise ConfigError(message.replace("docs/spec-files.md", "docs/tasks.md")) from None
    problems = _Problems(where, parsed.tasks)
    names: set[str] = set()
    built: list[DagTask] = []
    for i, task in enumerate(parsed.tasks):
        if task.name in names:
            problems.add(("tasks", i, "name"), "a second task with this name", "rename it")
        names.add(task.name)
        made = _build_task(task, i, problems)
        if made is not None:
            built.append(made)
    problems.raise_any(name)
    return built


def load_tasks(path: Path) -> list[DagTask]:
    """Reads and checks a task file (every problem with FILE:LINE:COL, task and step)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the task file: {exc.strerror or exc}",
            where=str(path),
            hint="check tasks.file (--tasks, or the spec file's; a spec file's relative paths "
            "are read from its directory)",
        ) from None
    document = parse_spec(raw, str(path))
    return build_tasks(document.data, document.where, document.name)
