"""Scenario kinds of a comparison study: each maps its settings to steps, and each step to the
load and workload of one run. A new kind (sessions, agent-loop, tasks) is one planner function
registered in `PLANNERS` with the capability its targets must offer in `NEEDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmbench.config.study_file import (
    BaselineScenario,
    ConcurrencyScenario,
    InputLengthScenario,
    OpenAITarget,
    RateScenario,
    SimTarget,
    StudyFile,
)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario: its label, the value it varies, and the RunSpec fields it sets
    (`load`, and `workload` overrides merged onto the study's workload)."""

    label: str
    value: float | None
    load: dict[str, Any]
    workload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Steps:
    over: str | None  # what the steps vary: concurrency | input_tokens | rate; None: one step
    steps: list[Step]


def _closed(concurrency: int, requests: int, warmup: int) -> dict[str, Any]:
    return {"kind": "closed", "concurrency": concurrency, "requests": requests, "warmup": warmup}


def _baseline(scenario: Any) -> Steps:
    s: BaselineScenario = scenario
    return Steps(None, [Step("rounds", None, _closed(1, s.requests, s.warmup), {})])


def _concurrency(scenario: Any) -> Steps:
    s: ConcurrencyScenario = scenario
    steps = []
    for level in s.levels:
        requests = max(s.requests, (s.per_stream or 0) * level)
        warmup = s.warmup * level  # one warm-up round per stream
        steps.append(Step(f"c{level}", float(level), _closed(level, requests, warmup), {}))
    return Steps("concurrency", steps)


def _input_length(scenario: Any) -> Steps:
    s: InputLengthScenario = scenario
    steps = [
        Step(
            f"in{n}",
            float(n),
            _closed(s.concurrency, s.requests, s.warmup),
            {"input_tokens": n, "input_tokens_stddev": 0.0, "input_mix": None},
        )
        for n in s.lengths
    ]
    return Steps("input_tokens", steps)


def _rate(scenario: Any) -> Steps:
    s: RateScenario = scenario
    steps = []
    for rate in s.rates:
        load = {
            "kind": "open", "arrival": s.arrival, "rate": rate, "requests": s.requests,
            "warmup": s.warmup, "max_concurrency": s.max_concurrency,
        }  # fmt: skip
        steps.append(Step(f"rate-{rate:g}", rate, load, {}))
    return Steps("rate", steps)


# kind → its steps. Each kind's model is in config/study_file.py (the `Scenario` union).
PLANNERS: dict[str, Callable[[Any], Steps]] = {
    "baseline": _baseline,
    "concurrency": _concurrency,
    "input-length": _input_length,
    "rate": _rate,
}
# kind → what a target must offer to run it ("tokens": a streamed token API).
NEEDS: dict[str, str] = {
    "baseline": "tokens",
    "concurrency": "tokens",
    "input-length": "tokens",
    "rate": "tokens",
}
# target kind → what it offers.
OFFERS: dict[type[Any], frozenset[str]] = {
    OpenAITarget: frozenset({"tokens"}),
    SimTarget: frozenset({"tokens"}),
}


def supported(study: StudyFile, target: str, scenario: str) -> str | None:
    """None when `target` can run `scenario`; else why not."""
    kind = study.scenarios[scenario].kind
    offers = OFFERS.get(type(study.targets[target]), frozenset())
    need = NEEDS[kind]
    return None if need in offers else f"{scenario} ({kind}) needs a {need} API"


def scenario_steps(study: StudyFile, scenario: str) -> Steps:
    entry = study.scenarios[scenario]
    return PLANNERS[entry.kind](entry)
