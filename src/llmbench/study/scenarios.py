"""Scenario kinds of a comparison study: each maps its settings to steps, and each step to the
load and workload of one run. A new kind (sessions, agent-loop, tasks) is one planner function
registered in `PLANNERS` with the capability its targets must offer in `NEEDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmbench.config.study_file import (
    AgentLoopScenario,
    BaselineScenario,
    ConcurrencyScenario,
    InputLengthScenario,
    ManusTarget,
    OpenAITarget,
    RateScenario,
    SessionsScenario,
    SimTarget,
    StudyFile,
    TasksScenario,
)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario: its label, the value it varies, and the RunSpec fields it sets
    (`load`, `workload` overrides merged onto the study's workload, and `extra` top-level
    fields: an agent workload's `agent_loop` or `tasks`)."""

    label: str
    value: float | None
    load: dict[str, Any]
    workload: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Steps:
    over: str | None  # what the steps vary: concurrency | input_tokens | rate | ...; None: one
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


def _sessions(scenario: Any) -> Steps:
    """`continued` reuses each session's history (turn 0 cold, a word unique to the session
    opening it); `new` sends every turn as a new conversation of the same length (a word unique
    to the turn): the same turns and prompt lengths, with and without reuse."""
    s: SessionsScenario = scenario
    load = _closed(s.concurrency, s.sessions * s.turns, s.warmup * s.turns)
    session = {
        "sessions": s.sessions, "turns": s.turns, "system_tokens": s.system_tokens,
        "think_time_s": s.think_time_s, "prefix_tokens": 0, "input_mix": None,
        "input_tokens_stddev": 0.0,
    }  # fmt: skip
    return Steps(
        "session",
        [
            Step("continued", None, load, {**session, "cache_bust": "session"}),
            Step("new", None, load, {**session, "cache_bust": "turn"}),
        ],
    )


def _agent_loop(scenario: Any) -> Steps:
    s: AgentLoopScenario = scenario
    loop = s.model_dump(mode="json", exclude={"kind", "file"})  # the file is read already
    # The loop paces itself; the load says its tasks and concurrency, for the record (and for
    # an agent service, which runs them as a closed loop of tasks: study/plan.py).
    load = _closed(s.concurrency, s.tasks, s.warmup_tasks)
    return Steps(None, [Step("run", None, load, {}, {"agent_loop": loop})])


def _tasks(scenario: Any) -> Steps:
    s: TasksScenario = scenario
    both = {"file": s.file, "repeat": s.repeat}
    sequential = {**both, "mode": "sequential", "concurrency": 1}
    concurrent = {**both, "mode": "concurrent", "concurrency": s.concurrency}
    # The task file paces itself: the load says the step limit and the instances, for the record.
    return Steps(
        "mode",
        [
            Step("sequential", 1.0, _closed(1, s.repeat, 0), {}, {"tasks": sequential}),
            Step(
                "concurrent",
                float(s.concurrency),
                _closed(s.concurrency, s.repeat, 0),
                {},
                {"tasks": concurrent},
            ),
        ],
    )


# kind → its steps. Each kind's model is in config/study_file.py (the `Scenario` union).
PLANNERS: dict[str, Callable[[Any], Steps]] = {
    "baseline": _baseline,
    "concurrency": _concurrency,
    "input-length": _input_length,
    "rate": _rate,
    "sessions": _sessions,
    "agent-loop": _agent_loop,
    "tasks": _tasks,
}
TOKENS, CHAT = frozenset({"tokens"}), frozenset({"tokens", "chat"})
LOOP, SERVICE = frozenset({"tokens", "chat", "agent"}), frozenset({"task-api"})
# kind → what a target must offer to run it, alternatives in order of preference ("tokens": a
# streamed token API; "chat": a chat endpoint, which message histories and screenshots need;
# "agent": replies that end in an action, which a model endpoint may give and a simulator gives
# with `reply: agent`; "task-api": an agent service, which runs the agent loop's tasks itself).
NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    "baseline": (TOKENS,),
    "concurrency": (TOKENS,),
    "input-length": (TOKENS,),
    "rate": (TOKENS,),
    "sessions": (CHAT,),
    "agent-loop": (LOOP, SERVICE),
    "tasks": (TOKENS,),
}


def _endpoint_offers(target: OpenAITarget) -> frozenset[str]:
    return frozenset({"tokens", "agent"} | ({"chat"} if target.endpoint == "chat" else set()))


def _sim_offers(target: SimTarget) -> frozenset[str]:
    """A simulator streams tokens and chats; it meets the agent loop as the phone agent's model
    (a second simulator with `reply: agent`) or as an agent service (its task face)."""
    return CHAT | ({"agent"} if target.agent == "loop" else {"task-api"})


# target kind → what a target of that kind offers.
OFFERS: dict[type[Any], Callable[[Any], frozenset[str]]] = {
    OpenAITarget: _endpoint_offers,
    SimTarget: _sim_offers,
    ManusTarget: lambda _: SERVICE,
}
WHAT = {
    "tokens": "a streamed token API",
    "chat": "the chat endpoint",
    "agent": "agent replies",
    "task-api": "an agent task API",
}


def _offers(study: StudyFile, target: str) -> frozenset[str]:
    entry = study.targets[target]
    return OFFERS[type(entry)](entry) if type(entry) in OFFERS else frozenset()


def supported(study: StudyFile, target: str, scenario: str) -> str | None:
    """None when `target` can run `scenario`; else why not."""
    kind = study.scenarios[scenario].kind
    offers = _offers(study, target)
    if any(need <= offers for need in NEEDS[kind]):
        return None
    missing = [" and ".join(WHAT[m] for m in sorted(need - offers)) for need in NEEDS[kind]]
    return f"{scenario} ({kind}) needs {' or '.join(missing)}"


def as_service(study: StudyFile, target: str, scenario: str) -> bool:
    """Whether `target` runs this agent-loop scenario as an agent service (its task API)."""
    alternatives = NEEDS[study.scenarios[scenario].kind]
    offers = _offers(study, target)
    return len(alternatives) > 1 and not alternatives[0] <= offers and offers >= SERVICE


def plays_agent(study: StudyFile, target: SimTarget) -> bool:
    """Whether a sim target needs its second simulator playing the phone agent's model."""
    loops = any(NEEDS[s.kind][0] == LOOP for s in study.scenarios.values())
    return loops and target.agent == "loop"


def scenario_steps(study: StudyFile, scenario: str) -> Steps:
    entry = study.scenarios[scenario]
    return PLANNERS[entry.kind](entry)
