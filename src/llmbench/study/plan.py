"""The runs of a comparison study, in the order they run: every (scenario, step, repeat) block
against every target that supports it, the same prompts for each target of a block (one seed, one
prompt set) and other prompts for every other block (a prefix cache never serves an earlier
block's prompts). Interleaved: blocks in order, the targets rotated block by block; random: all
runs shuffled with the study's seed. The plan is a function of the spec alone, so a resumed study
makes exactly the runs of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmbench.config import RunSpec, SimSpec
from llmbench.config.problems import describe_problems
from llmbench.config.study_file import (
    ManusTarget,
    OpenAITarget,
    SimTarget,
    StudyFile,
    TasksScenario,
)
from llmbench.errors import ConfigError
from llmbench.study.scenarios import Step, as_service, scenario_steps, supported
from llmbench.workload.dag import load_tasks


@dataclass(frozen=True, slots=True)
class PlannedRun:
    order: int
    target: str
    scenario: str
    step: Step
    repeat: int
    spec: RunSpec
    dir: str
    workload_hash: str


@dataclass(frozen=True, slots=True)
class Plan:
    runs: list[PlannedRun]
    skipped: list[tuple[str, str, str]]  # (target, scenario, why)


def sim_spec(target: SimTarget, *, agent: bool = False) -> SimSpec:
    """A sim target's simulator (its task face planned by `task_options`); `agent`: the one
    playing the phone agent's model (`reply: agent`)."""
    timing = {"preset": target.preset, "seed": target.seed,
              "preset_overrides": target.preset_overrides}  # fmt: skip
    if agent:  # the same engine, serving the loop
        return SimSpec(**timing, reply="agent")
    return SimSpec(**timing, task_options=target.task_options)


def target_fields(study: StudyFile, name: str, *, agent: bool = False) -> dict[str, Any]:
    """The RunSpec fields that say where a target is (`sim`: started by the study)."""
    target = study.targets[name]
    if isinstance(target, OpenAITarget):
        keep = ("base_url", "model", "endpoint", "api_key_env", "request_timeout_s", "engine")
        return {"target": {k: getattr(target, k) for k in keep}}
    if isinstance(target, ManusTarget):
        return {"target": {"kind": "manus", "base_url": target.base_url,
                           "api_key_env": target.api_key_env}}  # fmt: skip
    assert isinstance(target, SimTarget)
    return {"sim": sim_spec(target, agent=agent).model_dump(mode="json")}


def service_step(study: StudyFile, name: str, step: Step) -> Step:
    """An agent-loop step as an agent service runs it: the loop's tasks (count, concurrency,
    warm-up) become Manus tasks, one per workload prompt, followed by polling; the service
    plans and acts itself (docs/studies.md, "Agent scenarios")."""
    target = study.targets[name]
    assert isinstance(target, SimTarget | ManusTarget)
    loop = step.extra["agent_loop"]
    load = {"kind": "closed", "concurrency": loop["concurrency"], "requests": loop["tasks"],
            "warmup": loop["warmup_tasks"]}  # fmt: skip
    follow: dict[str, Any] = {"poll_interval_ms": target.poll_interval_ms}
    if isinstance(target, ManusTarget):
        follow["task_timeout_s"] = target.task_timeout_s
    return Step(step.label, step.value, load, step.workload, {"task_api": follow})


def workload_hash(spec: RunSpec) -> str:
    """What the target is sent and when: equal for every target of one block."""
    dumped = spec.model_dump(mode="json", exclude={"name", "target", "sim", "monitor"})
    return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]


def run_spec(
    study: StudyFile, target: str, step: Step, prompt_set: int, where: str, service: bool = False
) -> RunSpec:
    if service:
        step = service_step(study, target, step)
    workload = {**study.workload.model_dump(mode="json"), **step.workload}
    workload["prompt_set"] = study.workload.prompt_set + prompt_set
    data = {
        "name": target,
        "workload": workload,
        "load": step.load,
        "monitor": study.monitor.model_dump(mode="json"),
        "tokenizer": study.tokenizer,
        "seed": study.seed,
        **step.extra,
        **target_fields(study, target, agent="agent_loop" in step.extra),
    }
    if service and isinstance(study.targets[target], SimTarget):
        data["target"] = {"kind": "manus"}  # the embedded simulator's task face
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        error = describe_problems(exc, lambda loc: where, RunSpec)
        hint = "change the scenario or the study's workload"
        raise ConfigError(error.message, hint=hint) from None


def check_files(study: StudyFile) -> None:
    """Every task file a scenario names reads and checks (FILE:LINE problems) before any run."""
    for entry in study.scenarios.values():
        if isinstance(entry, TasksScenario):
            load_tasks(Path(entry.file))


def _blocks(study: StudyFile) -> list[tuple[str, Step, int]]:
    blocks: list[tuple[str, Step, int]] = []
    for repeat in range(1, study.repeats + 1):
        for scenario in study.scenarios:
            steps = scenario_steps(study, scenario).steps
            blocks.extend((scenario, step, repeat) for step in steps)
    return blocks


def plan_study(study: StudyFile) -> Plan:
    """Every run of the study in running order, each with its spec and directory name."""
    check_files(study)
    names = list(study.targets)
    skipped = [
        (t, s, why)
        for s in study.scenarios
        for t in names
        if (why := supported(study, t, s)) is not None
    ]
    unsupported = {(t, s) for t, s, _ in skipped}
    pending: list[tuple[str, str, Step, int, RunSpec]] = []
    for index, (scenario, step, repeat) in enumerate(_blocks(study)):
        targets = [t for t in names if (t, scenario) not in unsupported]
        shift = index % len(targets) if targets else 0
        for target in targets[shift:] + targets[:shift]:  # no target always goes first
            where = f"scenarios.{scenario} step {step.label}"
            service = as_service(study, target, scenario)
            spec = run_spec(study, target, step, index, where, service)
            pending.append((target, scenario, step, repeat, spec))
    if study.order == "random":
        random.Random(study.seed).shuffle(pending)
    runs = []
    for order, (target, scenario, step, repeat, spec) in enumerate(pending, start=1):
        suffix = f"-r{repeat}" if study.repeats > 1 else ""
        directory = f"{order:03d}-{target}-{scenario}-{step.label}{suffix}"
        runs.append(
            PlannedRun(order, target, scenario, step, repeat, spec, directory, workload_hash(spec))
        )
    return Plan(runs, skipped)
