"""The targets of a comparison study, started for its whole length: `sim` targets are embedded
simulators (one process each, its twin state kept from run to run, as a real server's would be),
`openai` targets are endpoints with their key read from the variable the spec names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from llmbench.config import RunSpec
from llmbench.config.study_file import ManusTarget, OpenAITarget, SimTarget, StudyFile
from llmbench.errors import ConfigError
from llmbench.redaction import public_url
from llmbench.run.execute import Target
from llmbench.run.target import EmbeddedSim
from llmbench.store.study_schema import ComparisonTarget
from llmbench.study.plan import sim_spec
from llmbench.study.scenarios import plays_agent


@dataclass(frozen=True, slots=True)
class StartedTarget:
    target: Target
    api_key: str | None
    info: ComparisonTarget
    agent: Target | None = None  # a sim target's simulator playing the agent (`reply: agent`)

    def for_spec(self, spec: RunSpec) -> Target:
        """Where a run goes: an agent loop to the simulator playing the agent, if any."""
        return self.agent if spec.agent_loop is not None and self.agent else self.target


def api_key_of(
    name: str, target: OpenAITarget | ManusTarget, environ: Mapping[str, str]
) -> str | None:
    """The key from the named variable; the default variable may be absent (local servers)."""
    key = environ.get(target.api_key_env) or None
    if key is None and "api_key_env" in target.model_fields_set:
        raise ConfigError(
            f"targets.{name}.api_key_env: environment variable {target.api_key_env} is not set "
            "or empty",
            hint=f"export {target.api_key_env}=... or drop api_key_env",
        )
    return key


def check_keys(study: StudyFile, environ: Mapping[str, str]) -> None:
    """Every named key variable is set: fails before any target starts."""
    for name, target in study.targets.items():
        if isinstance(target, OpenAITarget | ManusTarget):
            api_key_of(name, target, environ)


@contextlib.contextmanager
def started_targets(
    study: StudyFile, environ: Mapping[str, str]
) -> Iterator[dict[str, StartedTarget]]:
    """Every target of the study, ready; the simulators stop when the block ends."""
    check_keys(study, environ)
    with contextlib.ExitStack() as stack:
        started: dict[str, StartedTarget] = {}
        for name, target in study.targets.items():
            if isinstance(target, SimTarget):
                words = sim_spec(target)
                sim = stack.enter_context(EmbeddedSim(words))
                agent = None
                if plays_agent(study, target):  # one more process, for the whole study too
                    plays = sim_spec(target, agent=True)
                    agent_sim = stack.enter_context(EmbeddedSim(plays))
                    agent = Target(agent_sim.base_url, embedded_sim=plays, pid=agent_sim.pid)
                info = ComparisonTarget(
                    name=name, kind="sim", base_url=sim.base_url, model=words.model,
                    preset=target.preset,
                )  # fmt: skip
                started[name] = StartedTarget(
                    Target(sim.base_url, embedded_sim=words, pid=sim.pid), None, info, agent
                )
            else:
                info = ComparisonTarget(
                    name=name, kind=target.kind, base_url=public_url(target.base_url),
                    model=getattr(target, "model", None), preset=None,
                )  # fmt: skip
                key = api_key_of(name, target, environ)
                started[name] = StartedTarget(Target(target.base_url), key, info)
        yield started
